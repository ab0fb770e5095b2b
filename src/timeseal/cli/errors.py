"""The one root of the exceptions the ``timeseal`` command raises on purpose.

::

    CliError
     ├─ ServerCallFailed   server_client.py: a request to the server failed (``retryable``,
     │                     ``code``, ``status``), for the accounts API, the vault and tus alike
     └─ UsageExit          exits.py: a usage error, exit 2 (a ``typer.Exit`` too), keeping its
                           message for ``timeseal verify --json``

(``vault.download._PackageChanged``, private, is one too.) tests/unit/cli/test_errors.py
holds every exception class defined under ``timeseal.cli`` to this root.
"""

from __future__ import annotations


class CliError(Exception):
    """Base of every error the CLI raises on purpose."""
