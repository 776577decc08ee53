"""The chaos run's clients: jobs created at a steady pace, each polled until it is terminal.

A client does what the contract tells integrators to do when the service is unavailable: it
retries its POST with the same `Idempotency-Key` (so a retry after a lost answer can never
create a second job) until it is answered 202, and keeps polling through 503s. Every status it
is shown is recorded with the time, so the checker can hold the API's answers against the
database's history: once a client has seen a job terminal, it must never see anything else.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from sqr_reports.reports.models import TERMINAL

#: How often a job is polled: more often than the documented 3-5 s, so that clients see each
#: job's states to about a second, and rarely enough to leave the CPU to the workers.
POLL_SECONDS = 1.0
#: Pause between retries of a POST that got no 202.
POST_RETRY_SECONDS = 1.0


@dataclass(frozen=True)
class Observation:
    """What one API answer showed of a job."""

    at: datetime
    status: str
    sha256: str | None


@dataclass
class ClientJob:
    index: int
    token: str
    user: str
    key: str = field(default_factory=lambda: str(uuid.uuid4()))
    #: The answer to each POST try: an HTTP status or an exception name.
    posts: list[str] = field(default_factory=list)
    job_id: str | None = None
    observations: list[Observation] = field(default_factory=list)
    #: The API's answer after the run, when every job had settled.
    final: Observation | None = None

    @property
    def accepted(self) -> bool:
        return self.job_id is not None

    @property
    def seen_terminal(self) -> bool:
        return bool(self.observations) and self.observations[-1].status in TERMINAL


def observed(body: dict[str, Any]) -> Observation:
    return Observation(datetime.now(UTC), str(body["status"]), body.get("sha256"))


@dataclass
class Clients:
    """The HTTP side of the run: the API processes taken in turn, and a tally of answers."""

    http: httpx.AsyncClient
    apis: list[str]
    answers: Counter[str] = field(default_factory=Counter)
    _turn: itertools.count[int] = field(default_factory=itertools.count)

    async def run(self, job: ClientJob, start: float, deadline: float) -> None:
        """At `start` (event-loop time), create the job; then follow it until it is terminal."""
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, start - loop.time()))
        await self.create(job, deadline)
        while job.accepted and not job.seen_terminal and loop.time() < deadline:
            await asyncio.sleep(POLL_SECONDS)
            await self.poll(job)

    async def create(self, job: ClientJob, deadline: float) -> None:
        """POST until answered 202, retrying unavailability with the same Idempotency-Key."""
        while asyncio.get_running_loop().time() < deadline:
            answer, body = await self._call("POST", "/v1/document/api", job, {"userId": job.user})
            job.posts.append(answer)
            if body is not None:
                job.job_id = str(body["jobId"])
                job.observations.append(observed(body))
                return
            if answer.isdigit() and int(answer) < 500:
                return  # refused (e.g. 429): a retry would be refused too
            await asyncio.sleep(POST_RETRY_SECONDS)

    async def poll(self, job: ClientJob) -> Observation | None:
        _, body = await self._call("GET", f"/v1/document/api/{job.job_id}", job)
        if body is None:
            return None
        job.observations.append(observed(body))
        return job.observations[-1]

    async def final_view(self, job: ClientJob) -> None:
        """What the API shows of the job once the run is over (a few tries through errors)."""
        for _ in range(5):
            _, body = await self._call("GET", f"/v1/document/api/{job.job_id}", job)
            if body is not None:
                job.final = observed(body)
                return
            await asyncio.sleep(POST_RETRY_SECONDS)

    async def _call(
        self, method: str, path: str, job: ClientJob, body: dict[str, str] | None = None
    ) -> tuple[str, dict[str, Any] | None]:
        """(the HTTP status or the exception's name, the JSON of a 200 or 202)."""
        headers = {"Authorization": f"Bearer {job.token}"}
        if method == "POST":
            headers["Idempotency-Key"] = job.key
        url = f"{self.apis[next(self._turn) % len(self.apis)]}{path}"
        try:
            response = await self.http.request(method, url, headers=headers, json=body)
        except httpx.HTTPError as exc:
            answer = type(exc).__name__
        else:
            answer = str(response.status_code)
        self.answers[f"{method} {answer}"] += 1
        if answer in ("200", "202"):
            return answer, dict(response.json())
        return answer, None
