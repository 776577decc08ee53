"""The `sqr-reports` admin commands, run as an operator would (same settings, same database)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from sqr_reports.cli import main
from sqr_reports.container import Container
from sqr_reports.users.models import AppUser
from tests.conftest import Run
from tests.support import Api, ClientCredentials


async def test_org_and_client_create_give_working_credentials(
    run: Run,
    api: Api,
    http: httpx.AsyncClient,
) -> None:
    code, out, _ = run("org", "create", "Gamma Bets plc", "--json")
    assert code == 0
    org = json.loads(out)

    code, out, _ = run("client", "create", "--org", org["org_id"], "--scopes", "read:reports",
                       "--json")  # fmt: skip
    assert code == 0
    client = json.loads(out)
    assert set(client) == {"client_id", "client_secret", "org_id", "scopes"}
    assert client["org_id"] == org["org_id"]
    assert client["scopes"] == "read:reports"

    creds = ClientCredentials(org["org_id"], client["client_id"], client["client_secret"])
    token = await api.token(creds)
    assert (await api.status(token, "3fa85f64-5717-4562-b3fc-2c963f66afa6")).status_code == 404

    code, out, _ = run("client", "revoke", client["client_id"])
    assert code == 0
    assert (await api.status(token, "3fa85f64-5717-4562-b3fc-2c963f66afa6")).status_code == 401


def test_client_for_unknown_org_or_scope_is_an_error(run: Run) -> None:
    code, _, err = run("client", "create", "--org", "no-such-org")
    assert code == 1
    assert "No org" in err

    _, out, _ = run("org", "create", "Delta", "--json")
    code, _, err = run("client", "create", "--org", json.loads(out)["org_id"], "--scopes", "admin")
    assert code == 1
    assert "Scopes must be" in err


async def test_user_import_reports_bad_lines_and_writes_nothing_of_them(
    run: Run,
    tmp_path: Path,
    org_a: ClientCredentials,
    container: Container,
) -> None:
    good = {"id": "USIMPORTED000001", "first_name": "Ines", "fmc_score": 88.0,
            "connections": [{"org_id": org_a.org_id, "connection_status": "CONNECTED",
                             "data_sharing_agreed": True}]}  # fmt: skip
    lines = [
        json.dumps(good),
        '{"id": "lowercase-id"}',
        "{not json",
        json.dumps({**good, "id": "USIMPORTED000002", "fmc_score": 140}),
        json.dumps({**good, "id": "USIMPORTED000003", "connections": [
            {"org_id": "unknown-org", "connection_status": "CONNECTED",
             "data_sharing_agreed": True}]}),
        json.dumps({**good, "id": "USIMPORTED000004", "shoe_size": 44}),
        "",
        json.dumps({**good, "id": "USIMPORTED000005", "first_name": "nul\u0000byte"}),
    ]  # fmt: skip
    path = tmp_path / "users.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")

    code, out, err = run("user", "import", str(path))

    assert code == 1
    assert "imported 1 user(s), rejected 6 line(s)" in out
    for number in (2, 3, 4, 5, 6, 8):
        assert f"line {number}:" in err
    assert "fmc_score" in err
    assert "unknown org_id" in err
    assert "shoe_size" in err
    assert "NUL" in err
    async with container.sessions() as session:
        stored = (await session.execute(select(AppUser.id))).scalars().all()
    assert stored == ["USIMPORTED000001"]


async def test_user_import_upserts(
    run: Run,
    tmp_path: Path,
    container: Container,
    org_a: ClientCredentials,
) -> None:
    record = {"id": "USUPSERT00000001", "last_name": "Before"}
    path = tmp_path / "users.jsonl"
    path.write_text(json.dumps(record), encoding="utf-8")
    assert run("user", "import", str(path))[0] == 0
    path.write_text(json.dumps({**record, "last_name": "After"}), encoding="utf-8")
    assert run("user", "import", str(path))[0] == 0

    async with container.sessions() as session:
        user = await session.get(AppUser, "USUPSERT00000001")
    assert user is not None
    assert user.last_name == "After"


async def test_demo_prints_working_credentials_and_users(
    run: Run,
    api: Api,
) -> None:
    code, out, _ = run("demo", "--json")
    assert code == 0
    demo = json.loads(out)
    assert {"org_id", "client_id", "client_secret", "users"} <= set(demo)
    assert len(demo["users"]) >= 5

    creds = ClientCredentials(demo["org_id"], demo["client_id"], demo["client_secret"])
    token = await api.token(creds)
    assert (await api.create(token, demo["users"][0]["id"])).status_code == 202

    code, out, _ = run("demo")  # again: same ids, a new secret
    assert code == 0
    assert "Client secret" in out
    assert demo["client_secret"] not in out


@pytest.mark.parametrize("before", [True, False], ids=["before-command", "after-command"])
def test_data_dir_is_honoured_before_or_after_the_command(
    tmp_path: Path, before: bool, monkeypatch: pytest.MonkeyPatch, no_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    data_dir = tmp_path / "elsewhere"
    option = ["--data-dir", str(data_dir)]
    command = ["org", "create", "Epsilon", "--json"]

    with ThreadPoolExecutor(1) as pool:
        code = pool.submit(main, option + command if before else command + option).result()

    assert code == 0
    assert (data_dir / "sqr-reports.db").is_file()
    assert not (tmp_path / "data").exists()
    assert json.loads(capsys.readouterr().out)["name"] == "Epsilon"
