"""`Client`: the blocking client. Its logic is in `_core`; this file only performs the I/O."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
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
from sqr_reports_client.models import DownloadUrl, Job, JobStatus

T = TypeVar("T")
#: How long `wait` waits by default: every job is terminal within minutes (the service's README).
DEFAULT_WAIT_SECONDS = 600.0


class Client:
    """A blocking client of the PDF Report API; safe to share between threads.

    ```python
    with Client("https://reports.example.com", client_id, client_secret) as client:
        job = client.wait(client.create("US1A2B3C4D5E6F78").job_id, raise_on_failure=True)
        client.download(job, "report.pdf")
    ```

    `http_client` lets you bring your own `httpx.Client` (proxies, certificates, event hooks);
    the client then neither configures nor closes it. `timeout` (seconds, or an
    `httpx.Timeout`) applies to each request; `max_retries` to transport errors, 5xx and 429.
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
        http_client: httpx.Client | None = None,
    ) -> None:
        credentials = Credentials.of(base_url, client_id, client_secret, scope)
        resolved = resolve_timeout(timeout, http_client)
        self._core = Core(credentials, timeout=resolved, retry=RetryPolicy(max_retries))
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=resolved)
        self._token_lock = threading.Lock()

    @classmethod
    def from_env(cls, **options: Any) -> Self:
        """A client from `SQR_API_URL` (default `http://127.0.0.1:8000`),
        `SQR_CLIENT_ID` and `SQR_CLIENT_SECRET`; `options` as for the
        constructor (`scope`, `timeout`, `max_retries`, `http_client`)."""
        return cls(*from_environment(), **options)

    def __repr__(self) -> str:
        credentials = self._core.credentials
        return f"Client(base_url={credentials.base_url!r}, client_id={credentials.client_id!r})"

    # -- the API -------------------------------------------------------------------------------

    def create(self, user_id: str, *, idempotency_key: str | None = None) -> Job:
        """Start a report job for `user_id`. Always idempotent: without `idempotency_key` a
        random one is used for this call's attempts; pass your own (an order id, say) to make
        a repeat of the whole call after a crash return the same job too."""
        return self._run(self._core.create(user_id, idempotency_key))

    def get(self, job_id: str) -> Job:
        """The job's current status."""
        return self._run(self._core.get(job_id))

    def wait(
        self,
        job_id: str,
        *,
        timeout: float = DEFAULT_WAIT_SECONDS,
        on_progress: Callable[[Job], object] | None = None,
        raise_on_failure: bool = False,
    ) -> Job:
        """Poll until the job is COMPLETE or FAILED and return it, following the service's
        `Retry-After`. A FAILED job is returned, unless `raise_on_failure` (then `JobFailed`).
        `on_progress` gets every status seen. Raises `WaitTimeout` after `timeout` seconds."""
        return self._run(self._core.wait(job_id, timeout, on_progress, raise_on_failure))

    def delete(self, job_id: str) -> None:
        """Delete the job's report and personal data now (scope `delete:reports`); a job still
        running is cancelled. Safe to repeat: deleting a deleted or expired report succeeds.
        Afterwards `download_url` raises `Gone`."""
        self._run(self._core.delete(job_id))

    def download_url(self, job_id: str) -> DownloadUrl:
        """A fresh signed URL for a COMPLETE job's PDF, valid for 300 s (`Unprocessable` for a
        job that is not COMPLETE). It needs no token: anyone holding it can download."""
        return self._run(self._core.download_url(job_id))

    def download(self, job: Job | str, path: str | PathLike[str]) -> Path:
        """Save the job's PDF at `path` and return it, verified against the job's size and
        SHA-256. Atomic: `path` gets the whole verified report or, on any failure, stays as it
        was (a previous file there is kept; delete it first if a stale one must not remain)."""
        return self._run(self._core.download(job, Path(path)))

    def list(
        self,
        *,
        status: JobStatus | str | None = None,
        user_id: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int | None = None,
        page_size: int | None = None,
    ) -> Iterator[Job]:
        """The org's jobs, newest first, fetched a page at a time as you iterate.

        `limit` caps how many jobs are yielded; `page_size` is how many each request asks for
        (the service's `limit`, 1-100, default 20). The time bounds are exclusive."""
        query = ListQuery(
            JobStatus(status) if status else None,
            user_id,
            created_after,
            created_before,
            limit,
            page_size,
        )
        return self._iterate(self._core.list(query))

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- running flows -------------------------------------------------------------------------

    def _run(self, flow: Flow[T]) -> T:
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
                    reply = self._perform(action)
                except Exception as exc:  # the flow decides: retry, or let it out
                    failure = exc
        finally:
            flow.close()

    def _iterate(self, flow: Flow[None]) -> Iterator[Job]:
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
                    reply = self._perform(action)
                except Exception as exc:
                    failure = exc
        finally:
            flow.close()

    def _perform(self, action: Action) -> Any:
        if isinstance(action, Send):
            return self._http.send(self._build(action.request))
        if isinstance(action, Sleep):
            time.sleep(action.seconds)
            return None
        if isinstance(action, Authorize):
            return self._authorize(action.refused)
        if isinstance(action, Stream):
            return self._stream(action)
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

    def _authorize(self, refused: str | None) -> str:
        """The cached token, or a new one: one thread fetches while the others wait for it."""
        with self._token_lock:
            token = self._core.tokens.usable(refused)
            return token if token is not None else self._run(self._core.fetch_token())

    def _stream(self, action: Stream) -> httpx.Response:
        # A plain GET: the signed URL is the credential, and it may be another host (S3), so
        # neither the bearer token nor the http client's own auth goes with it.
        request = self._http.build_request("GET", action.url, timeout=action.timeout)
        response = self._http.send(request, stream=True, auth=None)
        try:
            if response.is_success:
                for chunk in response.iter_bytes():
                    action.sink.write(chunk)
            else:
                response.read()
        finally:
            response.close()
        return response
