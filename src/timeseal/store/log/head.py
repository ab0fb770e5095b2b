"""The log's head as stored: its size, root and signed checkpoint, and the hook a sequencing
round calls before it publishes a new one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from timeseal.core.tlog import SignedCheckpoint, parse_signed_checkpoint


@dataclass(frozen=True, slots=True)
class LogHead:
    size: int
    root_hash: bytes
    checkpoint: bytes
    cosigned_checkpoint: bytes | None

    @property
    def served_checkpoint(self) -> bytes:
        """The checkpoint to publish: the witness-cosigned one when it is for this size."""
        return self.cosigned_checkpoint or self.checkpoint


#: Called with the head a round started from (None: no tree yet), the checkpoint it signed
#: and the ids of the entries it integrated, before that checkpoint is committed
#: (published); raising refuses it.
BeforePublish = Callable[["LogHead | None", SignedCheckpoint, Sequence[int]], None]


def signed_checkpoint_of(head: LogHead) -> SignedCheckpoint:
    return parse_signed_checkpoint(head.checkpoint)
