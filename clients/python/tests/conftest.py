"""Fixtures of the SDK's tests: the live service (started once per test process: under
pytest-xdist, once per worker), its demo credentials, and clients that log what they send.

This folder has no `__init__.py`, and its modules are named `sdk_*` / `test_sdk_*`, so that
nothing here collides with the service's own `tests` package when both suites run together.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from sdk_doubles import RequestLog
from sdk_live import Org, Service, open_client, start
from sqr_reports_client import AsyncClient, Client


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """`sqr-reports serve`: the API and its worker, on SQLite, with the demo data."""
    running = start(tmp_path_factory.mktemp("sdk-service"), "serve")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def idle_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """`sqr-reports api` without any worker: its jobs stay PENDING, deterministically."""
    running = start(tmp_path_factory.mktemp("sdk-idle-service"), "api")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def demo(service: Service) -> Org:
    return service.demo


@pytest.fixture
def log() -> RequestLog:
    return RequestLog()


@pytest.fixture
def client(service: Service, demo: Org, log: RequestLog) -> Iterator[Client]:
    """A client of the demo org whose requests are logged in `log`."""
    with open_client(service, demo, log) as opened:
        yield opened


@pytest.fixture
async def async_client(service: Service, demo: Org, log: RequestLog) -> AsyncIterator[AsyncClient]:
    async with httpx.AsyncClient(event_hooks=log.async_hooks(), timeout=30) as http:
        yield AsyncClient(service.url, demo.client_id, demo.client_secret, http_client=http)
