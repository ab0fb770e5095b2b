"""Regroup src/timeseal into rooms (issue 19, point 1): move modules, rewrite every reference.

Run once from a checkout's root: ``python3 scripts/regroup.py [--dry-run]``, then
``ruff check --fix``, ``ruff format``, reflow the few docstrings that grow past 100 columns, and
extend tests/unit/test_layers.py and the README's layout. Moves whose source is gone are skipped,
so it is safe to rerun on the old layout; ``--rewrite-only FILE…`` rewrites references in files
added after the move (only files that still use the old names throughout: an old module name
that is a prefix of its new one, such as ``timeseal.server.log``, would be rewritten twice).
Delete this script once the regroup has landed.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

# old dotted module -> new dotted module
MOVES: dict[str, str] = {
    # server: tsa
    "timeseal.server.tsa": "timeseal.server.tsa.service",
    "timeseal.server.tsa_http": "timeseal.server.tsa.fast_path",
    "timeseal.server.clock": "timeseal.server.tsa.clock",
    # server: journal
    "timeseal.server.journal_client": "timeseal.server.journal.client",
    "timeseal.server.journal_process": "timeseal.server.journal.process",
    "timeseal.server.journal_wire": "timeseal.server.journal.wire",
    # server: log
    "timeseal.server.log": "timeseal.server.log.sequencer",
    "timeseal.server.sequencer_process": "timeseal.server.log.sequencer_process",
    "timeseal.server.witness_client": "timeseal.server.log.witness_client",
    # server: evidence
    "timeseal.server.vault": "timeseal.server.evidence.vault",
    "timeseal.server.recordings": "timeseal.server.evidence.recordings",
    "timeseal.server.recording_files": "timeseal.server.evidence.recording_files",
    "timeseal.server.packages": "timeseal.server.evidence.packages",
    "timeseal.server.api.share_service": "timeseal.server.evidence.shares",
    # server: certificate
    "timeseal.server.certificate": "timeseal.server.certificate.render",
    "timeseal.server.certificate_issue": "timeseal.server.certificate.issue",
    "timeseal.server.certificate_media": "timeseal.server.certificate.media",
    "timeseal.server.certificate_sign": "timeseal.server.certificate.sign",
    # server: accounts
    "timeseal.server.sms": "timeseal.server.accounts.sms",
    "timeseal.server.api.service": "timeseal.server.accounts.service",
    # server: runtime
    "timeseal.server.workers": "timeseal.server.runtime.workers",
    "timeseal.server.housekeeping": "timeseal.server.runtime.housekeeping",
    "timeseal.server.datadir": "timeseal.server.runtime.datadir",
    "timeseal.server.runtime": "timeseal.server.runtime.http",
    "timeseal.server.disk": "timeseal.server.runtime.disk",
    "timeseal.server.permissions": "timeseal.server.runtime.permissions",
    "timeseal.server.database": "timeseal.server.runtime.database",
    "timeseal.server.log_guard": "timeseal.server.log.guard",
    "timeseal.server.withhold": "timeseal.server.evidence.withhold",
    "timeseal.server.api_docs": "timeseal.server.api.docs",
    # witness: a package of its own (server and store)
    "timeseal.server.witness": "timeseal.witness.server",
    "timeseal.store.witness": "timeseal.witness.store",
    # core
    "timeseal.server.phone": "timeseal.core.phone",
    # capture: environment
    "timeseal.capture.env_clock": "timeseal.capture.environment.clock",
    "timeseal.capture.env_host": "timeseal.capture.environment.host",
    "timeseal.capture.env_install": "timeseal.capture.environment.install",
    "timeseal.capture.env_network": "timeseal.capture.environment.network",
    "timeseal.capture.env_report": "timeseal.capture.environment.report",
    "timeseal.capture.env_tls": "timeseal.capture.environment.tls",
    "timeseal.capture.environment": "timeseal.capture.environment.check",
    "timeseal.capture.target": "timeseal.capture.environment.target",
    "timeseal.capture.known_targets": "timeseal.capture.environment.known_targets",
    "timeseal.capture.app_identity": "timeseal.capture.environment.app_identity",
    # capture: recording
    "timeseal.capture.recorder": "timeseal.capture.recording.recorder",
    "timeseal.capture.ffmpeg_cmd": "timeseal.capture.recording.ffmpeg",
    "timeseal.capture.chain_journal": "timeseal.capture.recording.chain_journal",
    "timeseal.capture.head_sealer": "timeseal.capture.recording.head_sealer",
    "timeseal.capture.live_upload": "timeseal.capture.recording.live_upload",
    "timeseal.capture.recording_state": "timeseal.capture.recording.state",
    "timeseal.capture.segment_list": "timeseal.capture.recording.segment_list",
    "timeseal.capture.mp4_boxes": "timeseal.capture.recording.mp4_boxes",
    "timeseal.capture.photo": "timeseal.capture.recording.photo",
    "timeseal.capture.capture_meta": "timeseal.capture.recording.capture_json",
    # capture: clients
    "timeseal.capture.tsa_client": "timeseal.capture.clients.tsa",
    "timeseal.capture.recording_api": "timeseal.capture.clients.recordings",
    "timeseal.capture.log_client": "timeseal.capture.clients.log",
    # capture: offline
    "timeseal.capture.offline_queue": "timeseal.capture.offline.queue",
    "timeseal.capture.upload_meta": "timeseal.capture.offline.upload_meta",
    "timeseal.capture.file_seal": "timeseal.capture.offline.file_seal",
    "timeseal.capture.capture_items": "timeseal.capture.offline.items",
    # cli: capture and verify
    "timeseal.cli.capture_cmd": "timeseal.cli.capture.commands",
    "timeseal.cli.capture_av": "timeseal.cli.capture.av",
    "timeseal.cli.capture_case": "timeseal.cli.capture.case",
    "timeseal.cli.capture_env": "timeseal.cli.capture.environment",
    "timeseal.cli.capture_file": "timeseal.cli.capture.file",
    "timeseal.cli.capture_upload": "timeseal.cli.capture.upload",
    "timeseal.cli.capture_web": "timeseal.cli.capture.web",
    "timeseal.cli.capture_verify": "timeseal.cli.verify.web_capture",
    "timeseal.cli.recording_verify": "timeseal.cli.verify.recording",
    "timeseal.cli.report": "timeseal.cli.verify.report",
}

# New packages and what each holds (their __init__ docstrings).
PACKAGES: dict[str, str] = {
    "timeseal.server.tsa": "The Time-Stamp Authority: RFC 3161 issuance, its HTTP fast path, and the clock guard.",
    "timeseal.server.journal": "The issuance journal shared by the HTTP workers: its process, client and wire format.",
    "timeseal.server.log": "The public log's server side: the sequencer, its process, and asking witnesses to cosign.",
    "timeseal.server.evidence": "Evidence without HTTP: sealing uploads, live recordings, packages and share rules.",
    "timeseal.server.certificate": "The certificate PDF (认证证书): its layout, media, signature, and issuing it once.",
    "timeseal.server.accounts": "Accounts without HTTP: login codes, sessions and API tokens, and SMS delivery.",
    "timeseal.server.runtime": "Running the platform: the data directory, worker processes and their supervisor, housekeeping.",
    "timeseal.witness": "A C2SP tlog-witness anyone can run beside a log: its HTTP server and its own state.",
    "timeseal.capture.environment": "The environment check (环境检查) and target verification (应用验真) before a capture.",
    "timeseal.capture.recording": "Screen and camera recording with live sealing, photos, and their capture.json.",
    "timeseal.capture.clients": "HTTP clients of a TimeSeal server: the TSA, the live recording API, and the log.",
    "timeseal.capture.offline": "Sealing existing files, the offline queue, and what a capture uploads to the vault.",
    "timeseal.cli.capture": "``timeseal capture …``: one module per kind of capture.",
    "timeseal.cli.verify": "``timeseal verify``: capture directories, recordings, and the bilingual report.",
}

TEXT_SUFFIXES = {".py", ".md", ".toml", ".cfg", ".ini", ".txt", ".sh", ".html", ".js", ".mako", ".yaml", ".yml"}
TEXT_NAMES = {"Makefile", "run"}


def module_path(dotted: str) -> Path:
    return Path("src", *dotted.split(".")).with_suffix(".py")


def package_init(dotted: str) -> Path:
    return Path("src", *dotted.split("."), "__init__.py")


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], capture_output=True, text=True, check=True).stdout
    return [Path(p) for p in out.splitlines() if Path(p).exists()]


def rewrite_from_imports(text: str, moves: dict[str, str]) -> str:
    """``from timeseal.server import datadir`` -> ``from timeseal.server.runtime import datadir``
    (``as`` keeps the old local name when the module's name changed)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return text
    lines = text.splitlines(keepends=True)
    edits: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
            continue
        moved = [a for a in node.names if f"{node.module}.{a.name}" in moves]
        if not moved:
            continue
        indent = re.match(r"\s*", lines[node.lineno - 1]).group(0)
        kept = [a for a in node.names if a not in moved]
        new_lines: list[str] = []
        if kept:
            names = ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in kept)
            new_lines.append(f"{indent}from {node.module} import {names}\n")
        for a in moved:
            new = moves[f"{node.module}.{a.name}"]
            parent, _, leaf = new.rpartition(".")
            local = a.asname or a.name
            alias = f" as {local}" if local != leaf else ""
            new_lines.append(f"{indent}from {parent} import {leaf}{alias}\n")
        assert node.end_lineno is not None
        edits.append((node.lineno - 1, node.end_lineno, "".join(new_lines)))
    for start, end, replacement in sorted(edits, reverse=True):
        lines[start:end] = [replacement]
    return "".join(lines)


