"""The output directory of a capture: new or empty, checked before anything starts.

A capture never replaces another one's files (a photo, its token, its metadata): every
``timeseal capture`` command calls :func:`refuse_used_output` first, before the environment
check, before a camera, a screen grabber or a browser starts, and before it says "recording".
"""

from __future__ import annotations

from pathlib import Path

from timeseal.cli.exits import fail


def refuse_used_output(directory: Path, option: str = "--output") -> None:
    """Exit 2 with a bilingual message when ``directory`` is a file or a directory that
    already holds something; nothing has been started or written then."""
    if directory.exists() and not directory.is_dir():
        raise fail(
            f"{option} {directory}: 不是目录 is not a directory (a capture never overwrites "
            "another; choose a new directory)",
            2,
        )
    if directory.is_dir() and any(directory.iterdir()):
        raise fail(
            f"{option} {directory}: 输出目录不为空，取证不会覆盖已有证据，请换一个新目录 / "
            "the output directory is not empty; a capture never overwrites earlier evidence: "
            "choose a new directory",
            2,
        )


def refuse_existing_token(path: Path, token: Path) -> None:
    """Exit 2 when ``token`` (``FILE.tsr``) exists: an earlier token proves an earlier date and
    sealing the file again must not replace it."""
    if token.exists():
        raise fail(
            f"{token} 已存在：它证明 {path.name} 更早的存在时间，不会被覆盖（再次盖章请用 "
            f"`timeseal stamp`，它写入 {path.name}.2.tsr） / {token} exists: it proves an "
            f"earlier date for {path.name} and is never replaced (to stamp again, "
            f"`timeseal stamp` writes {path.name}.2.tsr)",
            2,
        )
