"""The I/O a flow of `_core` can ask for, as values: the clients perform them (see `_core`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from sqr_reports_client._download import PartialFile
from sqr_reports_client.models import Job

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """An HTTP request as a value (the clients build the httpx request from it)."""

    method: str
    url: str
    timeout: httpx.Timeout
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    json: Any = None

    def with_bearer(self, token: str) -> ApiRequest:
        return dataclasses.replace(
            self, headers={**self.headers, "Authorization": f"Bearer {token}"}
        )


@dataclass(frozen=True, slots=True)
class Send:
    request: ApiRequest


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


@dataclass(frozen=True, slots=True)
class Authorize:
    """A bearer token; `refused` is one the service just rejected, which must not come back."""

    refused: str | None = None


@dataclass(frozen=True, slots=True)
class Stream:
    """GET `url` without credentials; a 2xx body goes into `sink`, any other is read."""

    url: str = field(repr=False)
    sink: PartialFile
    timeout: httpx.Timeout


@dataclass(frozen=True, slots=True)
class Emit:
    item: Job


Action = Send | Sleep | Authorize | Stream | Emit
Flow = Generator[Action, Any, T]
