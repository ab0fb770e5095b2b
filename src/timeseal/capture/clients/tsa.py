"""An RFC 3161 client: hash locally, send only the digest, check what comes back.

The transport is injectable (an ``httpx`` transport), so tests can hand in a fake server the
way httpx's ``MockTransport`` is meant to be used.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import httpx
from cryptography import x509

from timeseal.capture.clients import http_client
from timeseal.capture.errors import CaptureError
from timeseal.core.digest import HashAlgorithm
from timeseal.core.errors import MalformedError
from timeseal.core.tsp.request import TimeStampRequest, build_request
from timeseal.core.tsp.response import TimeStampResponse, parse_response
from timeseal.core.tsp.verify import TimestampVerifierBuilder
from timeseal.core.verification import VerificationResult

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"


class TSAClientError(CaptureError):
    """The TSA could not be reached or answered something that is not a usable token."""


@dataclass(frozen=True, slots=True)
class StampResult:
    request: TimeStampRequest
    response: TimeStampResponse


class TSAClient:
    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._http = http_client(transport=transport, timeout=timeout)

    def __enter__(self) -> TSAClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def certificates(self) -> list[x509.Certificate]:
        """The TSA chain from ``GET /tsa/certs`` (useful for display; not a trust anchor)."""
        try:
            reply = self._http.get(f"{self._base}/tsa/certs")
            reply.raise_for_status()
            return x509.load_pem_x509_certificates(reply.content)
        except (httpx.HTTPError, ValueError) as exc:
            raise TSAClientError(f"cannot fetch {self._base}/tsa/certs: {exc}") from exc

    def stamp_digest(
        self, digest: bytes, algorithm: HashAlgorithm = HashAlgorithm.SHA256
    ) -> StampResult:
        """Request a token for ``digest``; checks status, imprint and nonce of the reply."""
        request = build_request(digest, algorithm, nonce=secrets.randbits(64), cert_req=True)
        try:
            reply = self._http.post(
                f"{self._base}/tsa", content=request.der, headers={"Content-Type": QUERY_TYPE}
            )
        except httpx.HTTPError as exc:
            raise TSAClientError(f"cannot reach {self._base}/tsa: {exc}") from exc
        if reply.status_code != 200:
            raise TSAClientError(f"{self._base}/tsa answered HTTP {reply.status_code}")
        if reply.headers.get("content-type", "").split(";")[0] != REPLY_TYPE:
            raise TSAClientError(f"{self._base}/tsa did not answer {REPLY_TYPE}")
        try:
            response = parse_response(reply.content)
        except MalformedError as exc:
            raise TSAClientError(f"unparsable TimeStampResp: {exc}") from exc
        if response.token is None:
            reasons = ", ".join(f.asn1_name for f in sorted(response.failure_info)) or "none given"
            text = "; ".join(response.status_text)
            raise TSAClientError(f"TSA refused: {response.status.name.lower()} ({reasons}) {text}")
        tst = response.token.tst_info
        if tst.message_imprint != digest or tst.nonce != request.nonce:
            raise TSAClientError("TSA answered a token for another request (imprint or nonce)")
        return StampResult(request=request, response=response)


def verify_stamp(result: StampResult, roots: list[x509.Certificate]) -> VerificationResult:
    """Full verification of a fresh token against trust anchors the caller chose."""
    builder = TimestampVerifierBuilder()
    for root in roots:
        builder = builder.add_root(root)
    if result.request.nonce is not None:
        builder = builder.nonce(result.request.nonce)
    return builder.build().verify(result.response, result.request.message_imprint)
