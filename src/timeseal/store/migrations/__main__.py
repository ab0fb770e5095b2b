"""Developer commands for the migrations, without an ``alembic.ini``::

    python -m timeseal.store.migrations revision -m "add accounts"   # autogenerate the next one
    python -m timeseal.store.migrations revision -m "backfill" --empty
    python -m timeseal.store.migrations check [--url URL]     # models and migrations agree?
    python -m timeseal.store.migrations upgrade --url URL     # what the server does at start
    python -m timeseal.store.migrations sql --url URL         # the DDL, for a DBA to review
    python -m timeseal.store.migrations history

``revision`` compares the models with a scratch SQLite database migrated to head, and numbers
the new revision after the newest one (0001, 0002, ...). Read what it wrote before committing:
autogenerate cannot see renames and some PostgreSQL-only details (docs/storage.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from timeseal.store.db import (
    DATABASE_URL_ENV,
    head_revision,
    make_engine,
    migrate,
    migration_config,
)


def _next_revision_id() -> str:
    script = ScriptDirectory.from_config(migration_config())
    numbers = [int(s.revision) for s in script.walk_revisions() if s.revision.isdigit()]
    return f"{max(numbers, default=0) + 1:04d}"


def _format_with_ruff(config: Config) -> None:
    """Lint-fix and format new revision scripts with the ruff beside this Python, if any."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        return
    config.set_section_option("post_write_hooks", "hooks", "ruff_fix, ruff_format")
    for hook, options in (("ruff_fix", "check --fix"), ("ruff_format", "format")):
        config.set_section_option("post_write_hooks", f"{hook}.type", "exec")
        config.set_section_option("post_write_hooks", f"{hook}.executable", ruff)
        config.set_section_option(
            "post_write_hooks", f"{hook}.options", f"{options} REVISION_SCRIPT_FILENAME"
        )


def _url(args: argparse.Namespace) -> str:
    url: str | None = args.url or os.environ.get(DATABASE_URL_ENV)
    if not url:
        raise SystemExit(f"give --url or set {DATABASE_URL_ENV}")
    return url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m timeseal.store.migrations")
    sub = parser.add_subparsers(dest="command", required=True)
    rev = sub.add_parser("revision", help="write the next revision script")
    rev.add_argument("-m", "--message", required=True)
    rev.add_argument("--empty", action="store_true", help="no autogenerate (data migrations)")
    for name in ("check", "upgrade", "sql"):
        p = sub.add_parser(name)
        p.add_argument("--url", help=f"database URL (default: ${DATABASE_URL_ENV})")
    sub.add_parser("history")
    args = parser.parse_args(argv)

    if args.command == "history":
        command.history(migration_config())
    elif args.command == "sql":
        config = migration_config()
        config.set_main_option("sqlalchemy.url", _url(args))
        command.upgrade(config, "head", sql=True)
    elif args.command == "upgrade":
        migrate(make_engine(_url(args)))
    elif args.command in ("revision", "check"):
        with tempfile.TemporaryDirectory() as scratch:
            url = (
                _url(args)
                if args.command == "check" and (args.url or os.environ.get(DATABASE_URL_ENV))
                else f"sqlite:///{Path(scratch) / 'scratch.db'}"
            )
            engine = make_engine(url)
            # The newest revision by name, not "head": migrate() then skips its check that
            # every model table exists, since models ahead of the migrations are the point.
            migrate(engine, head_revision())
            with engine.begin() as conn:
                config = migration_config(conn)
                if args.command == "check":
                    command.check(config)
                    print(f"no changes: models match revision {head_revision()}")
                else:
                    _format_with_ruff(config)
                    command.revision(
                        config,
                        message=args.message,
                        autogenerate=not args.empty,
                        rev_id=_next_revision_id(),
                    )
            engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
