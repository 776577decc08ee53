"""The pipe between the render pool and a render process: frames of JSON and bytes.

A frame is a JSON header (the message) and a blob of bytes (a report's data, a PDF), each
preceded by its length. JSON, not pickle: a render process handles hostile data, so the pool
reads what one sends without running any of it. Nothing from a render process is trusted but the
framing, and the framing is checked (lengths within bounds, a header that parses).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import struct
import time
from typing import Any

_PREFIX = struct.Struct(">II")  # header length, blob length
#: Far beyond any message of this protocol, small enough to refuse nonsense before reading it.
MAX_HEADER = 1 << 20
MAX_BLOB = 1 << 28
_CHUNK = 1 << 20


class ProtocolError(Exception):
    """What came through the pipe is not a frame of this protocol."""


class Pipe:
    """Frames in from one file descriptor and out to another.

    Given a deadline (a `time.monotonic()` time), `send` and `recv` raise TimeoutError once it
    passes; without one they block. A closed other end raises EOFError (or BrokenPipeError).
    """

    def __init__(self, read_fd: int, write_fd: int, *, blocking: bool = True) -> None:
        self._read_fd, self._write_fd = read_fd, write_fd
        for fd in (read_fd, write_fd):
            os.set_blocking(fd, blocking)

    @classmethod
    def of_standard_streams(cls) -> Pipe:
        """A render process's end: its stdin and stdout, moved to descriptors of their own, so
        that nothing printed to stdout (by Python or by Typst) can land inside a frame."""
        read_fd, write_fd = os.dup(0), os.dup(1)
        nothing = os.open(os.devnull, os.O_RDONLY)
        os.dup2(nothing, 0)
        os.close(nothing)
        os.dup2(2, 1)  # stray output goes to stderr, with the process's other diagnostics
        return cls(read_fd, write_fd)

    def send(self, header: Any, blob: bytes = b"", deadline: float | None = None) -> None:
        head = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode()
        self._write(_PREFIX.pack(len(head), len(blob)) + head, deadline)
        if blob:
            self._write(blob, deadline)

    def recv(self, deadline: float | None = None) -> tuple[Any, bytes]:
        head_size, blob_size = _PREFIX.unpack(self._read(_PREFIX.size, deadline))
        if head_size > MAX_HEADER or blob_size > MAX_BLOB:
            raise ProtocolError(f"a frame of {head_size} + {blob_size} bytes")
        try:
            header = json.loads(self._read(head_size, deadline))
        except ValueError as exc:  # also bad UTF-8
            raise ProtocolError("a frame whose header is not JSON") from exc
        return header, self._read(blob_size, deadline)

    def close(self) -> None:
        for fd in {self._read_fd, self._write_fd} - {-1}:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._read_fd = self._write_fd = -1

    def _read(self, size: int, deadline: float | None) -> bytes:
        received = bytearray()
        while len(received) < size:
            _wait(self._read_fd, select.POLLIN, deadline)
            try:
                chunk = os.read(self._read_fd, min(size - len(received), _CHUNK))
            except BlockingIOError:
                continue
            if not chunk:
                raise EOFError("the other end closed the pipe")
            received += chunk
        return bytes(received)

    def _write(self, data: bytes, deadline: float | None) -> None:
        pending = memoryview(data)
        while pending:
            _wait(self._write_fd, select.POLLOUT, deadline)
            try:
                pending = pending[os.write(self._write_fd, pending[:_CHUNK]) :]
            except BlockingIOError:
                continue


def _wait(fd: int, event: int, deadline: float | None) -> None:
    """Wait until `fd` is ready for `event` (or closed), or raise TimeoutError at `deadline`."""
    if deadline is None:
        return
    poll = select.poll()  # not select(): a worker may hold more than 1024 descriptors
    poll.register(fd, event)
    if not poll.poll(max(0, math.ceil((deadline - time.monotonic()) * 1000))):
        raise TimeoutError
