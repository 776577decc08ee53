"""The attack suite's live server (`proofs.live`): a real `sqr-reports` in its own processes,
provisioned only through its command line, attacked only over HTTP.

SQLite by default; with SQR_REPORTS_ATTACK_DATABASE_URL naming a PostgreSQL database of its own
(dropped and recreated), `api` and `worker` as separate processes. Every response the suite
receives is recorded with its case's area, and the run ends with a table of them: what was
tried, what it was answered, and how many answers were server errors (the suite fails on any).
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from proofs.live import JOBS, Client, LiveServer, bearer, running_server, token

DATABASE_URL = os.environ.get("SQR_REPORTS_ATTACK_DATABASE_URL", "")
#: Short enough to see a download URL expire within the suite; the mechanism is the one that
#: makes the default 300 s.
URL_TTL_SECONDS = 3


@dataclass
class Ledger:
    """Every answer the suite received, by area: the figures the run prints."""

    answers: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))

    def record(self, area: str, status: int) -> None:
        self.answers[area][status] += 1


LEDGER = Ledger()


@pytest.fixture(scope="session")
def server() -> Iterator[LiveServer]:
    settings = {"SQR_REPORTS_STORAGE__DOWNLOAD_URL_TTL_SECONDS": str(URL_TTL_SECONDS)}
    with running_server(prefix="sqr-attack-", database_url=DATABASE_URL, settings=settings) as live:
        yield live


@pytest.fixture
def http(server: LiveServer, request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    """A client whose every answer is recorded under the case's area (its module's name)."""
    area = request.module.__name__.rpartition(".")[2].removeprefix("test_")

    def record(response: httpx.Response) -> None:
        LEDGER.record(area, response.status_code)
        assert response.status_code < 500, f"{response.request.url}: {response.status_code}"

    with httpx.Client(
        base_url=server.base_url, timeout=30, event_hooks={"response": [record]}
    ) as client:
        yield client


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not LEDGER.answers:
        return
    backend = "PostgreSQL (api + worker)" if DATABASE_URL else "SQLite (serve)"
    write = terminalreporter.write_line
    write(f"\nAttack answers on {backend}, by area:")
    write(f"  {'area':16} {'requests':>8}  answers")
    total = Counter[int]()
    for area, answers in sorted(LEDGER.answers.items()):
        total.update(answers)
        spread = ", ".join(f"{status}: {count}" for status, count in sorted(answers.items()))
        write(f"  {area:16} {sum(answers.values()):8}  {spread}")
    errors = sum(count for status, count in total.items() if status >= 500)
    write(f"  {'all':16} {sum(total.values()):8}  server errors: {errors}")


@dataclass(frozen=True)
class World:
    """Two orgs, each with a connected user and a COMPLETE report, and their tokens."""

    org_a: Client
    org_b: Client
    token_a: str
    token_b: str
    user_a: str
    user_b: str
    job_a: str
    job_b: str


@pytest.fixture(scope="session")
def world(server: LiveServer) -> World:
    org_a, org_b = server.org("Attack Org A"), server.org("Attack Org B")
    server.connect_user("USATTACKA0000001", org_a.org_id)
    server.connect_user("USATTACKB0000001", org_b.org_id)
    token_a, token_b = token(server, org_a), token(server, org_b)
    job_a = complete_job(server, token_a, "USATTACKA0000001")
    job_b = complete_job(server, token_b, "USATTACKB0000001")
    return World(org_a, org_b, token_a, token_b, "USATTACKA0000001", "USATTACKB0000001",
                 job_a, job_b)  # fmt: skip


def complete_job(server: LiveServer, access_token: str, user_id: str) -> str:
    """A job created and waited for (`Prefer: wait`) until it is COMPLETE."""
    headers = bearer(access_token) | {"Prefer": "wait=20"}
    response = httpx.post(
        f"{server.base_url}{JOBS}", json={"userId": user_id}, headers=headers, timeout=60
    )
    assert response.status_code == 202, response.text
    body = response.json()
    while body["status"] not in ("COMPLETE", "FAILED"):
        body = httpx.get(
            f"{server.base_url}{JOBS}/{body['jobId']}", headers=headers, timeout=60
        ).json()
    assert body["status"] == "COMPLETE", body
    job_id: str = body["jobId"]
    return job_id


def assert_envelope(response: httpx.Response, status: int, error: str | None = None) -> None:
    """The house error envelope, and nothing in it that should not be there."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    body = response.json()
    assert body["code"] == status
    if error is not None:
        assert body["error"] == error, body
    assert {"message", "timestamp", "path", "method"} <= set(body)
    text = response.text
    for secret_like in ("Traceback", "Bearer ", "eyJ"):
        assert secret_like not in text
