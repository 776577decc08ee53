"""Where a client's settings come from: arguments, or the environment."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from sqr_reports_client.errors import ConfigurationError

URL_VARIABLE = "SQR_API_URL"
CLIENT_ID_VARIABLE = "SQR_CLIENT_ID"
CLIENT_SECRET_VARIABLE = "SQR_CLIENT_SECRET"  # noqa: S105 (a variable's name)
#: The names the first release read, still honoured when the documented ones are unset.
_FORMER_NAMES = {
    URL_VARIABLE: "SQR_REPORTS_URL",
    CLIENT_ID_VARIABLE: "SQR_REPORTS_CLIENT_ID",
    CLIENT_SECRET_VARIABLE: "SQR_REPORTS_CLIENT_SECRET",
}
#: The service's own default address (`sqr-reports serve`).
DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who the client is. The secret stays out of `repr`, so it cannot reach a log that way."""

    base_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str | None = None

    @classmethod
    def of(
        cls, base_url: str, client_id: str, client_secret: str, scope: str | Iterable[str] | None
    ) -> Credentials:
        if not client_id or not client_secret:
            raise ConfigurationError("a client id and a client secret are required")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigurationError(f"base_url must be an http(s) URL, not {base_url!r}")
        if scope is not None and not isinstance(scope, str):
            scope = " ".join(scope)
        return cls(base_url.rstrip("/"), client_id, client_secret, scope or None)


def environment_value(name: str, environ: Mapping[str, str] | None = None) -> str:
    """The variable `name`, or if it is unset the name the first release read instead."""
    env = os.environ if environ is None else environ
    return env.get(name) or env.get(_FORMER_NAMES.get(name, name), "")


def from_environment(environ: Mapping[str, str] | None = None) -> tuple[str, str, str]:
    """base URL, client id and secret from `SQR_API_URL` (default: the service's own default
    address), `SQR_CLIENT_ID` and `SQR_CLIENT_SECRET`."""
    client_id = environment_value(CLIENT_ID_VARIABLE, environ)
    secret = environment_value(CLIENT_SECRET_VARIABLE, environ)
    missing = [
        name
        for name, value in ((CLIENT_ID_VARIABLE, client_id), (CLIENT_SECRET_VARIABLE, secret))
        if not value
    ]
    if missing:
        raise ConfigurationError(f"set {' and '.join(missing)}")
    return environment_value(URL_VARIABLE, environ) or DEFAULT_URL, client_id, secret


def resolve_timeout(
    timeout: float | httpx.Timeout | None, http_client: httpx.Client | httpx.AsyncClient | None
) -> httpx.Timeout:
    """The caller's timeout; else the given httpx client's own; else 30 s."""
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if timeout is not None:
        return httpx.Timeout(timeout)
    if http_client is not None:
        return http_client.timeout
    return httpx.Timeout(DEFAULT_TIMEOUT_SECONDS)
