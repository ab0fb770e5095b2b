"""HTTP clients of a TimeSeal server: the TSA, the live recording API, and the log."""

from __future__ import annotations

from collections.abc import Mapping


def error_words(error: Mapping[str, object]) -> str:
    """The words of a ``/api/v1`` error object as the ``timeseal`` command writes them:
    "中文 / English" (``message_zh``, ``message_en``), or its one ``message`` from a server
    that gives only that. ``KeyError`` when it has none."""
    zh, en = error.get("message_zh"), error.get("message_en")
    if isinstance(zh, str) and isinstance(en, str) and zh and en:
        return zh if zh == en else f"{zh} / {en}"
    return str(error["message"])
