"""Private by default: the data directory and every directory in it 0700, every file 0600,
whatever the umask, after a full flow; and the entry point's own umask."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sqr_reports.app import create_app
from sqr_reports.cli import main
from sqr_reports.container import build_container
from sqr_reports.db.migrate import upgrade
from sqr_reports.keyfiles import PRIVATE_UMASK
from sqr_reports.rendering import Renderer
from tests.conftest import ALICE, add_user, connected, make_settings, register_org
from tests.support import Api, MovableClock


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The umask many systems default to: 0644 files and 0755 directories unless told."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _modes(root: Path) -> dict[str, int]:
    found = {".": root.stat().st_mode & 0o777}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = path.stat().st_mode & 0o777
    return found


def _not_private(modes: dict[str, int], root: Path) -> dict[str, str]:
    return {
        name: oct(mode)
        for name, mode in modes.items()
        if mode != (0o700 if (root / name).is_dir() else 0o600)
    }


async def test_a_full_flow_leaves_only_private_files(
    tmp_path: Path, renderer: Renderer, open_umask: None, no_env: None
) -> None:
    data = tmp_path / "data"
    settings = make_settings(data, "")  # the embedded default: SQLite in the data directory
    container = build_container(settings, MovableClock(), renderer)
    try:
        await upgrade(container.engine)
        org = await register_org(container, "Modes Ltd")
        await add_user(container, id=ALICE, first_name="Alice", connections=connected(org.org_id))
        transport = httpx.ASGITransport(app=create_app(container=container))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            api = Api(http)
            token = await api.token(org)
            job_id = (await api.create(token, ALICE)).json()["jobId"]
            assert await container.new_worker().drain() == 1
            url = (await api.url(token, job_id)).json()["url"]
            assert (await http.get(url)).status_code == 200
        modes = _modes(data)  # with the database open: its -wal and -shm too
    finally:
        await container.engines.dispose()  # not `close`: the render pool is the session's

    assert {"sqr-reports.db", "sqr-reports.db-wal", "keys", "blobs"} <= set(modes)
    assert any(name.endswith(".pdf") for name in modes)
    assert _not_private(modes, data) == {}


def test_an_earlier_releases_data_directory_is_narrowed(tmp_path: Path, open_umask: None) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    (data / "sqr-reports.db").touch(mode=0o644)  # an empty file is an empty database
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQR_REPORTS_")}

    subprocess.run(
        [sys.executable, "-m", "sqr_reports", "--data-dir", str(data), "org", "create", "Old"],
        env=env | {"SQR_REPORTS_AUTH__ARGON2_MEMORY_KIB": "1024"},
        check=True, capture_output=True,
    )  # fmt: skip

    assert _not_private(_modes(data), data) == {}


def test_the_entry_point_sets_a_private_umask(open_umask: None) -> None:
    with pytest.raises(SystemExit):
        main(["--version"])

    assert os.umask(0o022) == PRIVATE_UMASK
