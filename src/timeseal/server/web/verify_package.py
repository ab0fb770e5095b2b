"""``POST /verify/package``: a stranger's evidence package, verified on the server within
bounds (issue 12).

The upload is at most :data:`MAX_PACKAGE_BYTES`; the verifier (``timeseal.core.package``)
keeps a bounded amount in memory whatever the ZIP holds; :class:`~.verify_limits.VerifyGate` (in
``app.state``) admits a few verifications at a time and gives each a deadline. Every outcome is
the verify page itself, Chinese first: the report, or an error naming what went wrong (too
large, no package, unreadable form, busy, out of time), never a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
import anyio.to_thread
from cryptography import x509
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message

from timeseal.core.package import verify_package
from timeseal.core.pdf_signature import certificate_signature_check
from timeseal.core.text import is_ascii_decimal
from timeseal.core.tlog import VerifierKey
from timeseal.server.web.render import Pages
from timeseal.server.web.state import verify_gate
from timeseal.server.web.verify_limits import DeadlineExceeded

#: Largest package the page verifies on the server; bigger ones with ``timeseal verify``.
MAX_PACKAGE_BYTES = 512 * 1024 * 1024
#: Room for the multipart framing around the package in the request body.
MULTIPART_OVERHEAD = 64 * 1024


async def verify_package_upload(
    request: Request,
    pages: Pages,
    roots: Sequence[x509.Certificate],
    log_key: VerifierKey,
    context: dict[str, Any],
) -> Response:
    """The multipart field ``package`` (a ZIP, at most :data:`MAX_PACKAGE_BYTES`) verified as
    ``timeseal verify PACKAGE.zip --ca ROOT --log-key KEY`` would, against this server's TSA
    root and log key, rendered into the verify page with ``context``. The upload is spooled
    to a temporary file by the form parser (never held in memory) and gone after the answer.

    Refused before the body is read: a declared size over the limit (413), and a full gate
    (503 ``busy`` with ``Retry-After``). Past the deadline, receiving or verifying: 503
    ``timeout``."""
    gate = verify_gate(request)
    retry = {"Retry-After": str(gate.limits.retry_after)}

    def fail(error: str, status: int, headers: dict[str, str] | None = None) -> Response:
        context["package_error"] = error
        response = pages.render(
            request, "verify.html", context, status=status, wasm=True, switch_path="/verify"
        )
        response.headers.update(headers or {})
        return response

    declared = request.headers.get("content-length", "")
    if not is_ascii_decimal(declared) or (int(declared) > MAX_PACKAGE_BYTES + MULTIPART_OVERHEAD):
        return fail("too_large", 413)
    admission = gate.try_admit()
    if admission is None:
        return fail("busy", 503, retry)
    with admission:
        try:
            with anyio.fail_after(admission.remaining):
                form = await _limited(request, int(declared)).form(max_files=1, max_fields=2)
        except TimeoutError:
            return fail("timeout", 503, retry)
        except (HTTPException, _BodyTooLong):
            return fail("bad_form", 400)
        try:
            upload = form.get("package")
            if not isinstance(upload, UploadFile) or not upload.size:
                return fail("no_package", 400)
            source = upload.file
            report = await anyio.to_thread.run_sync(
                lambda: verify_package(
                    source,
                    roots=roots,
                    log_key=log_key,
                    certificate_check=certificate_signature_check,
                    progress=admission.check,
                )
            )
        except DeadlineExceeded:
            return fail("timeout", 503, retry)
        finally:
            await form.close()
    context["package_report"] = report
    return pages.render(request, "verify.html", context, wasm=True, switch_path="/verify")


class _BodyTooLong(Exception):
    """The body went on past its declared Content-Length."""


def _limited(request: Request, limit: int) -> Request:
    """The request, refusing body bytes beyond ``limit``."""
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise _BodyTooLong
        return message

    return Request(request.scope, receive)
