"""A client of a TimeSeal log: the auditor that rebuilds the log from its public tiles, and the
fetcher of offline receipts (C2SP tlog-proof) for time-stamp tokens.

:class:`LogClient` fetches (:mod:`.client`); :mod:`.audit` checks the whole log and
:mod:`.state` remembers what it accepted; :mod:`.receipts` proves one token's entry.
"""

from timeseal.capture.clients.log.audit import AuditReport, audit_log
from timeseal.capture.clients.log.client import LogClient
from timeseal.capture.clients.log.errors import LogClientError, ReceiptInvalid, ReceiptTimeout
from timeseal.capture.clients.log.receipts import ReceiptFetcher, token_leaf
from timeseal.capture.clients.log.state import AuditState, format_state, parse_state

__all__ = [
    "AuditReport",
    "AuditState",
    "LogClient",
    "LogClientError",
    "ReceiptFetcher",
    "ReceiptInvalid",
    "ReceiptTimeout",
    "audit_log",
    "format_state",
    "parse_state",
    "token_leaf",
]
