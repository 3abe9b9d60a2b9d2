"""One write per response: uvicorn's httptools protocol on a transport that sends the header block
together with the body.

uvicorn writes a response's status line and headers as soon as the app sends
`http.response.start`, then the body on `http.response.body`: two `write()` system calls and two
TCP segments per response (strace on a worker under load: one read and two writes per request, the
writes most of its system-call time; docs/serving.md#where-the-time-goes-in-the-http-path).
`CoalescingTransport` holds a header block (a write
that starts with "HTTP/1.1 " and ends with a blank line) and sends it with the next write, which for
every response of this server comes in the same event-loop step. Nothing waits on it: if no write
follows in this loop iteration (a streamed response, a `100 Continue`), a `call_soon` callback sends
it alone, and `close()` sends it before closing. Order is kept, since held bytes always go first.

Only the transport is wrapped: parsing, keep-alive, flow control and shutdown are uvicorn's own.
`HttpToolsProtocol` is a uvicorn internal, so setup.py caps uvicorn below its next minor, and
`fraud serve --no-one-write` runs uvicorn's protocol as it is.
"""
from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_STATUS_PREFIX = b"HTTP/1.1 "
_HEADERS_END = b"\r\n\r\n"


class CoalescingTransport:
    """Delegates to an asyncio transport; holds a header block until the next write (or loop turn)."""

    __slots__ = ("_transport", "_loop", "_held")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + bytes(data))
        elif isinstance(data, bytes) and data.startswith(_STATUS_PREFIX) and data.endswith(_HEADERS_END):
            self._held = data
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def writelines(self, chunks: Any) -> None:
        self.write(b"".join(chunks))

    def flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + (len(self._held) if self._held is not None else 0)

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, pause_reading, ...
        return getattr(self._transport, name)


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing through a `CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
