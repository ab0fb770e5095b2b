"""The API tokens ``timeseal login`` keeps, one per server.

They live in ``$XDG_CONFIG_HOME/timeseal/credentials.json`` (default ``~/.config/timeseal/``;
the directory is mode 0700, the file 0600)::

    {"servers": {"https://evidence.example.org": {"token": "ts_…", "token_id": "tok_…",
                 "account_id": 7, "phone": "+8613812345678", "device_token": "kd1.…",
                 "saved_at": "2026-…Z"}}}

Other commands find the token for a server with :func:`stored_token`.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from timeseal.cli import settings as cli_settings
from timeseal.cli.exits import fail
from timeseal.core.files import write_durably

CREDENTIALS_FILE = "credentials.json"


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/timeseal``, or ``~/.config/timeseal`` (XDG Base Directory: a
    relative ``XDG_CONFIG_HOME`` is invalid and ignored)."""
    base = cli_settings.xdg_base("XDG_CONFIG_HOME")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".config"
    return root / "timeseal"


def credentials_path() -> Path:
    return config_dir() / CREDENTIALS_FILE


def server_key(url: str) -> str:
    """The server's base URL as stored: no trailing slash, scheme and host in lower case."""
    url = url.strip().rstrip("/")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest:
        raise ValueError(f"not an http(s) URL: {url!r}")
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}"


@contextmanager
def credentials() -> Iterator[dict[str, Any]]:
    """The stored logins, for reading and changing; written back atomically, under a lock
    so that two commands at once do not lose each other's change."""
    directory = config_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(directory / f".{CREDENTIALS_FILE}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = directory / CREDENTIALS_FILE
        try:
            data = json.loads(path.read_text()) if path.exists() else {}
        except (OSError, ValueError) as exc:
            raise fail(f"无法读取 cannot read {path}: {exc}", 2) from None
        servers = data.get("servers") if isinstance(data, dict) else None
        if not isinstance(servers, dict):
            servers = {}
        before = json.dumps(servers, sort_keys=True)
        yield servers
        if json.dumps(servers, sort_keys=True) != before:
            write_private(path, json.dumps({"servers": servers}, indent=2, sort_keys=True) + "\n")


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, durably, readable by its owner only (0600)."""
    write_durably(path, text.encode(), mode=0o600)


def stored_login(server: str) -> dict[str, Any] | None:
    """What ``timeseal login`` kept for ``server``, if anything."""
    path = credentials_path()
    if not path.exists():
        return None
    with credentials() as servers:
        entry = servers.get(server_key(server))
    return entry if isinstance(entry, dict) else None


def stored_token(server: str) -> str | None:
    """The API token for ``server``, for other commands' ``Authorization: Bearer``."""
    entry = stored_login(server)
    token = entry.get("token") if entry else None
    return token if isinstance(token, str) else None


def known_servers() -> list[str]:
    """Every server a token is kept for."""
    if not credentials_path().exists():
        return []
    with credentials() as servers:
        return list(servers)
