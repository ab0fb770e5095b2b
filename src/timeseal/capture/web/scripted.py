"""Scripted mode: the target URL, then each step of the steps file, a full-page screenshot
after every step (the picture of each moment), every step in the operation log.

A step that fails (a selector that never appears) stops the script but not the capture: what
was recorded up to then is still evidence, so the caller finishes and seals the outputs and
``capture.json`` says the script stopped and why.
"""

from __future__ import annotations

from collections.abc import Sequence

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page

from timeseal.capture.web.errors import WebCaptureError
from timeseal.capture.web.oplog import OperationLog, keystroke_kinds
from timeseal.capture.web.shots import Screenshots
from timeseal.capture.web.steps import (
    Click,
    Goto,
    PlacedStep,
    Screenshot,
    Scroll,
    Step,
    Type,
    Wait,
)
from timeseal.core.package.canonical import JSONValue

STEP_TIMEOUT_MS = 15_000
SETTLE_MS = 250  # after a scroll: lazy content and scroll handlers get to run


def run_script(
    page: Page,
    url: str,
    steps: Sequence[PlacedStep],
    oplog: OperationLog,
    shots: Screenshots,
) -> None:
    """Raises :class:`WebCaptureError` naming the step that failed."""
    page.set_default_timeout(STEP_TIMEOUT_MS)
    placed = [PlacedStep(Goto(url), 0), *steps]
    for index, item in enumerate(placed):
        try:
            _run(page, item.step, index, item.line, oplog)
            name = item.step.name if isinstance(item.step, Screenshot) else _kind(item.step)
            shots.take(page, name, source="script")
        except PlaywrightError as exc:
            where = "目标地址 target URL" if index == 0 else f"第 {index} 步 step {index}"
            line = f" (line {item.line})" if item.line else ""
            selector = getattr(item.step, "selector", None)
            target = f" 选择器 selector {selector!r}" if selector else ""
            message = str(exc).splitlines()[0]
            raise WebCaptureError(f"{where}{line}{target} 失败 failed: {message}") from exc


def _kind(step: Step) -> str:
    return type(step).__name__.lower()


def _run(page: Page, step: Step, index: int, line: int, oplog: OperationLog) -> None:
    where: dict[str, JSONValue] = {"step": index, "line": line, "source": "script"}
    if isinstance(step, Goto):
        response = page.goto(step.url, wait_until="load")
        oplog.record(
            "goto",
            {
                **where,
                "url": step.url,
                "final_url": page.url,
                "status": response.status if response is not None else None,
            },
        )
    elif isinstance(step, Click):
        target = page.locator(step.selector).first
        text = " ".join(target.inner_text().split())[:80]
        target.click()
        page.wait_for_load_state("load")
        oplog.record("click", {**where, "selector": step.selector, "text": text})
    elif isinstance(step, Type):
        field = page.locator(step.selector).first
        # `type` means "enter this": what was in the field is replaced, not appended to.
        field.fill("")
        field.press_sequentially(step.text)
        fields: dict[str, JSONValue] = {**where, "selector": step.selector}
        fields["keystrokes"] = keystroke_kinds(step.text)
        if step.safe:
            fields["text"] = step.text
            fields["value"] = _field_value(field)
        oplog.record("type", fields)
    elif isinstance(step, Scroll):
        if step.to_bottom:
            page.evaluate("() => window.scrollTo(0, document.documentElement.scrollHeight)")
        else:
            page.mouse.wheel(0, step.px)
        page.wait_for_timeout(SETTLE_MS)
        y = int(page.evaluate("() => Math.round(window.scrollY)"))
        target_desc: JSONValue = "bottom" if step.to_bottom else step.px
        oplog.record("scroll", {**where, "to": target_desc, "y": y})
    elif isinstance(step, Wait):
        if step.ms is not None:
            page.wait_for_timeout(step.ms)
            oplog.record("wait", {**where, "ms": step.ms})
        else:
            assert step.selector is not None
            page.wait_for_selector(step.selector, state="visible")
            oplog.record("wait", {**where, "selector": step.selector})
    elif isinstance(step, Screenshot):
        pass  # the caller takes it, named as the step says
    else:  # pragma: no cover - the Step union is closed
        raise AssertionError(f"unknown step {step!r}")


def _field_value(field: Locator) -> JSONValue:
    """What a form field holds after typing; None for an element without a value (a
    contenteditable)."""
    try:
        return field.input_value()
    except PlaywrightError:
        return None
