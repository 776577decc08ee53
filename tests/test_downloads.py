"""Signed download URLs of the embedded store: 300 s, one object, GET only, tamper-proof."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from sqr_reports.container import Container
from sqr_reports.queue.worker import Worker
from tests.fakes import FakeRenderer
from tests.support import Api, MovableClock, assert_envelope


@pytest.fixture
def renderer() -> FakeRenderer:
    """The URLs are the subject here, not the PDF: a stand-in saves a real render per test."""
    return FakeRenderer()


@pytest.fixture
async def completed_job(api: Api, token_a: str, alice: str, worker: Worker) -> str:
    job_id: str = (await api.create(token_a, alice)).json()["jobId"]
    await worker.drain()
    return job_id


async def _mint(api: Api, token: str, job_id: str) -> str:
    response = await api.url(token, job_id)
    assert response.status_code == 200, response.text
    url: str = response.json()["url"]
    return url


#: Digits 0-9 as their fullwidth forms (U+FF10-U+FF19), which `int()` would also accept.
FULLWIDTH = {ord("0") + i: 0xFF10 + i for i in range(10)}


def _param(url: str, name: str) -> str:
    return parse_qs(urlsplit(url).query)[name][0]


def _with(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(query)}"


async def test_url_downloads_within_300_seconds_and_not_after(
    api: Api, http: httpx.AsyncClient, token_a: str, completed_job: str, clock: MovableClock
) -> None:
    url = await _mint(api, token_a, completed_job)

    clock.advance(299)
    assert (await http.get(url)).status_code == 200
    clock.advance(2)
    expired = await http.get(url)

    assert_envelope(expired, 403, "FORBIDDEN")


async def test_every_call_mints_a_new_url(
    api: Api, token_a: str, completed_job: str, clock: MovableClock
) -> None:
    first = await _mint(api, token_a, completed_job)
    clock.advance(1)

    assert await _mint(api, token_a, completed_job) != first


@pytest.mark.parametrize(
    "tamper",
    [
        lambda url: _with(url, signature="0" * 64),
        lambda url: _with(url, expires=str(int(parse_qs(urlsplit(url).query)["expires"][0]) + 1)),
        lambda url: _with(url, filename="other.pdf"),
        lambda url: url.replace("/1.pdf", "/2.pdf"),
        lambda url: url.split("?")[0],
        lambda url: _with(url, expires="0" + _param(url, "expires")),
        lambda url: _with(url, expires=_param(url, "expires").translate(FULLWIDTH)),
        lambda url: _with(url, expires="²"),
        lambda url: f"{url}&expires={_param(url, 'expires')}",
        lambda url: url.replace("expires=", "expires=1&expires=", 1),
        lambda url: f"{url}&extra=1",
        lambda url: url.replace("/reports/", "/reports%2F", 1),
    ],
    ids=[
        "signature",
        "expiry",
        "filename",
        "object",
        "no-query",
        "leading-zero",
        "fullwidth",
        "superscript",
        "repeated",
        "repeated-first",
        "extra-parameter",
        "encoded-slash",
    ],
)
async def test_any_altered_part_is_refused(
    api: Api, http: httpx.AsyncClient, token_a: str, completed_job: str, tamper: object
) -> None:
    assert callable(tamper)
    url = await _mint(api, token_a, completed_job)

    response = await http.get(tamper(url))

    assert_envelope(response, 403, "FORBIDDEN")


async def test_only_get_is_allowed(
    api: Api, http: httpx.AsyncClient, token_a: str, completed_job: str
) -> None:
    url = await _mint(api, token_a, completed_job)

    for method in ("PUT", "POST", "DELETE"):
        assert (await http.request(method, url)).status_code == 405


async def test_download_scope_and_org_are_checked_on_every_call(
    api: Api, token_a: str, token_b: str, completed_job: str, org_a: object
) -> None:
    assert (await api.url(token_a, completed_job)).status_code == 200
    assert_envelope(await api.url(token_b, completed_job), 404, "NOT_FOUND")


async def test_urls_are_made_absolute_with_the_public_url_and_its_path(
    api: Api, http: httpx.AsyncClient, token_a: str, completed_job: str, container: Container
) -> None:
    """Behind a proxy that serves the API under a path, the URL keeps that path."""
    container.settings.public_url = "https://reports.example.test/sqr/"

    url = await _mint(api, token_a, completed_job)

    assert url.startswith("https://reports.example.test/sqr/v1/downloads/")
    served = urlsplit(url)  # what the proxy passes on: the path without its own prefix
    download = await http.get(f"{served.path.removeprefix('/sqr')}?{served.query}")
    assert download.status_code == 200
    assert download.content.startswith(b"%PDF-")
