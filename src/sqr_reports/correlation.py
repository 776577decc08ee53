"""The ids that join log lines up: the request's, the job's, the org's.

One context variable holds them, so every log line written while a request is served or a
claim is worked on carries them (`logs` adds them to each record) without passing them down
through every call. asyncio copies the context into each task and `asyncio.to_thread`, and
SQLAlchemy's greenlets share their caller's, so the ids follow the work wherever it runs.

Only ids go here, never anything about a person: they are written to every log line.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator, Mapping
from contextvars import ContextVar, Token
from types import MappingProxyType

#: A value an id may have: ids are strings; an attempt number is a number.
Id = str | int
_IDS: ContextVar[Mapping[str, Id]] = ContextVar("sqr_reports_ids", default=MappingProxyType({}))


def ids() -> Mapping[str, Id]:
    """The ids known here (the current request's and job's, the caller's org ...)."""
    return _IDS.get()


def request_id() -> str | None:
    """The id of the request being served, if this runs while one is."""
    value = _IDS.get().get("request_id")
    return value if isinstance(value, str) else None


def new_request_id() -> str:
    """A fresh request id: 128 random bits as 32 hex digits, the shape of a W3C trace-id (and
    of a uuid4's hex, at a third of its cost: this runs for nearly every request)."""
    return secrets.token_hex(16)


def begin_request(request_id: str) -> Token[Mapping[str, Id]]:
    """Start a request's context with its id alone; `end_request` restores the previous one.

    The hot path's pair (no context manager): a status poll costs a few hundred microseconds.
    """
    return _IDS.set({"request_id": request_id})


def end_request(token: Token[Mapping[str, Id]]) -> None:
    _IDS.reset(token)


def annotate(**more: Id | None) -> None:
    """Add ids for the rest of the current context (a request learns its caller's org once
    the token is verified); the request's `end_request` discards them."""
    _IDS.set({**_IDS.get(), **_present(more)})


@contextlib.contextmanager
def bound(**more: Id | None) -> Iterator[None]:
    """Add ids (None values are left out) within the block only."""
    token = _IDS.set({**_IDS.get(), **_present(more)})
    try:
        yield
    finally:
        _IDS.reset(token)


def _present(values: Mapping[str, Id | None]) -> dict[str, Id]:
    return {name: value for name, value in values.items() if value is not None}
