"""The page-side recorder of interactive mode: an init script (``recorder.js``) on every page
and frame, reporting clicks, typing by kind and scrolls through ``expose_binding``.

Why a page script: Playwright sees navigations, but a person's clicks and keystrokes happen
in the browser and are invisible to it. The script runs before the page's own scripts (init
script) so a page cannot hide from it by stopping propagation in the bubbling phase (it
listens in the capture phase). Whatever it sends is re-checked here: a hostile page can call
the binding too, so only known kinds and JSON-safe, bounded values are logged, with the frame
URL the call came from.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from playwright.sync_api import BrowserContext

from timeseal.capture.web.oplog import OperationLog
from timeseal.core.package.canonical import JSONValue

BINDING = "__timesealRecord"
_ALLOWED: dict[str, dict[str, type]] = {
    "click": {"selector": str, "text": str, "x": int, "y": int},
    "type": {
        "selector": str,
        "secret": bool,
        "characters": int,
        "digits": int,
        "letters": int,
        "spaces": int,
        "other": int,
        "special": dict,
    },
    "scroll": {"y": int, "max": int},
}
_MAX_TEXT = 200


def recorder_script() -> str:
    return resources.files(__package__).joinpath("recorder.js").read_text(encoding="utf-8")


def clean_entry(payload: object) -> tuple[str, dict[str, JSONValue]] | None:
    """(kind, fields) if ``payload`` is something the recorder sends, else ``None``."""
    if not isinstance(payload, dict):
        return None
    kind = payload.get("kind")
    if not isinstance(kind, str) or kind not in _ALLOWED:
        return None
    fields: dict[str, JSONValue] = {}
    for name, kind_type in _ALLOWED[kind].items():
        value = payload.get(name)
        if kind_type is int:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, int) or isinstance(value, bool):
                return None
            fields[name] = max(-(2**31), min(2**31, value))
        elif kind_type is bool:
            fields[name] = bool(value)
        elif kind_type is str:
            fields[name] = str(value or "")[:_MAX_TEXT]
        elif isinstance(value, dict):
            counts: dict[str, JSONValue] = {}
            for key, count in list(value.items())[:50]:
                if isinstance(count, int | float) and not isinstance(count, bool):
                    counts[str(key)[:40]] = int(count)
            fields[name] = counts
    return kind, fields


def install_recorder(context: BrowserContext, oplog: OperationLog) -> None:
    def record(source: dict[str, Any], payload: object) -> None:
        cleaned = clean_entry(payload)
        if cleaned is None:
            return
        kind, fields = cleaned
        frame = source.get("frame")
        url = getattr(frame, "url", None)
        oplog.record(kind, {**fields, "source": "person", "frame_url": str(url or "")})

    context.expose_binding(BINDING, record)
    context.add_init_script(script=recorder_script())
