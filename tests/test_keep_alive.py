"""An idle connection stays open for `http_keep_alive_seconds`, not uvicorn's 5 s: a client
polling as the contract advises (every 10-15 s at most), or a proxy with a 60 s idle timeout,
must not send its next request down a connection the server is closing at that moment."""

from __future__ import annotations

import http.client
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from sqr_reports.config import Settings
from sqr_reports.reports.service import POLL_FAST_SECONDS, POLL_SLOW_SECONDS
from tests.support import SQR_REPORTS, command_environment, free_port


@pytest.fixture(scope="module")
def server_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """`serve` with a keep-alive of 2 s, so the test can watch it end."""
    data_dir = tmp_path_factory.mktemp("keep-alive")
    port = free_port()
    server = subprocess.Popen(
        [SQR_REPORTS, "serve", "--port", str(port)],
        env=command_environment(data_dir, HTTP_KEEP_ALIVE_SECONDS="2"),
        cwd=data_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _until_listening(port)
        yield port
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def _until_listening(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the server did not start listening")


def _healthz(connection: http.client.HTTPConnection) -> int:
    connection.request("GET", "/healthz")
    response = connection.getresponse()
    response.read()
    return response.status


def test_an_idle_connection_serves_again_within_the_keep_alive(server_port: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server_port, timeout=5)
    try:
        assert _healthz(connection) == 200
        first = connection.sock
        time.sleep(1)
        assert _healthz(connection) == 200
        assert connection.sock is first  # the same connection, not a new one
    finally:
        connection.close()


def test_the_server_closes_a_connection_idle_past_the_keep_alive(server_port: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server_port, timeout=10)
    try:
        assert _healthz(connection) == 200
        started = time.monotonic()
        assert connection.sock.recv(1) == b""  # the server's FIN: it closed the idle connection
        assert 1.5 < time.monotonic() - started < 4  # 2 s, not uvicorn's default 5
    finally:
        connection.close()


def test_by_default_a_connection_outlives_the_longest_advised_poll_and_a_proxys_idle() -> None:
    usual_proxy_idle = 60  # AWS load balancers' and nginx's idle timeouts
    default = Settings.model_fields["http_keep_alive_seconds"].default
    assert default > max(POLL_SLOW_SECONDS, POLL_FAST_SECONDS, usual_proxy_idle)
