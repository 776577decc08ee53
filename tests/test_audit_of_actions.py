"""What the audit trail records beyond report access: tokens issued and refused, jobs created,
and every admin command that changes something, naming the operator; never a secret or a
token, never a throttled or malformed request; and the chain verifies after all of it."""

from __future__ import annotations

import getpass
import hashlib
import json
import socket
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from sqr_reports.auth.throttle import FailureThrottle
from sqr_reports.cli import command
from sqr_reports.container import Container
from tests.conftest import Run, register_org
from tests.support import Api, ClientCredentials, MovableClock

PER_CLIENT, PER_ADDRESS, WINDOW = 3, 50, 60
OPERATOR = f"ops-alice@{socket.gethostname()}"


@pytest.fixture
def operator(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(getpass, "getuser", lambda: "ops-alice")
    return OPERATOR


def _exported(run: Run) -> tuple[list[dict[str, Any]], str]:
    """The whole trail as `audit export` prints it, parsed and as printed."""
    code, out, err = run("audit", "export")
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()], out


def _events(records: list[dict[str, Any]], *events: str) -> list[dict[str, Any]]:
    return [r for r in records if r["event"] in events]


def _token_body(creds: ClientCredentials, **changes: str) -> dict[str, str]:
    body = {"grant_type": "client_credentials", "client_id": creds.client_id,
            "client_secret": creds.client_secret}  # fmt: skip
    return body | changes


async def test_a_grant_is_recorded_by_its_jti_never_by_the_token(
    run: Run, http: httpx.AsyncClient, org_a: ClientCredentials
) -> None:
    response = await http.post("/oauth2/token", json=_token_body(org_a, scope="read:reports"))
    token = response.json()["access_token"]

    records, printed = _exported(run)

    [issued] = _events(records, "token.issued")
    assert issued["actor"] == f"client:{org_a.client_id}"
    assert issued["org_id"] == org_a.org_id
    assert issued["source"] == "127.0.0.1"
    assert issued["request_id"] == response.headers["X-Request-ID"]
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    assert issued["details"] == {"scope": "read:reports", "jti": jti}
    assert token not in printed
    assert token.split(".")[2] not in printed  # not even its signature
    assert org_a.client_secret not in printed


async def test_refusals_of_checked_credentials_are_recorded_and_malformed_requests_are_not(
    run: Run, http: httpx.AsyncClient, container: Container
) -> None:
    narrow = await register_org(container, "Narrow Ltd", ["read:reports"])
    guess = "a-guessed-secret-" + "x" * 30
    long_id = "sqr_" + "y" * 300

    wrong = await http.post("/oauth2/token", json=_token_body(narrow, client_secret=guess))
    too_long = await http.post("/oauth2/token", json=_token_body(narrow, client_id=long_id))
    scope = await http.post("/oauth2/token", json=_token_body(narrow, scope="write:reports"))
    unrecorded = [
        await http.post("/oauth2/token", json=_token_body(narrow, grant_type="password")),
        await http.post("/oauth2/token", json={"client_id": narrow.client_id}),  # no grant_type
        await http.post(
            "/oauth2/token", content=b"{", headers={"Content-Type": "application/json"}
        ),
    ]
    records, printed = _exported(run)

    assert [wrong.status_code, too_long.status_code, scope.status_code] == [401, 401, 400]
    assert [r.status_code for r in unrecorded] == [400, 400, 400]
    refused = _events(records, "token.refused")
    assert [(r["actor"], r["org_id"], r["details"]) for r in refused] == [
        ("anonymous", None, {"client_id": narrow.client_id, "reason": "invalid_client"}),
        ("anonymous", None, {"client_id": _digest(long_id), "reason": "invalid_client"}),
        (f"client:{narrow.client_id}", narrow.org_id,
         {"client_id": narrow.client_id, "reason": "invalid_scope"}),
    ]  # fmt: skip
    assert all(r["source"] == "127.0.0.1" and r["request_id"] for r in refused)
    assert guess not in printed
    assert narrow.client_secret not in printed
    assert not _events(records, "token.issued")


async def test_a_secret_typed_as_the_client_id_is_not_recorded_but_an_id_of_ours_is(
    run: Run, http: httpx.AsyncClient, org_a: ClientCredentials
) -> None:
    swapped = _token_body(org_a, client_id=org_a.client_secret, client_secret=org_a.client_id)
    unknown_ours = "sqr_" + "0123456789abcdef01234567"  # the shape we issue, no such client

    answers = [
        (await http.post("/oauth2/token", json=swapped)).status_code,
        (await http.post("/oauth2/token", json=swapped)).status_code,
        (
            await http.post("/oauth2/token", json=_token_body(org_a, client_id=unknown_ours))
        ).status_code,
    ]
    records, printed = _exported(run)

    assert answers == [401, 401, 401]
    assert [r["details"]["client_id"] for r in _events(records, "token.refused")] == [
        _digest(org_a.client_secret), _digest(org_a.client_secret), unknown_ours,
    ]  # fmt: skip
    assert org_a.client_secret not in printed


