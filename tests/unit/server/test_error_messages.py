"""Every error code the server answers with has its message in ``errors.MESSAGES``, the one
table: codes written as string literals where an error is raised or answered, and the codes
that services carry on their exceptions. A code without a message would be a 500 (``ApiError``
refuses it) at the moment the error happens, so this is checked before, by reading the code."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from timeseal.server.api.messages import MESSAGES
from timeseal.server.evidence.recordings import RecordingProblem
from timeseal.server.evidence.vault import SealingFailed
from timeseal.store.login_policy import CodeProblem

SRC = Path(__file__).resolve().parents[3] / "src" / "timeseal"
#: Calls that take an error code: the exceptions (the API's, the services'), the body builder,
#: the middleware's refusal.
CODE_TAKERS = frozenset({"ApiError", "Refusal", "error_body", "_refuse"})
#: Module-level names that hold a code (``runtime.disk.CODE``).
CODE_NAMES = frozenset({"CODE"})


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _literal_codes(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _name(node.func) in CODE_TAKERS:
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    yield arg.value
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            names = {_name(target) for target in node.targets}
            if names & CODE_NAMES and isinstance(node.value.value, str):
                yield node.value.value


def raised_codes() -> dict[str, str]:
    """code -> the first module (relative to src/timeseal) that raises or answers it."""
    found: dict[str, str] = {}
    for path in sorted(SRC.rglob("*.py")):
        for code in _literal_codes(ast.parse(path.read_text(), str(path))):
            found.setdefault(code, str(path.relative_to(SRC)))
    return found


def _subclasses(cls: type[RecordingProblem]) -> Iterator[type[RecordingProblem]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_the_scan_finds_codes_from_every_corner() -> None:
    codes = raised_codes()
    # one from each way a code is written: an API route, a service, the middleware, runtime
    assert {"upload_busy", "share_code_required", "json_too_deep", "storage_full"} <= set(codes)


def test_every_literal_code_has_a_message() -> None:
    missing = {code: where for code, where in raised_codes().items() if code not in MESSAGES}
    assert missing == {}


def test_every_service_code_has_a_message() -> None:
    recording = {sub.code for sub in _subclasses(RecordingProblem)}
    # NO_LIVE_CODE is answered as WRONG (code_invalid): a stranger learns nothing
    login = {p.value for p in CodeProblem if p is not CodeProblem.NO_LIVE_CODE}
    sealing = {SealingFailed("x").code, SealingFailed("x", clock_untrusted=True).code}
    assert sealing == {"sealing_failed", "clock_untrusted"}
    assert (recording | login | sealing) - MESSAGES.keys() == set()


def test_every_message_fills_in() -> None:
    for code, messages in MESSAGES.items():
        for text in messages:
            assert text.format(wait="1", fields="f", status=400, next_index=0), code
