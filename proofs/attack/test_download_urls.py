"""A download URL works exactly as it was signed, for its lifetime, and in no other form."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from proofs.attack.conftest import URL_TTL_SECONDS, World, assert_envelope
from proofs.live import JOBS, bearer


def _signed(http: httpx.Client, world: World, job_id: str | None = None) -> str:
    response = http.get(f"{JOBS}/{job_id or world.job_a}/url", headers=bearer(world.token_a))
    assert response.status_code == 200, response.text
    url: str = response.json()["url"]
    return url


def _with_query(url: str, pairs: list[tuple[str, str]], *, raw: str | None = None) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=raw if raw is not None else urlencode(pairs)))


def _expires_rewritten(url: str, spell: str) -> str:
    """The same `expires` value, spelled another way (percent-encoded as needed)."""
    pairs = parse_qsl(urlsplit(url).query)
    raw = "&".join(
        f"{name}={quote(spell.format(value)) if name == 'expires' else quote(value, safe='')}"
        for name, value in pairs
    )
    return _with_query(url, [], raw=raw)


def _to_digits(value: str, zero: int) -> str:
    return "".join(chr(zero + int(d)) for d in value)


def test_the_url_as_signed_downloads_the_report(http: httpx.Client, world: World) -> None:
    response = http.get(_signed(http, world))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")


TAMPERINGS: dict[str, Callable[[str], str]] = {
    "signature changed": lambda url: url.replace("signature=", "signature=AA", 1),
    "expires leading zero": lambda url: _expires_rewritten(url, "0{}"),
    "expires superscript two": lambda url: _expires_rewritten(url, "\u00b2"),
    "expires plus sign": lambda url: _expires_rewritten(url, "+{}"),
    "expires far future": lambda url: _expires_rewritten(url, "9{}"),
    "expires repeated": lambda url: url + "&expires=1",
    "signature repeated": lambda url: url + "&signature=x",
    "extra parameter": lambda url: url + "&download=1",
    "filename changed": lambda url: url.replace("filename=", "filename=x", 1),
    "path of another object": lambda url: url.replace("/reports/", "/reports/../", 1),
}


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
def test_a_tampered_url_is_refused(http: httpx.Client, world: World, tampering: str) -> None:
    assert_envelope(http.get(TAMPERINGS[tampering](_signed(http, world))), 403)


@pytest.mark.parametrize(("script", "zero"), [("Arabic-Indic", 0x660), ("fullwidth", 0xFF10)])
def test_the_same_expiry_in_other_digits_is_refused(
    http: httpx.Client, world: World, script: str, zero: int
) -> None:
    url = _signed(http, world)
    expires = dict(parse_qsl(urlsplit(url).query))["expires"]
    spelled = _expires_rewritten(url, _to_digits(expires, zero))
    assert_envelope(http.get(spelled), 403)


def test_another_jobs_signature_does_not_open_this_job(http: httpx.Client, world: World) -> None:
    mine, theirs = _signed(http, world), _signed(http, world, world.job_a)
    theirs_query = urlsplit(theirs).query
    other = http.get(f"{JOBS}/{world.job_b}/url", headers=bearer(world.token_b)).json()["url"]
    forged = urlunsplit(urlsplit(other)._replace(query=theirs_query))
    assert http.get(mine).status_code == 200
    assert_envelope(http.get(forged), 403)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_a_download_url_answers_get_only(http: httpx.Client, world: World, method: str) -> None:
    response = http.request(method, _signed(http, world))
    assert_envelope(response, 405)


def test_a_url_stops_working_when_it_expires(http: httpx.Client, world: World) -> None:
    url = _signed(http, world)
    assert http.get(url).status_code == 200
    time.sleep(URL_TTL_SECONDS + 1.1)
    assert_envelope(http.get(url), 403)
