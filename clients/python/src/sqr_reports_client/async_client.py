"""`AsyncClient`: the asyncio client, `Client`'s twin. Its logic is in `_core`; this file only
performs the I/O, with `await`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import datetime
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from sqr_reports_client._actions import (
    Action,
    ApiRequest,
    Authorize,
    Emit,
    Flow,
    Send,
    Sleep,
    Stream,
)
from sqr_reports_client._config import Credentials, from_environment, resolve_timeout
from sqr_reports_client._core import Core
from sqr_reports_client._listing import ListQuery
from sqr_reports_client._retry import RetryPolicy
from sqr_reports_client.client import DEFAULT_WAIT_SECONDS
from sqr_reports_client.models import DownloadUrl, Job, JobStatus

T = TypeVar("T")


class AsyncClient:
    """An asyncio client of the PDF Report API, with `Client`'s methods as coroutines (and
    `list` as an async iterator); safe to share between tasks of one event loop.

    ```python
    async with AsyncClient.from_env() as client:
        job = await client.create("US1A2B3C4D5E6F78")
        job = await client.wait(job.job_id, raise_on_failure=True)
        await client.download(job, "report.pdf")
    ```
    """

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str | Iterable[str] | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = 3,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        credentials = Credentials.of(base_url, client_id, client_secret, scope)
        resolved = resolve_timeout(timeout, http_client)
        self._core = Core(credentials, timeout=resolved, retry=RetryPolicy(max_retries))
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=resolved)
        self._token_lock = asyncio.Lock()

    @classmethod
    def from_env(cls, **options: Any) -> Self:
        """As `Client.from_env`."""
        return cls(*from_environment(), **options)

    def __repr__(self) -> str:
        credentials = self._core.credentials
        return (
            f"AsyncClient(base_url={credentials.base_url!r}, client_id={credentials.client_id!r})"
        )

    # -- the API (documented on `Client`) --------------------------------------------------------

    async def create(self, user_id: str, *, idempotency_key: str | None = None) -> Job:
        """As `Client.create`."""
        return await self._run(self._core.create(user_id, idempotency_key))

    async def get(self, job_id: str) -> Job:
        """As `Client.get`."""
        return await self._run(self._core.get(job_id))

    async def wait(
        self,
        job_id: str,
        *,
        # Client.wait's signature: a budget for polling (raising WaitTimeout), not a scope.
        timeout: float = DEFAULT_WAIT_SECONDS,  # noqa: ASYNC109
        on_progress: Callable[[Job], object] | None = None,
        raise_on_failure: bool = False,
    ) -> Job:
        """As `Client.wait` (`on_progress` is a plain function here too)."""
        return await self._run(self._core.wait(job_id, timeout, on_progress, raise_on_failure))

    async def delete(self, job_id: str) -> None:
        """As `Client.delete`."""
        await self._run(self._core.delete(job_id))

    async def download_url(self, job_id: str) -> DownloadUrl:
        """As `Client.download_url`."""
        return await self._run(self._core.download_url(job_id))

    async def download(self, job: Job | str, path: str | PathLike[str]) -> Path:
        """As `Client.download`. The file is written with blocking writes between reads of
        the network: a report is a few hundred kilobytes."""
        return await self._run(self._core.download(job, Path(path)))

    def list(
        self,
        *,
        status: JobStatus | str | None = None,
        user_id: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[Job]:
        """As `Client.list`, to use with `async for`."""
        query = ListQuery(
            JobStatus(status) if status else None,
            user_id,
            created_after,
            created_before,
            limit,
            page_size,
        )
        return self._iterate(self._core.list(query))

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- running flows -------------------------------------------------------------------------

    async def _run(self, flow: Flow[T]) -> T:
        reply: Any = None
        failure: Exception | None = None
        try:
            while True:
                try:
                    action = flow.send(reply) if failure is None else flow.throw(failure)
                except StopIteration as done:
                    result: T = done.value
                    return result
                reply, failure = None, None
                try:
                    reply = await self._perform(action)
                except Exception as exc:  # the flow decides: retry, or let it out
                    failure = exc
        finally:
            flow.close()

    async def _iterate(self, flow: Flow[None]) -> AsyncIterator[Job]:
        reply: Any = None
        failure: Exception | None = None
        try:
            while True:
                try:
                    action = flow.send(reply) if failure is None else flow.throw(failure)
                except StopIteration:
                    return
                reply, failure = None, None
                if isinstance(action, Emit):
                    yield action.item
                    continue
                try:
                    reply = await self._perform(action)
                except Exception as exc:
                    failure = exc
        finally:
            flow.close()

    async def _perform(self, action: Action) -> Any:
        if isinstance(action, Send):
            return await self._http.send(self._build(action.request))
        if isinstance(action, Sleep):
            await asyncio.sleep(action.seconds)
            return None
        if isinstance(action, Authorize):
            return await self._authorize(action.refused)
        if isinstance(action, Stream):
            return await self._stream(action)
        raise TypeError(f"a flow yielded {action!r} where no item is expected")

    def _build(self, request: ApiRequest) -> httpx.Request:
        return self._http.build_request(
            request.method,
            request.url,
            headers=dict(request.headers),
            params=dict(request.params),
            json=request.json,
            timeout=request.timeout,
        )

    async def _authorize(self, refused: str | None) -> str:
        """The cached token, or a new one: one task fetches while the others wait for it."""
        async with self._token_lock:
            token = self._core.tokens.usable(refused)
            return token if token is not None else await self._run(self._core.fetch_token())

    async def _stream(self, action: Stream) -> httpx.Response:
        # No credentials with the signed URL (see `Client._stream`).
        request = self._http.build_request("GET", action.url, timeout=action.timeout)
        response = await self._http.send(request, stream=True, auth=None)
        try:
            if response.is_success:
                async for chunk in response.aiter_bytes():
                    action.sink.write(chunk)
            else:
                await response.aread()
        finally:
            await response.aclose()
        return response
