"""Everything `Client` and `AsyncClient` do, written once, without doing any I/O ("sans-I/O").

Each operation is a generator (a *flow*) that yields the I/O it needs as small action objects
and receives the outcome: `Send` an HTTP request (the reply is the response, body read), `Sleep`,
`Authorize` (the reply is a bearer token, from the cache or fetched under a lock), `Stream` a
download into a file, and `Emit` an item of a listing to the caller. A transport error is thrown
into the flow where it yielded. The two clients only run flows: one with blocking calls and a
thread lock, the other with `await` and an asyncio lock. So request building, retries, token
refresh, the polling schedule, paging, download verification and error mapping cannot drift
apart between them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx

from sqr_reports_client._actions import (
    ApiRequest,
    Authorize,
    Emit,
    Flow,
    Send,
    Sleep,
    Stream,
)
from sqr_reports_client._config import Credentials
from sqr_reports_client._download import PartialFile
from sqr_reports_client._listing import ListQuery
from sqr_reports_client._polling import (
    MIN_POLL_SECONDS,
    poll_delay,
    prefer_wait,
    preference_applied,
)
from sqr_reports_client._retry import RETRYABLE_STATUSES, RetryPolicy
from sqr_reports_client._tokens import Grant, TokenCache
from sqr_reports_client._version import __version__
from sqr_reports_client.errors import (
    ApiError,
    AuthenticationError,
    JobFailed,
    TransportError,
    WaitTimeout,
    error_from_response,
    token_refused,
)
from sqr_reports_client.models import DownloadUrl, Job, JobPage, JobStatus

T = TypeVar("T")
JOBS_PATH = "/v1/document/api"
TOKEN_PATH = "/oauth2/token"  # noqa: S105 (a path)
USER_AGENT = f"sqr-reports-client/{__version__} httpx/{httpx.__version__}"


class Core:
    """The flows of one client: its credentials, timeouts, retry policy and token cache."""

    def __init__(
        self, credentials: Credentials, *, timeout: httpx.Timeout, retry: RetryPolicy
    ) -> None:
        self.credentials = credentials
        self.timeout = timeout
        self.retry = retry
        self.tokens = TokenCache()
        #: The clock `wait` measures its timeout on.
        self.clock: Callable[[], float] = time.monotonic

    def __repr__(self) -> str:
        return f"Core({self.credentials!r})"

    # -- the operations ------------------------------------------------------------------------

    def fetch_token(self) -> Flow[str]:
        """A new token from the token endpoint (JSON body, as SQR documents it)."""
        body = {
            "grant_type": "client_credentials",
            "client_id": self.credentials.client_id,
            "client_secret": self.credentials.client_secret,
        }
        if self.credentials.scope:
            body["scope"] = self.credentials.scope
        requested_at = self.tokens.clock()
        response = yield from self._send(self._request("POST", TOKEN_PATH, json=body))
        return self.tokens.store(_parsed(response, Grant.from_json), requested_at)

    def create(self, user_id: str, idempotency_key: str | None) -> Flow[Job]:
        # One key for every attempt: a retried creation is answered with the first one's job.
        key = idempotency_key or str(uuid.uuid4())
        request = self._request(
            "POST", JOBS_PATH, json={"userId": user_id}, headers={"Idempotency-Key": key}
        )
        response = yield from self._call(request)
        return _parsed(response, Job.from_json)

    def get(self, job_id: str) -> Flow[Job]:
        response = yield from self._status(job_id, None)
        return _parsed(response, Job.from_json)

    def wait(
        self,
        job_id: str,
        timeout: float,
        on_progress: Callable[[Job], object] | None,
        raise_on_failure: bool,
    ) -> Flow[Job]:
        """Poll until COMPLETE or FAILED, on the service's schedule, within `timeout` seconds."""
        started = self.clock()
        deadline = started + timeout
        while True:
            asked = self.clock()
            response = yield from self._status(job_id, prefer_wait(deadline - asked))
            job = _parsed(response, Job.from_json)
            if on_progress is not None:
                on_progress(job)
            if job.status.is_terminal:
                if raise_on_failure and job.status == JobStatus.FAILED:
                    raise JobFailed(job)
                return job
            now = self.clock()
            if now >= deadline:
                raise WaitTimeout(job, timeout)
            if preference_applied(response):  # the service already waited: ask again now
                delay = max(0.0, MIN_POLL_SECONDS - (now - asked))
            else:
                delay = poll_delay(response, job, now - started)
            yield Sleep(min(delay, deadline - now))

    def delete(self, job_id: str) -> Flow[None]:
        yield from self._call(self._request("DELETE", _job_path(job_id)))

    def download_url(self, job_id: str) -> Flow[DownloadUrl]:
        response = yield from self._call(self._request("GET", f"{_job_path(job_id)}/url"))
        return _parsed(response, DownloadUrl.from_json)

    def download(self, job: Job | str, path: Path) -> Flow[Path]:
        """Stream the PDF beside `path`, verify it against the job, rename it into place.

        The URL is minted first, so a job that is not COMPLETE gets the service's own 422."""
        job_id = job.job_id if isinstance(job, Job) else job
        link = yield from self.download_url(job_id)
        if not isinstance(job, Job) or job.sha256 is None or job.size_bytes is None:
            job = yield from self.get(job_id)
        with PartialFile(path) as sink:
            yield from self._stream(job_id, link, sink)
            return sink.commit(size=job.size_bytes, sha256=job.sha256)

    def list(self, query: ListQuery) -> Flow[None]:
        """Every job the query admits, newest first, following `nextCursor` page by page."""
        cursor: str | None = None
        emitted = 0
        while True:
            response = yield from self._call(
                self._request("GET", JOBS_PATH, params=query.params(cursor))
            )
            page = _parsed(response, JobPage.from_json)
            for job in page.items:
                if query.is_past(job):
                    return
                if query.wants(job):
                    yield Emit(job)
                    emitted += 1
                    if query.limit is not None and emitted >= query.limit:
                        return
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    # -- requests, retries, tokens -------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> ApiRequest:
        return ApiRequest(
            method=method,
            url=self.credentials.base_url + path,
            timeout=timeout or self.timeout,
            headers={"Accept": "application/json", "User-Agent": USER_AGENT, **(headers or {})},
            params=params or {},
            json=json,
        )

    def _status(self, job_id: str, prefer_wait_seconds: int | None) -> Flow[httpx.Response]:
        """GET the job; with `Prefer: wait=N` the read timeout grows by N, as the service may
        hold the answer that long."""
        if prefer_wait_seconds is None:
            request = self._request("GET", _job_path(job_id))
        else:
            request = self._request(
                "GET",
                _job_path(job_id),
                headers={"Prefer": f"wait={prefer_wait_seconds}"},
                timeout=_longer_read(self.timeout, prefer_wait_seconds),
            )
        return (yield from self._call(request))

    def _call(self, request: ApiRequest) -> Flow[httpx.Response]:
        """An authorised request. A token the service refuses is replaced once: it may have
        expired early, or the service's keys may have rotated."""
        token: str = yield Authorize()
        try:
            return (yield from self._send(request.with_bearer(token)))
        except AuthenticationError as error:
            if not token_refused(error):
                raise
        token = yield Authorize(refused=token)
        return (yield from self._send(request.with_bearer(token)))

    def _send(self, request: ApiRequest) -> Flow[httpx.Response]:
        """One request, repeated after transport errors, 5xx and 429 (see `_retry`)."""
        attempt = 0
        while True:
            try:
                response: httpx.Response = yield Send(request)
            except httpx.TransportError as exc:
                delay = None if _hopeless(exc) else self.retry.delay(attempt)
                if delay is None:
                    raise TransportError(_unreachable(request.method, request.url, exc)) from exc
            else:
                if response.is_success:
                    return response
                error = error_from_response(response)
                delay = self._retry_delay(error, attempt)
                if delay is None:
                    raise error
            yield Sleep(delay)
            attempt += 1

    def _retry_delay(self, error: ApiError, attempt: int) -> float | None:
        if error.status_code not in RETRYABLE_STATUSES:
            return None
        return self.retry.delay(attempt, error.retry_after)

    def _stream(self, job_id: str, link: DownloadUrl, sink: PartialFile) -> Flow[None]:
        """The download, retried like any request, each time with a fresh URL (the previous
        one may have expired meanwhile) and from the first byte."""
        attempt = 0
        while True:
            try:
                response: httpx.Response = yield Stream(link.url, sink, self.timeout)
            except httpx.TransportError as exc:
                delay = None if _hopeless(exc) else self.retry.delay(attempt)
                if delay is None:
                    raise TransportError(f"the download of job {job_id} failed: {exc}") from exc
            else:
                if response.is_success:
                    return
                error = error_from_response(response)
                delay = self._retry_delay(error, attempt)
                if delay is None:
                    raise error
            sink.restart()
            yield Sleep(delay)
            attempt += 1
            link = yield from self.download_url(job_id)


