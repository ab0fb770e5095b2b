"""Public facts of sealed records, for anyone, without logging in (the verify page uses them).

::

    GET /api/v1/public/evidence/{number}        one record's public facts
    GET /api/v1/public/evidence?sha256=<hex>    the records sealing exactly that content

Public facts are what the record's log entry and token already make public: number, kind,
size, content SHA-256, the token's time, serial and policy, the log leaf, and whether a later
record supersedes it. Never the title, the file name, the media type, the capture metadata,
the content or anything about the owner. Unknown and malformed numbers are both 404
``not_found``; the number is parsed forgivingly (lowercase, dashes optional) as
:func:`~timeseal.core.evidence.number.parse_evidence_number` allows.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query

from timeseal.server.api.errors import error_responses
from timeseal.server.api.models import (
    PublicEvidence,
    PublicEvidenceMatches,
)
from timeseal.server.api.public_records import number_refusal
from timeseal.server.api.state import Public

SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")

router = APIRouter(prefix="/api/v1/public", tags=["public"])


@router.get(
    "/evidence/{number}",
    response_model=PublicEvidence,
    responses=error_responses(400, 404),
)
async def public_evidence(number: str, records: Public) -> PublicEvidence:
    """The public facts of a sealed record (no login). The number may be typed loosely:
    lowercase, with or without dashes; 400 ``evidence_number_check_missing`` or
    ``evidence_number_check_mismatch`` when its last character, the check character, is
    missing or wrong."""
    record, problem = records.lookup(number)
    if record is None:
        raise number_refusal(problem)
    return records.facts(record)


@router.get(
    "/evidence",
    response_model=PublicEvidenceMatches,
    responses=error_responses(422),
)
async def public_evidence_by_content(
    sha256: Annotated[
        str,
        Query(
            pattern=SHA256_HEX.pattern,
            description="SHA-256 of the content, 64 hex digits (computed by the client; "
            "the file itself is never sent).",
        ),
    ],
    records: Public,
) -> PublicEvidenceMatches:
    """The records sealing exactly this content, oldest first (public facts only)."""
    digest = bytes.fromhex(sha256)
    return PublicEvidenceMatches(
        sha256=digest.hex(), items=[records.facts(r) for r in records.by_content(digest)]
    )
