"""A whole flow against a real `sqr-reports serve --demo` (uvicorn, the embedded worker, its
render processes), at DEBUG, its log read as a collector reads it: every line JSON, the job's
lines joined up with the request that created it, and nothing of the person the report is
about, no token, no secret and no URL signature anywhere in it."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support import SQR_REPORTS, command_environment, free_port

#: The demo's clean pass: Amelia Jane Clarke, of 14 Wellington Road, Manchester.
USER = "US7K2M9Q4X8B1N5C"
PERSONAL = ("Amelia", "Clarke", "amelia.clarke@", "+44 7700 900123", "Wellington", "M14 6EL")
REQUEST_ID = "flow-create-1"


@dataclass(frozen=True)
class Flow:
    lines: list[str]
    secrets: list[str]
    job_id: str
    dob: str
    metrics: str


def _environment(data_dir: Path) -> dict[str, str]:
    return command_environment(
        data_dir,
        LOG_LEVEL="DEBUG",  # everything anything would ever write
        AUTH__ARGON2_TIME_COST="1",
        AUTH__ARGON2_MEMORY_KIB="1024",
        WORKER__CONCURRENCY="1",
    )


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flow]:
    data_dir = tmp_path_factory.mktemp("full-flow")
    port = free_port()
    server = subprocess.Popen(  # stderr is a pipe, so the format is `auto`'s JSON
        [SQR_REPORTS, "serve", "--demo", "--port", str(port)],
        env=_environment(data_dir), cwd=data_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        walkthrough, secrets, job_id, metrics = _run(server, f"http://127.0.0.1:{port}")
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=60)
    dob = _dob(data_dir / "sqr-reports.db")
    yield Flow(stderr.decode().splitlines(), secrets, job_id, dob, metrics)
    assert walkthrough  # the demo's credentials went to stdout, never to the log


def _run(server: subprocess.Popen[bytes], base: str) -> tuple[str, list[str], str, str]:
    assert server.stdout is not None
    walkthrough = ""
    while "Client secret" not in walkthrough:  # printed before the server starts
        line = server.stdout.readline().decode()
        assert line, "the server exited before printing the demo client"
        walkthrough += line
    secret = re.search(r"^Client secret (\S+)", walkthrough, re.M)[1]  # type: ignore[index]
    with httpx.Client(base_url=base, timeout=30) as http:
        _wait_ready(http)
        return walkthrough, *_exercise(http, secret)


def _wait_ready(http: httpx.Client) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if http.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server did not get ready")


def _exercise(http: httpx.Client, secret: str) -> tuple[list[str], str, str]:
    credentials = {"client_id": "sqr_demo_client", "grant_type": "client_credentials"}
    assert http.post("/oauth2/token", json=credentials | {"client_secret": "x"}).status_code == 401
    token = http.post("/oauth2/token", json=credentials | {"client_secret": secret}).json()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    created = http.post(
        "/v1/document/api", json={"userId": USER}, headers=bearer | {"X-Request-ID": REQUEST_ID}
    )
    job_id = created.json()["jobId"]
    deadline = time.monotonic() + 60
    while http.get(f"/v1/document/api/{job_id}", headers=bearer).json()["status"] != "COMPLETE":
        assert time.monotonic() < deadline, "the report did not complete"
        time.sleep(0.1)
    url = http.get(f"/v1/document/api/{job_id}/url", headers=bearer).json()["url"]
    assert http.get(url).content.startswith(b"%PDF")
    signature = parse_qs(urlsplit(url).query)["signature"][0]
    metrics = http.get("/metrics").text
    return [secret, token["access_token"], signature], job_id, metrics


def _dob(database: Path) -> str:
    # sqlite3's own context manager ends the transaction, not the connection (Python 3.13 warns).
    with contextlib.closing(sqlite3.connect(database)) as connection:
        (dob,) = connection.execute("SELECT dob FROM app_users WHERE id = ?", (USER,)).fetchone()
    return str(dob)


def _records(flow: Flow) -> list[dict[str, Any]]:
    return [json.loads(line) for line in flow.lines if line.strip()]


def test_every_line_is_json_with_the_standard_fields(flow: Flow) -> None:
    records = _records(flow)

    assert len(records) > 20
    for record in records:
        assert {"timestamp", "level", "logger", "message"} <= set(record), record
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["timestamp"])


def test_access_lines_carry_their_request_id_and_the_callers_org(flow: Flow) -> None:
    access = [r for r in _records(flow) if r["logger"] == "uvicorn.access"]
    created = [r for r in access if r.get("method") == "POST" and r["status"] == 202]

    assert access
    assert all(re.fullmatch(r"[\w.:+=/-]+", r["request_id"]) for r in access)
    assert [r["request_id"] for r in created] == [REQUEST_ID]
    assert created[0]["org_id"]
    assert created[0]["path"] == "/v1/document/api"


def test_the_jobs_lines_join_up_with_the_request_that_created_it(flow: Flow) -> None:
    job_lines = [r for r in _records(flow) if r.get("job_id") == flow.job_id]
    events = [r["event"] for r in job_lines if "event" in r]

    assert events[:2] == ["report.created", "report.claimed"]
    assert {"report.rendered", "report.stored", "report.completed"} <= set(events)
    assert all(r["request_id"] == REQUEST_ID for r in job_lines)
    rendered = next(r for r in job_lines if r.get("event") == "report.rendered")
    assert rendered["duration_ms"] > 0
    assert rendered["pages"] >= 1


def test_no_personal_data_token_secret_or_signature_is_logged(flow: Flow) -> None:
    text = "\n".join(flow.lines)

    for leak in (*PERSONAL, flow.dob, *flow.secrets, "%PDF"):
        assert leak not in text, f"{leak!r} is in the log"


def test_the_server_metrics_counted_the_flow(flow: Flow) -> None:
    assert 'route="/v1/document/api/{job_id}"' in flow.metrics
    assert 'sqr_reports_token_requests_total{outcome="invalid_client"} 1.0' in flow.metrics
    assert re.search(
        r'sqr_reports_queue_outcomes_total\{error_code="none",kind="report",outcome="completed"\}',
        flow.metrics,
    )
    assert flow.job_id not in flow.metrics
