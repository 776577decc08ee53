"""`sqr-reports org ...` and `client ...`: list, show, suspend, resume, rotate a secret."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.conftest import Run
from tests.support import Api, ClientCredentials, assert_envelope

JOB = "/v1/document/api/3fa85f64-5717-4562-b3fc-2c963f66afa6"


def _json(run: Run, *args: str) -> dict[str, Any]:
    code, out, err = run(*args, "--json")
    assert (code, err) == (0, ""), err
    record: dict[str, Any] = json.loads(out)
    return record


def test_org_names_are_unique_ignoring_case(run: Run) -> None:
    first = _json(run, "org", "create", "Gamma Bets plc")

    code, out, err = run("org", "create", "  GAMMA bets PLC ", "--json")

    assert (code, out) == (1, "")
    assert err == f"error: An org named 'Gamma Bets plc' exists already: {first['org_id']}\n"


def test_org_list_and_show_by_id_or_name(
    run: Run, org_a: ClientCredentials, org_b: ClientCredentials
) -> None:
    listed = _json(run, "org", "list")
    by_name = _json(run, "org", "show", "alpha gaming ltd")
    by_id = _json(run, "org", "show", org_a.org_id)
    code, text, _ = run("org", "show", org_a.org_id)

    assert [o["org_id"] for o in listed["orgs"]] == [org_a.org_id, org_b.org_id]
    assert by_name == by_id
    assert by_id["name"] == "Alpha Gaming Ltd"
    assert by_id["status"] == "ACTIVE"
    assert [c["client_id"] for c in by_id["clients"]] == [org_a.client_id]
    assert code == 0
    assert org_a.client_id in text
    assert "argon2" not in json.dumps(by_id) + text  # never the secret's hash


def test_an_unknown_org_is_a_clear_error(run: Run) -> None:
    for command in ("show", "suspend", "resume"):
        code, out, err = run("org", command, "No Such Org")
        assert (code, out, err) == (1, "", "error: No org with id or name 'No Such Org'\n")


async def test_a_suspended_org_is_refused_from_the_next_call_and_resumed(
    run: Run, api: Api, http: httpx.AsyncClient, org_a: ClientCredentials, token_a: str
) -> None:
    auth = {"Authorization": f"Bearer {token_a}"}
    assert (await http.get(JOB, headers=auth)).status_code == 404  # the token is now cached

    code, out, _ = run("org", "suspend", "Alpha Gaming Ltd")
    refused = await http.get(JOB, headers=auth)
    token_refused = await http.post("/oauth2/token", json={
        "client_id": org_a.client_id, "client_secret": org_a.client_secret,
        "grant_type": "client_credentials"})  # fmt: skip
    again = run("org", "suspend", org_a.org_id, "--json")
    run("org", "resume", org_a.org_id)
    resumed = await http.get(JOB, headers=auth)

    assert code == 0
    assert "is now suspended" in out
    assert_envelope(refused, 403, "FORBIDDEN")
    assert token_refused.status_code == 401
    assert json.loads(again[1])["changed"] is False
    assert resumed.status_code == 404
    assert (await api.token(org_a)).count(".") == 2


def test_client_list_and_show(run: Run, org_a: ClientCredentials, org_b: ClientCredentials) -> None:
    every = _json(run, "client", "list")
    of_b = _json(run, "client", "list", "--org", "BETA ESPORTS GMBH")
    shown = _json(run, "client", "show", org_a.client_id)
    code, text, _ = run("client", "list")

    assert {c["client_id"] for c in every["clients"]} == {org_a.client_id, org_b.client_id}
    assert [c["client_id"] for c in of_b["clients"]] == [org_b.client_id]
    assert set(shown) == {"client_id", "org_id", "status", "scopes", "created_at", "revoked_at"}
    assert (shown["org_id"], shown["status"]) == (org_a.org_id, "ACTIVE")
    assert code == 0
    assert org_b.client_id in text
    assert "argon2" not in json.dumps([every, shown]) + text
    assert run("client", "show", "nobody") == (1, "", "error: No client with id nobody\n")


async def test_rotate_secret_prints_a_new_secret_once_and_the_old_one_stops_at_once(
    run: Run, api: Api, http: httpx.AsyncClient, org_a: ClientCredentials
) -> None:
    rotated = _json(run, "client", "rotate-secret", org_a.client_id)
    old = await http.post("/oauth2/token", json={
        "client_id": org_a.client_id, "client_secret": org_a.client_secret,
        "grant_type": "client_credentials"})  # fmt: skip
    new = ClientCredentials(org_a.org_id, org_a.client_id, str(rotated["client_secret"]))

    assert set(rotated) == {"client_id", "client_secret"}
    assert old.status_code == 401
    assert (await api.token(new)).count(".") == 2
    assert "shown only once" in run("client", "rotate-secret", org_a.client_id)[1]


def test_a_revoked_client_gets_no_new_secret(run: Run, org_a: ClientCredentials) -> None:
    run("client", "revoke", org_a.client_id)

    code, out, err = run("client", "rotate-secret", org_a.client_id)

    assert (code, out) == (1, "")
    assert "is revoked" in err
    assert _json(run, "client", "show", org_a.client_id)["status"] == "REVOKED"