def _parsed(response: httpx.Response, parse: Callable[[Any], T]) -> T:
    """The answer's JSON as `parse` reads it; an answer that is not the API's (a proxy's page
    with a 200, say) is an `ApiError` too, so callers handle one tree of exceptions."""
    try:
        return parse(response.json())
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ApiError(
            response.status_code,
            error="UNEXPECTED_RESPONSE",
            message="the answer is not the JSON this API sends",
            headers=response.headers,
        ) from exc


def _job_path(job_id: str) -> str:
    return f"{JOBS_PATH}/{quote(job_id, safe='')}"


def _longer_read(timeout: httpx.Timeout, extra: float) -> httpx.Timeout:
    read = None if timeout.read is None else timeout.read + extra
    return httpx.Timeout(connect=timeout.connect, read=read, write=timeout.write, pool=timeout.pool)


def _hopeless(exc: httpx.TransportError) -> bool:
    """Errors no retry can cure: a URL httpx cannot send to."""
    return isinstance(exc, httpx.UnsupportedProtocol)


def _unreachable(method: str, url: str, exc: httpx.TransportError) -> str:
    """What failed, naming the service without any user:password@ a base URL might carry."""
    parts = urlsplit(url)
    where = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
    return f"{method} {where} failed: {type(exc).__name__}: {exc or 'no detail'}"
