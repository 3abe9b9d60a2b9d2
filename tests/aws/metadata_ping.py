"""A stand-in for Metaflow's metadata service, as far as `step-functions create` calls it: GET /ping.

`step-functions create` with METAFLOW_DEFAULT_METADATA=service asks the service for its version first
(Metaflow refuses services older than 2.0.2) and nothing else; the state machine it writes then tells
every Batch task to record its metadata in that service. Any other request answers 501, so a code path
that needs the real service fails loudly instead of passing here.
"""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator
from contextlib import contextmanager

VERSION = "2.4.0"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path.rstrip("/") == "/ping":
            self.send_response(200)
            self.send_header("METADATA_SERVICE_VERSION", VERSION)
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"pong")
        else:
            self.send_error(501, "only /ping is stood in for")

    do_POST = do_PATCH = do_GET

    def log_message(self, *args: object) -> None:
        return


@contextmanager
def metadata_ping() -> Iterator[str]:
    """The stand-in's URL (METAFLOW_SERVICE_URL) while the block runs."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
