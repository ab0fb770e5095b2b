"""The steps file of a scripted capture (``--steps steps.yaml``), checked before any browser
starts: a mistake on step 7 should not cost the person a half-made capture.

The file is a YAML list; each item is a mapping with exactly one key, the step's kind::

    - goto: https://shop.example/item/1
    - click: "#accept-privacy"
    - type: {selector: "#phone", text: "13812345678"}          # logged as "11 digits"
    - type: {selector: "#qty", text: "2", safe: true}           # safe: the text is logged too
    - scroll: {to: bottom}                                      # or {px: 800}
    - wait: {ms: 500}                                           # or {selector: "#end"}
    - screenshot: 聊天记录                                       # any script

Errors name the line and the step (:class:`StepsError`). YAML is read with the safe loader's
composer, which keeps the position of every node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import yaml

from timeseal.capture.web.errors import StepsError

#: Letters and digits of any script (a person names a screenshot 聊天记录), ``_`` and ``-``:
#: never a path separator or a dot, so the name stays one file name.
SCREENSHOT_NAME = re.compile(r"^[^\W_][\w-]{0,39}$")
MAX_WAIT_MS = 120_000
MAX_STEPS = 500


@dataclass(frozen=True, slots=True)
class Goto:
    url: str


@dataclass(frozen=True, slots=True)
class Click:
    selector: str


@dataclass(frozen=True, slots=True)
class Type:
    selector: str
    text: str
    safe: bool = False


@dataclass(frozen=True, slots=True)
class Scroll:
    to_bottom: bool
    px: int = 0


@dataclass(frozen=True, slots=True)
class Wait:
    ms: int | None = None
    selector: str | None = None


@dataclass(frozen=True, slots=True)
class Screenshot:
    name: str


Step = Goto | Click | Type | Scroll | Wait | Screenshot


@dataclass(frozen=True, slots=True)
class PlacedStep:
    """A step and the line it came from (1-based), kept for the operation log."""

    step: Step
    line: int


def load_steps(path: Path) -> tuple[PlacedStep, ...]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StepsError(f"无法读取步骤文件 cannot read the steps file {path}: {exc}") from exc
    return parse_steps(text)


def parse_steps(text: str) -> tuple[PlacedStep, ...]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise StepsError(f"不是有效的 YAML not valid YAML: {exc.problem}", line=line) from exc
    except yaml.YAMLError as exc:
        raise StepsError(f"不是有效的 YAML not valid YAML: {exc}") from exc
    if root is None:
        raise StepsError("步骤文件为空 the steps file is empty")
    if not isinstance(root, yaml.SequenceNode):
        raise StepsError(
            "步骤文件应为列表 the steps file must be a list of steps", line=_line(root)
        )
    if not root.value:
        raise StepsError("步骤文件为空 the steps file has no steps", line=_line(root))
    if len(root.value) > MAX_STEPS:
        raise StepsError(f"步骤过多 more than {MAX_STEPS} steps", line=_line(root))
    return tuple(
        PlacedStep(_parse_step(node, index), _line(node))
        for index, node in enumerate(root.value, start=1)
    )


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _parse_step(node: yaml.Node, index: int) -> Step:
    def fail(message: str, at: yaml.Node = node) -> StepsError:
        return StepsError(message, line=_line(at), step=index)

    if not isinstance(node, yaml.MappingNode) or len(node.value) != 1:
        raise fail(
            "每一步应为只有一个键的映射 each step is a mapping with one key: "
            "goto, click, type, scroll, wait or screenshot"
        )
    key_node, value = node.value[0]
    kind = _scalar(key_node)
    if kind == "goto":
        url = _scalar(value)
        if url is None or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise fail("goto 需要 http(s) 地址 goto needs an http(s) URL", value)
        return Goto(url)
    if kind == "click":
        return Click(_selector(_scalar(value), fail, value))
    if kind == "type":
        return _parse_type(value, fail)
    if kind == "scroll":
        return _parse_scroll(value, fail)
    if kind == "wait":
        return _parse_wait(value, fail)
    if kind == "screenshot":
        name = _scalar(value)
        if name is None or not SCREENSHOT_NAME.match(name):
            raise fail(
                "截图名只能含字母（含中文）、数字、_ 和 -，最多 40 个字符 screenshot name: "
                "letters (any script), digits, _ and -, up to 40",
                value,
            )
        return Screenshot(name)
    raise fail(
        f"未知步骤 unknown step {kind!r}: use goto, click, type, scroll, wait or screenshot",
        key_node,
    )


def _parse_type(value: yaml.Node, fail: _Fail) -> Type:
    fields = _mapping(value, {"selector", "text", "safe"}, fail)
    text = fields.get("text")
    if not isinstance(text, str):
        raise fail("type 需要 text 字符串 type needs text: a string", value)
    safe = fields.get("safe", False)
    if not isinstance(safe, bool):
        raise fail("safe 应为 true 或 false safe must be true or false", value)
    return Type(_selector(fields.get("selector"), fail, value), text, safe)


def _parse_scroll(value: yaml.Node, fail: _Fail) -> Scroll:
    fields = _mapping(value, {"to", "px"}, fail)
    if len(fields) != 1:
        raise fail("scroll 需要 to: bottom 或 px scroll needs one of to: bottom, px", value)
    if "to" in fields:
        if fields["to"] != "bottom":
            raise fail("scroll 的 to 只能是 bottom scroll to: must be bottom", value)
        return Scroll(to_bottom=True)
    px = fields["px"]
    if not isinstance(px, int) or isinstance(px, bool) or px < 0:
        raise fail("px 应为非负整数 px must be a non-negative integer", value)
    return Scroll(to_bottom=False, px=px)


def _parse_wait(value: yaml.Node, fail: _Fail) -> Wait:
    fields = _mapping(value, {"ms", "selector"}, fail)
    if len(fields) != 1:
        raise fail("wait 需要 ms 或 selector 之一 wait needs one of ms, selector", value)
    if "ms" in fields:
        ms = fields["ms"]
        if not isinstance(ms, int) or isinstance(ms, bool) or not 0 <= ms <= MAX_WAIT_MS:
            raise fail(f"ms 应为 0..{MAX_WAIT_MS} 的整数 ms must be 0..{MAX_WAIT_MS}", value)
        return Wait(ms=ms)
    return Wait(selector=_selector(fields["selector"], fail, value))


def _scalar(node: yaml.Node) -> str | None:
    if isinstance(node, yaml.ScalarNode) and isinstance(node.value, str) and node.value:
        return node.value
    return None


def _selector(value: object, fail: _Fail, at: yaml.Node) -> str:
    if not isinstance(value, str) or not value.strip():
        # `click: #buy` is `click:` and a YAML comment: the most common way to lose one.
        raise fail(
            '需要选择器（以 # 开头的选择器须加引号，如 "#buy"） a selector (a non-empty '
            'string) is needed; quote one that starts with #, e.g. "#buy": unquoted, YAML '
            "reads the rest of the line as a comment",
            at,
        )
    return value


def _mapping(node: yaml.Node, allowed: set[str], fail: _Fail) -> dict[str, object]:
    """The step's value as plain Python, keys checked against ``allowed``."""
    if not isinstance(node, yaml.MappingNode):
        raise fail(f"应为映射 expected a mapping with {', '.join(sorted(allowed))}", node)
    data = yaml.SafeLoader("").construct_document(node)
    if not isinstance(data, dict):
        raise fail("应为映射 expected a mapping", node)
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise fail(f"未知字段 unknown field(s): {', '.join(unknown)}", node)
    return {str(k): v for k, v in data.items()}


class _Fail(Protocol):
    """The local ``fail`` helper: a :class:`StepsError` placed at a node."""

    def __call__(self, message: str, at: yaml.Node = ...) -> StepsError: ...
