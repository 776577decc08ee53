"""The frames between the pool and a render process: what arrives is what was sent, and nothing
but a well-formed frame is read (no size the pool would not accept, no header but JSON)."""

from __future__ import annotations

import os
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from sqr_reports.rendering.pipe import MAX_BLOB, Pipe, ProtocolError


@pytest.fixture
def pipe() -> Iterator[tuple[Pipe, int]]:
    """The pool's end of a pipe, and the descriptor a render process would write to."""
    read_fd, write_fd = os.pipe()
    reading = Pipe(read_fd, os.dup(write_fd), blocking=False)
    yield reading, write_fd
    reading.close()
    os.close(write_fd)


def test_a_frame_arrives_as_it_was_sent(pipe: tuple[Pipe, int]) -> None:
    ends, _ = pipe
    header = {"id": "r1", "name": "王小明", "pages": 3}
    blob = os.urandom(300_000)  # more than a pipe holds: sent while it is received
    sending = threading.Thread(target=ends.send, args=(header, blob, time.monotonic() + 10))
    sending.start()

    received = ends.recv(time.monotonic() + 10)

    sending.join()
    assert received == (header, blob)


def test_a_frame_larger_than_allowed_is_refused_before_it_is_read(
    pipe: tuple[Pipe, int],
) -> None:
    ends, write_fd = pipe
    os.write(write_fd, struct.pack(">II", 2, MAX_BLOB + 1) + b"{}")

    with pytest.raises(ProtocolError, match="frame of"):
        ends.recv(time.monotonic() + 10)


@pytest.mark.parametrize("header", [b"not json", b"\x80\x04\x95\x05"])  # the second: a pickle
def test_a_header_that_is_not_json_is_refused(pipe: tuple[Pipe, int], header: bytes) -> None:
    ends, write_fd = pipe
    os.write(write_fd, struct.pack(">II", len(header), 0) + header)

    with pytest.raises(ProtocolError, match="not JSON"):
        ends.recv(time.monotonic() + 10)


def test_half_a_frame_by_the_deadline_is_a_timeout(pipe: tuple[Pipe, int]) -> None:
    ends, write_fd = pipe
    os.write(write_fd, struct.pack(">II", 10, 0) + b'{"id"')

    with pytest.raises(TimeoutError):
        ends.recv(time.monotonic())


def test_a_closed_other_end_is_the_end_of_the_pipe() -> None:
    read_fd, write_fd = os.pipe()
    os.write(write_fd, struct.pack(">II", 10, 0) + b'{"id"')
    os.close(write_fd)
    ends = Pipe(read_fd, os.dup(read_fd), blocking=False)

    with pytest.raises(EOFError):
        ends.recv(time.monotonic() + 10)
    ends.close()