def _digest(claimed: str) -> str:
    return "sha256:" + hashlib.sha256(claimed.encode()).hexdigest()[:16]


async def test_throttled_attempts_are_not_recorded_one_by_one(
    run: Run,
    http: httpx.AsyncClient,
    container: Container,
    clock: MovableClock,
    org_a: ClientCredentials,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    small = FailureThrottle(
        clock, per_client=PER_CLIENT, per_address=PER_ADDRESS, window_seconds=WINDOW
    )
    monkeypatch.setattr(container, "throttle", small)

    guess = _token_body(org_a, client_secret="guess")
    answers = [(await http.post("/oauth2/token", json=guess)).status_code for _ in range(23)]
    records, _ = _exported(run)

    assert answers == [401] * PER_CLIENT + [429] * (23 - PER_CLIENT)
    assert len(_events(records, "token.refused")) == PER_CLIENT


async def test_a_created_job_is_recorded_and_its_replay_is_not(
    run: Run, api: Api, org_a: ClientCredentials, token_a: str, alice: str
) -> None:
    first = await api.create(token_a, alice, key="same-key")
    replay = await api.create(token_a, alice, key="same-key")

    records, printed = _exported(run)

    assert (first.status_code, replay.headers.get("Idempotent-Replayed")) == (202, "true")
    [created] = _events(records, "job.created")
    assert created["actor"] == f"client:{org_a.client_id}"
    job_id = first.headers["Location"].rsplit("/", 1)[1]
    assert (created["org_id"], created["job_id"]) == (org_a.org_id, job_id)
    assert created["request_id"] == first.headers["X-Request-ID"]
    assert created["source"] == "127.0.0.1"
    assert created["user_id"] is None  # the trail outlives an erasure: it never names the user
    assert alice not in printed


@pytest.mark.usefixtures("operator")
async def test_admin_commands_are_recorded_with_the_operator_and_the_chain_verifies(
    run: Run, api: Api, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    org = json.loads(run("org", "create", "Delta Ltd", "--json")[1])["org_id"]
    client = json.loads(run("client", "create", "--org", org, "--json")[1])
    rotated = json.loads(run("client", "rotate-secret", client["client_id"], "--json")[1])
    creds = ClientCredentials(org, client["client_id"], rotated["client_secret"])
    token = await api.token(creds)
    await http.post("/oauth2/token", json=_token_body(creds, client_secret="wrong"))
    for args in (["org", "suspend", org], ["org", "suspend", org], ["org", "resume", org],
                 ["policy", "set", "--org", org, "--liveness-threshold", "80"],
                 ["client", "revoke", client["client_id"]], ["client", "revoke", creds.client_id],
                 ["keys", "rotate", "--signs-in", "0"]):  # fmt: skip
        assert run(*args)[0] == 0, args
    (tmp_path / "users.jsonl").write_text("not json\n")
    run("user", "import", str(tmp_path / "users.jsonl"))
    records, printed = _exported(run)
    verified = json.loads(run("audit", "verify", "--json")[1])

    events = [r["event"] for r in records]
    assert events == [
        "org.created", "client.created", "client.secret_rotated", "token.issued",
        "token.refused", "org.suspended", "org.resumed", "policy.set", "client.revoked",
        "key.rotated", "user.imported",
    ]  # fmt: skip
    admin = [r for r in records if not r["event"].startswith("token.")]
    assert {r["actor"] for r in admin} == {f"admin:{OPERATOR}"}
    unscoped = ("key.rotated", "user.imported")  # about no one org
    assert all(r["org_id"] == org for r in admin if r["event"] not in unscoped)
    by_event = {r["event"]: r["details"] for r in records}
    assert by_event["client.created"] == {"client_id": creds.client_id, "scope": client["scopes"]}
    assert by_event["policy.set"] == {"version": 1, "options": "liveness_threshold"}
    assert by_event["user.imported"] == {"file": "users.jsonl", "imported": 0, "rejected": 1}
    assert set(by_event["key.rotated"]) == {"kid"}
    for secret in (client["client_secret"], rotated["client_secret"], token):
        assert secret not in printed
    assert "wrong" not in printed
    assert verified["ok"] is True
    assert verified["checked"] == len(records)


def test_an_operator_without_a_login_name_is_still_named(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_login() -> str:
        raise OSError("no user for this uid")

    monkeypatch.setattr(getpass, "getuser", no_login)

    assert command.operator() == f"unknown@{socket.gethostname()}"
    assert command.admin_entry("org.created").actor == f"admin:unknown@{socket.gethostname()}"
