"""The trust library: pure, with no web framework, database, network or capture tool.

Public API (pinned by ``tests/unit/core/test_public_api.py``).
"""

from timeseal.core.digest import HashAlgorithm, digest_stream
from timeseal.core.errors import (
    MalformedError,
    TimeSealError,
    UnsupportedAlgorithm,
    UnsupportedError,
    UnsupportedVersion,
)
from timeseal.core.signers import KeySigner, SignatureAlgorithm, Signer
from timeseal.core.tsp.authority import IssuedToken, Rejection, TimeStampAuthority
from timeseal.core.tsp.request import TimeStampRequest, build_request, parse_request
from timeseal.core.tsp.response import (
    Accuracy,
    FailureInfo,
    PKIStatus,
    TimeStampResponse,
    TimeStampToken,
    TSTInfo,
    parse_response,
    parse_token,
)
from timeseal.core.tsp.verify import TimestampVerifier, TimestampVerifierBuilder
from timeseal.core.verification import (
    Check,
    CheckResult,
    Status,
    VerificationFailed,
    VerificationResult,
)

__all__ = [
    "Accuracy",
    "Check",
    "CheckResult",
    "FailureInfo",
    "HashAlgorithm",
    "IssuedToken",
    "KeySigner",
    "MalformedError",
    "PKIStatus",
    "Rejection",
    "SignatureAlgorithm",
    "Signer",
    "Status",
    "TSTInfo",
    "TimeSealError",
    "TimeStampAuthority",
    "TimeStampRequest",
    "TimeStampResponse",
    "TimeStampToken",
    "TimestampVerifier",
    "TimestampVerifierBuilder",
    "UnsupportedAlgorithm",
    "UnsupportedError",
    "UnsupportedVersion",
    "VerificationFailed",
    "VerificationResult",
    "build_request",
    "digest_stream",
    "parse_request",
    "parse_response",
    "parse_token",
]
