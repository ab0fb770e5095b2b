"""The public facts of sealed records, looked up over the vault: what the public API
(:mod:`.public`) and the verify pages show about a record without logging in."""

from __future__ import annotations

from timeseal.core.errors import MalformedError
from timeseal.core.evidence.number import NumberProblem, find_by_number, parse_evidence_number
from timeseal.core.tsp.response import parse_response
from timeseal.server.api.errors import ApiError
from timeseal.server.api.models import PublicEvidence, PublicLog, PublicTimestamp
from timeseal.server.evidence.vault import VaultService
from timeseal.store.evidence.rows import EvidenceRecord

#: At most this many records are listed for one content hash (identical files sealed again).
MAX_MATCHES = 50


class PublicRecords:
    """Read-only lookups the public pages need, over the vault's store (whose indexes on
    content, token and ``supersedes`` make them cheap)."""

    def __init__(self, vault: VaultService) -> None:
        self.vault = vault

    def by_number(self, text: str) -> EvidenceRecord | None:
        """The record a person typed the number of; None when unknown or not a number."""
        try:
            number = parse_evidence_number(text)
        except MalformedError:
            return None
        record = self.vault.store.get(number)
        return None if record is None else self.vault.sequenced(record)

    def lookup(self, text: str) -> tuple[EvidenceRecord | None, str | None]:
        """The record a person typed the number of, or None and why (``not_found``, or a
        check character missing or wrong): :func:`~timeseal.core.evidence.number.find_by_number`."""
        record, problem = find_by_number(text, self.vault.store.get)
        return (None if record is None else self.vault.sequenced(record)), problem

    def by_content(self, sha256: bytes) -> list[EvidenceRecord]:
        """Records whose content has this SHA-256, oldest first."""
        found = self.vault.store.with_content(sha256, limit=MAX_MATCHES)
        return [self.vault.sequenced(r) for r in found]

    def by_token(self, token_sha256: bytes) -> EvidenceRecord | None:
        """The record sealed with the token whose DER has this SHA-256 (it is in the log)."""
        record = self.vault.store.by_token(token_sha256)
        return None if record is None else self.vault.sequenced(record)

    def superseded_by(self, number: str) -> list[str]:
        return [r.number for r in self.vault.store.superseding(number)]

    def facts(self, record: EvidenceRecord) -> PublicEvidence:
        """The public facts of ``record``; see the module docstring for what is left out."""
        response = parse_response(record.tsr_der)
        assert response.token is not None, "a sealed record always holds a granted token"
        tst = response.token.tst_info
        later = self.superseded_by(record.number)
        return PublicEvidence(
            number=record.number,
            kind=record.kind,
            size=record.size,
            sha256=record.content_sha256.hex(),
            sealed_at=record.created_at,
            timestamp=PublicTimestamp(
                gen_time=tst.gen_time,
                serial_number=format(tst.serial_number, "x"),
                policy=tst.policy,
                hash_algorithm=tst.hash_algorithm.name.lower(),
                token_sha256=record.token_sha256.hex(),
            ),
            log=PublicLog(sequenced=record.leaf_index is not None, leaf_index=record.leaf_index),
            status="superseded" if later else "sealed",
            superseded_by=later,
            supersedes=record.supersedes,
        )


def number_refusal(problem: str | None) -> ApiError:
    """The answer to a typed evidence number that names no record (``problem`` from
    :func:`~timeseal.core.evidence.number.find_by_number`): 404 ``not_found``, or 400 with
    the check character's problem."""
    if problem in (NumberProblem.CHECK_MISSING.value, NumberProblem.CHECK_MISMATCH.value):
        return ApiError(problem, 400)
    return ApiError("not_found", 404)
