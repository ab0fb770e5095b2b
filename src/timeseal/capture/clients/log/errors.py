"""What a log client raises: the log unreachable or unusable, a receipt not ready in time, a
receipt that does not verify."""

from __future__ import annotations

from timeseal.capture.errors import CaptureError
from timeseal.core.verification import VerificationResult


class LogClientError(CaptureError):
    """The log could not be reached, or answered something unusable."""


class ReceiptTimeout(LogClientError):
    """The entry was not in a checkpoint within the wait; the token itself is fine."""


class ReceiptInvalid(LogClientError):
    """The server's data does not make a valid receipt; ``result`` says which check failed."""

    def __init__(self, result: VerificationResult) -> None:
        self.result = result
        names = ", ".join(c.value for c in result.failed)
        super().__init__(f"the receipt does not verify ({names})")
