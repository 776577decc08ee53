"""`serve --demo` (`make run`) checks before it touches the demo data: a second one must not
give the demo client a new secret, which would break the walkthrough the first one printed."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from sqr_reports.cli.startup import DemoLock
from sqr_reports.config import Settings
from tests.conftest import Run
from tests.support import Api, ClientCredentials, free_port


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def _demo(run: Run) -> ClientCredentials:
    demo = json.loads(run("demo", "--json")[1])
    return ClientCredentials(demo["org_id"], demo["client_id"], demo["client_secret"])


async def test_a_busy_port_is_refused_before_the_demo_is_seeded_again(
    run: Run, api: Api, busy_port: int
) -> None:
    printed = _demo(run)

    code, out, err = run("serve", "--demo", "--port", str(busy_port))

    assert (code, out) == (1, "")
    assert f"port {busy_port} on 127.0.0.1 is already in use" in err
    assert f"make run PORT={busy_port + 1}" in err
    assert (await api.token(printed)).count(".") == 2  # the printed secret still works


async def test_a_second_demo_server_on_the_same_data_is_refused(
    run: Run, api: Api, settings: Settings
) -> None:
    printed = _demo(run)

    with DemoLock(settings.data_dir):  # as a running `serve --demo` holds it
        code, out, err = run("serve", "--demo", "--port", str(free_port()))

    assert (code, out) == (1, "")
    assert "another `sqr-reports serve --demo` is running on the data directory" in err
    assert (await api.token(printed)).count(".") == 2


def test_the_demo_lock_is_released_with_its_holder(settings: Settings) -> None:
    with DemoLock(settings.data_dir):
        pass
    with DemoLock(settings.data_dir):
        assert (settings.data_dir / "serve-demo.lock").stat().st_mode & 0o777 == 0o600
