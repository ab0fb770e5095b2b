"""The one root of the exceptions the ``timeseal`` command raises on purpose.

::

    CliError
     ├─ ApiCallFailed      account_cmd.py: an /api/v1 call answered with an error
     └─ VaultCallFailed    vault_cmd.py: an upload or download step failed (``retryable``)

(``vault_cmd._PackageChanged``, private, is one too.) Usage errors are ``typer`` exits, not
exceptions of ours. tests/unit/cli/test_errors.py holds every exception class defined under
``timeseal.cli`` to this root.
"""

from __future__ import annotations


class CliError(Exception):
    """Base of every error the CLI raises on purpose."""
