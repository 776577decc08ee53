"""Verdict policies: versioned per org, pinned to each job when it is created, printed in the
report and carried in its attached data."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from sqr_reports.config import VerdictPolicy
from sqr_reports.container import Container
from sqr_reports.errors import BadRequest, NotFound
from sqr_reports.policies import service as policies
from sqr_reports.queue.worker import Worker
from tests.conftest import Run
from tests.support import Api, ClientCredentials


async def _set(container: Container, org_id: str, **changes: Any) -> policies.AppliedPolicy:
    async with container.sessions.begin() as session:
        applied, _ = await policies.set_policy(
            session, org_id, changes, clock=container.db_clock, default=container.settings.verdict
        )
    return applied


async def _report_data(api: Api, http: httpx.AsyncClient, token: str, job_id: str) -> Any:
    url = (await api.url(token, job_id)).json()["url"]
    pdf = (await http.get(url)).content
    attachment = PdfReader(io.BytesIO(pdf)).attachments["report-data.json"][0]
    return json.loads(attachment)


async def test_an_org_without_a_policy_gets_the_deployment_default(
    container: Container, org_a: ClientCredentials
) -> None:
    async with container.sessions() as session:
        applied = await policies.current(session, org_a.org_id, VerdictPolicy(minimum_age=21))

    assert (applied.version, applied.source) == (0, "deployment default")
    assert applied.values.minimum_age == 21


async def test_each_change_is_a_new_version_and_no_change_adds_none(
    container: Container, org_a: ClientCredentials
) -> None:
    first = await _set(container, org_a.org_id, minimum_age=21)
    second = await _set(container, org_a.org_id, face_match_threshold=90)
    async with container.sessions.begin() as session:
        same, changed = await policies.set_policy(
            session, org_a.org_id, {"minimum_age": 21}, clock=container.db_clock,
            default=container.settings.verdict,
        )  # fmt: skip

    assert (first.version, second.version, same.version, changed) == (1, 2, 2, False)
    assert (second.values.minimum_age, second.values.face_match_threshold) == (21, 90)


@pytest.mark.parametrize(
    "changes",
    [{"minimum_age": -1}, {"liveness_threshold": 101}, {"refer_floor": 95},
     {"minor_outcome": "PASS"}, {"max_verification_age_days": 0}],
)  # fmt: skip
async def test_an_invalid_policy_is_refused_and_nothing_is_written(
    container: Container, org_a: ClientCredentials, changes: dict[str, Any]
) -> None:
    with pytest.raises(BadRequest):
        await _set(container, org_a.org_id, **changes)

    async with container.sessions() as session:
        assert (await policies.current(session, org_a.org_id, VerdictPolicy())).version == 0


async def test_a_policy_for_an_unknown_org_is_refused(container: Container) -> None:
    with pytest.raises(NotFound):
        await _set(container, "no-such-org", minimum_age=21)


async def test_a_job_is_judged_under_the_policy_in_force_when_it_was_created(
    api: Api, http: httpx.AsyncClient, container: Container, org_a: ClientCredentials,
    token_a: str, alice: str, worker: Worker,
) -> None:  # fmt: skip
    await _set(container, org_a.org_id, face_match_threshold=85)
    before = (await api.create(token_a, alice)).json()["jobId"]
    await _set(container, org_a.org_id, face_match_threshold=95)  # alice's score is 91
    after = (await api.create(token_a, alice)).json()["jobId"]

    await worker.drain()

    old = await _report_data(api, http, token_a, before)
    new = await _report_data(api, http, token_a, after)
    assert (old["policy"]["version"], old["policy"]["face_match_threshold"]) == (1, 85)
    assert (new["policy"]["version"], new["policy"]["face_match_threshold"]) == (2, 95)
    checks = {job: {c["id"]: c["result"] for c in data["checks"]} for job, data in
              (("old", old), ("new", new))}  # fmt: skip
    assert (checks["old"]["face_match"], checks["new"]["face_match"]) == ("PASS", "REFER")
    assert new["verdict"]["result"] == "REFER"
    assert "face-match score 91" in new["verdict"]["summary"]


async def test_cli_sets_and_shows_a_policy(run: Run, org_a: ClientCredentials) -> None:
    code, out, _ = run("policy", "set", "--org", org_a.org_id, "--minimum-age", "21",
                       "--minor-outcome", "FAIL", "--json")  # fmt: skip
    assert code == 0
    assert json.loads(out)["version"] == 1

    code, out, _ = run("policy", "show", "--org", org_a.org_id, "--json")
    shown = json.loads(out)

    assert code == 0
    assert (shown["version"], shown["source"]) == (1, "organisation")
    assert (shown["minimum_age"], shown["minor_outcome"]) == (21, "FAIL")


async def test_cli_refuses_bad_values_with_a_clear_error(
    run: Run, org_a: ClientCredentials
) -> None:
    code, _, err = run("policy", "set", "--org", org_a.org_id, "--refer-floor", "95")

    assert code == 1
    assert "refer_floor must not exceed" in err
