"""One write per response: the header block goes out with the body, never later than the next loop turn."""
from __future__ import annotations

import asyncio

from fraudcore.serving.transport import CoalescingTransport

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n"


class RecordingTransport:
    """Stands in for the socket transport (asyncio's, not project code): records what reaches it."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default=None):
        return {"peername": ("127.0.0.1", 5)}.get(name, default)


def _run(body) -> RecordingTransport:
    async def main() -> RecordingTransport:
        raw = RecordingTransport()
        await body(CoalescingTransport(raw, asyncio.get_running_loop()), raw)
        return raw
    return asyncio.run(main())


def test_header_block_and_body_leave_in_one_write():
    async def body(t, raw):
        t.write(HEAD)
        assert raw.writes == [] and t.get_write_buffer_size() == len(HEAD)
        t.write(b"{}")
        await asyncio.sleep(0)
        t.write(HEAD)
        t.write(b"[]")
    raw = _run(body)
    assert raw.writes == [HEAD + b"{}", HEAD + b"[]"]


def test_a_lone_header_block_goes_out_on_the_next_loop_turn():
    async def body(t, raw):
        t.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await asyncio.sleep(0)
        assert raw.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
        t.write(b"later")
    assert _run(body).writes == [b"HTTP/1.1 100 Continue\r\n\r\n", b"later"]


def test_close_sends_what_is_held_first_and_abort_drops_it():
    async def body(t, raw):
        t.write(HEAD)
        t.close()
        assert raw.writes == [HEAD] and raw.closed and t.is_closing()
    _run(body)

    async def aborted(t, raw):
        t.write(HEAD)
        t.abort()
        await asyncio.sleep(0)
        assert raw.writes == [] and raw.aborted
    _run(aborted)


def test_other_writes_pass_straight_through_and_attributes_delegate():
    async def body(t, raw):
        t.write(b"HTTP/1.1 200 OK\r\nbody not ended by a blank line")  # not a header block
        t.writelines([b"a", b"b"])
        assert raw.writes == [b"HTTP/1.1 200 OK\r\nbody not ended by a blank line", b"ab"]
        assert t.get_extra_info("peername") == ("127.0.0.1", 5)
    _run(body)
