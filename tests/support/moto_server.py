"""A moto S3 server on loopback, for the S3 tests: ``python tests/support/moto_server.py``.

Listens on 127.0.0.1 and a port the OS picks, prints ``http://127.0.0.1:PORT`` on one line,
and serves until its standard input closes (so it ends with the process that started it,
even one killed with SIGKILL) or until interrupted.

Requests are handled one at a time. moto's S3 backend is not thread-safe: a CopyObject or
CompleteMultipartUpload that replaces a key closes the old key's buffer while a concurrent
request may still be reading it, and the server answers 500. Real S3 applies each request
atomically, so serving them one after another models it faithfully; clients still interleave
their requests as they like.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class OneAtATime:
    """WSGI middleware: one request at a time, its response read in full under the lock."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        with self.lock:
            result = self.app(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                close: Any = getattr(result, "close", None)
                if close is not None:
                    close()


def main() -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    app = OneAtATime(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"http://127.0.0.1:{server.server_port}", flush=True)
    try:
        sys.stdin.read()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
