"""Settings are read in one place per process, never at import time, and all documented.

The environment is read (``os.environ``, ``os.getenv``) only in the modules listed in
:data:`SETTINGS_READERS`, each for the reason given, and only inside functions: a module that
read it at import time would fix a value before a test or a command could choose it. Every
``TIMESEAL_*`` name in the source appears in the README's table.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "timeseal"
README = Path(__file__).resolve().parents[2] / "README.md"

#: The modules that may read the environment, and why.
SETTINGS_READERS = {
    # The server's settings reader (ServerSettings.from_env): every server process's one place.
    "server/app.py": "ServerSettings.from_env, the server's settings reader",
    # The command line's settings: --data-dir/--server defaults, XDG dirs, locale, DISPLAY.
    "cli/settings.py": "the timeseal command's settings reader",
    # The capture code may not import the CLI: TIMESEAL_CHROMIUM and XDG_DATA_HOME.
    "capture/settings.py": "the capture clients' settings reader",
    # A developer command of its own (python -m timeseal.store.migrations): its --url default.
    "store/migrations/__main__.py": "a separate developer command's TIMESEAL_DATABASE_URL",
    # boto3 reads AWS_ENDPOINT_URL* itself; we mirror only whether it will use a custom
    # endpoint, to pick path-style addressing.
    "store/blobs/s3.py": "boto3's own AWS_ENDPOINT_URL variables (addressing style)",
    # The environment check reports the environment (proxies, display) as evidence; it takes
    # a mapping, os.environ by default.
    "capture/environment/network.py": "the environment check inspects proxy variables",
    "capture/environment/known_targets.py": "the environment check inspects the environment",
    # Sets PLAYWRIGHT_BROWSERS_PATH around the Playwright driver's start (its child reads it).
    "capture/web/launch.py": "passes PLAYWRIGHT_BROWSERS_PATH to the Playwright driver",
    # The certificate fonts' cache directory (XDG_CACHE_HOME), also used by tools.
    "server/certificate/media.py": "XDG_CACHE_HOME for the certificate fonts' cache",
}


def _environment_reads(tree: ast.AST) -> list[ast.AST]:
    """``os.environ`` and ``os.getenv`` (and ``environ``/``getenv`` imported from os)."""
    found: list[ast.AST] = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ("environ", "getenv", "environb", "putenv", "unsetenv")
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ) or (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(a.name in ("environ", "getenv", "environb") for a in node.names)
        ):
            found.append(node)
    return found


def _module_level(tree: ast.Module) -> list[ast.AST]:
    """Environment reads that run when the module is imported: outside every function (a
    class body or a default argument value runs at import time too)."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            body = node.body if isinstance(node.body, list) else [node.body]
            for statement in body:
                inside.update(id(n) for n in ast.walk(statement))
    return [n for n in _environment_reads(tree) if id(n) not in inside]


def _modules() -> list[tuple[str, ast.Module]]:
    return [
        (path.relative_to(SRC).as_posix(), ast.parse(path.read_text(encoding="utf-8")))
        for path in sorted(SRC.rglob("*.py"))
    ]


def test_only_the_settings_readers_read_the_environment() -> None:
    offenders = sorted(
        f"{name}:{node.lineno}"  # type: ignore[attr-defined]
        for name, tree in _modules()
        if name not in SETTINGS_READERS
        for node in _environment_reads(tree)
    )
    assert offenders == [], "read the environment in a settings reader and pass values down"


def test_every_listed_reader_still_reads_the_environment() -> None:
    """A stale entry would let a new reader in unnoticed."""
    readers = {name for name, tree in _modules() if _environment_reads(tree)}
    assert sorted(set(SETTINGS_READERS) - readers) == []


def test_nothing_reads_the_environment_at_import_time() -> None:
    offenders = sorted(
        f"{name}:{node.lineno}"  # type: ignore[attr-defined]
        for name, tree in _modules()
        for node in _module_level(tree)
    )
    assert offenders == []


def test_every_timeseal_variable_is_in_the_readme() -> None:
    names = {
        match
        for path in SRC.rglob("*.py")
        for match in re.findall(r"\bTIMESEAL_[A-Z0-9_]+\b", path.read_text(encoding="utf-8"))
    }
    assert names, "the pattern found no variable at all"
    readme = README.read_text(encoding="utf-8")
    table_rows = {m for m in re.findall(r"^\| `(TIMESEAL_[A-Z0-9_]+)` \|", readme, re.M)}
    assert sorted(names - table_rows) == []


def test_the_server_settings_reader_reads_every_server_variable(tmp_path: Path) -> None:
    from timeseal.server.app import ServerSettings
    from timeseal.server.tsa.clock import LocalSource

    settings = ServerSettings.from_env(
        {
            "TIMESEAL_DATA_DIR": str(tmp_path / "data"),
            "TIMESEAL_DATABASE_URL": "postgresql+psycopg://db/timeseal",
            "TIMESEAL_BLOB_URL": "s3://bucket/prefix",
            "TIMESEAL_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
            "TIMESEAL_PUBLIC_URL": "https://evidence.example.org/",
            "TIMESEAL_CLOCK_SOURCE": "local",
            "TIMESEAL_VERIFY_MAX_CONCURRENT": "5",
            "TIMESEAL_VERIFY_DEADLINE_SECONDS": "30",
        }
    )
    assert settings.data_dir == (tmp_path / "data").resolve()
    assert settings.database_url == "postgresql+psycopg://db/timeseal"
    assert (settings.blob_url, settings.s3_endpoint_url) == (
        "s3://bucket/prefix",
        "http://127.0.0.1:9000",
    )
    assert settings.public_url == "https://evidence.example.org"
    assert isinstance(settings.clock_source, LocalSource)
    assert (settings.verify_limits.max_concurrent, settings.verify_limits.deadline) == (5, 30.0)
