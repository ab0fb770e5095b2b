"""The security regression suite (issue 12): every attack that once worked, kept as a test.

The fixtures are the server tests' own (a fresh data directory; SQLite or PostgreSQL) and the
accounts tests' own (the accounts API with an injected clock), so an attack is tried against the
same app the rest of the suite runs."""

from __future__ import annotations

from tests.support.two_accounts import world
from tests.unit.server.accounts.conftest import accounts_url, app, clock, engine, outbox
from tests.unit.server.conftest import client, data_dir, db_url

__all__ = [
    "accounts_url",
    "app",
    "client",
    "clock",
    "data_dir",
    "db_url",
    "engine",
    "outbox",
    "world",
]