def dotted_pattern(moves: dict[str, str]) -> re.Pattern[str]:
    olds = sorted(moves, key=len, reverse=True)
    return re.compile(r"(?<![\w.])(" + "|".join(re.escape(o) for o in olds) + r")(?![\w])")


def path_pattern(moves: dict[str, str]) -> tuple[re.Pattern[str], dict[str, str]]:
    """``src/timeseal/server/tsa.py``, ``server/tsa.py``, ``timeseal/server/tsa.py``."""
    paths: dict[str, str] = {}
    for old, new in moves.items():
        o = "/".join(old.split(".")[1:]) + ".py"  # server/tsa.py
        n = "/".join(new.split(".")[1:]) + ".py"
        paths[o] = n
    olds = sorted(paths, key=len, reverse=True)
    return re.compile(r"(?<![\w])(" + "|".join(re.escape(o) for o in olds) + r")"), paths


def main() -> None:
    dry = "--dry-run" in sys.argv
    if "--rewrite-only" in sys.argv:  # references added after the move (a merge)
        moves = dict(MOVES)
        dotted = dotted_pattern(moves)
        paths_re, paths = path_pattern(moves)
        for path in map(Path, sys.argv[sys.argv.index("--rewrite-only") + 1 :]):
            text = path.read_text()
            new = dotted.sub(lambda m: moves[m.group(1)], text)
            if path.suffix == ".py":
                new = rewrite_from_imports(new, moves)
            new = paths_re.sub(lambda m: paths[m.group(1)], new)
            if new != text:
                print("rewrote", path)
                path.write_text(new)
        return
    moves = {o: n for o, n in MOVES.items() if module_path(o).exists()}
    missing = sorted(set(MOVES) - set(moves))
    if missing:
        print("skipped (source gone):", *missing, sep="\n  ")
    # 1. new packages
    for pkg, doc in PACKAGES.items():
        init = package_init(pkg)
        if not init.exists():
            print("create", init)
            if not dry:
                init.parent.mkdir(parents=True, exist_ok=True)
    # 2. git mv (a module whose new home is a package of the same name goes aside first)
    staged: list[tuple[Path, Path]] = []
    for old, new in moves.items():
        src, dst = module_path(old), module_path(new)
        print("move", src, "->", dst)
        if dry:
            continue
        aside = src.with_suffix(".py.moving")
        subprocess.run(["git", "mv", str(src), str(aside)], check=True)
        staged.append((aside, dst))
    for aside, dst in staged:
        dst.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "mv", str(aside), str(dst)], check=True)
    if not dry:
        for pkg, doc in PACKAGES.items():
            init = package_init(pkg)
            if not init.exists():
                init.write_text(f'"""{doc}"""\n')
                subprocess.run(["git", "add", str(init)], check=True)
    # 3. references everywhere
    dotted = dotted_pattern(moves)
    paths_re, paths = path_pattern(moves)
    changed = 0
    for path in tracked_files():
        if path.suffix not in TEXT_SUFFIXES and path.name not in TEXT_NAMES:
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        # Dotted names first: the import rewrite then writes new names the pattern must not
        # see again (``from timeseal.server.log import sequencer as log``).
        new = dotted.sub(lambda m: moves[m.group(1)], text)
        if path.suffix == ".py":
            new = rewrite_from_imports(new, moves)
        new = paths_re.sub(lambda m: paths[m.group(1)], new)
        if new != text:
            changed += 1
            if not dry:
                path.write_text(new)
    print(f"{changed} files rewritten")


if __name__ == "__main__":
    main()
