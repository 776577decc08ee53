"""Org B, asking for everything org A's requests reveal.

Every job id that org A is shown (created, read or listed) is asked for with org B's token: its
status, its download URL and its deletion must each be the same 404 as a job that never existed,
in the envelope and as the document describes it. At the end, org B's listing must hold none of
org A's jobs and its webhook endpoint must not be org A's.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import schemathesis

from proofs.fuzz.orgs import Org
from proofs.live import JOBS

Case = schemathesis.Case[Any]
#: What org B asks of each of org A's jobs: (method, path template in the document).
PROBES = (
    ("GET", JOBS + "/{job_id}"),
    ("GET", JOBS + "/{job_id}/url"),
    ("DELETE", JOBS + "/{job_id}"),
)


@dataclass
class Intruder:
    org: Org
    #: Org A's job ids, each probed once.
    seen: set[str] = field(default_factory=set)
    answers: Counter[int] = field(default_factory=Counter)
    #: What each probe answers for a job that never existed, asked once.
    unknown: dict[tuple[str, str], tuple[int, str, str]] = field(default_factory=dict)
    #: True while org B's own requests are out: what they reveal is not org A's.
    busy: bool = False

    def reveal(self, case: Case, response: schemathesis.Response) -> None:
        """Note the job ids in one of org A's answers, and ask for each new one as org B."""
        if self.busy:
            return
        with self._as_org_b():
            for job_id in _job_ids(case, response) - self.seen:
                self.seen.add(job_id)
                for method, template in PROBES:
                    self._expect_unknown(case.operation.schema, method, template, job_id)

    def sweep(self, schema: schemathesis.BaseSchema) -> None:
        """Org B's own views hold nothing of org A's: the listing, and the webhook endpoint."""
        with self._as_org_b():
            listed = self._listed(schema)
            webhook = self._send(schema, "GET", "/v1/webhook")
        assert not listed & self.seen, f"org B lists org A's jobs {sorted(listed & self.seen)}"
        assert webhook.status_code == 404, f"org B sees a webhook it never set: {webhook.text}"

    @contextmanager
    def _as_org_b(self) -> Iterator[None]:
        self.busy = True
        try:
            yield
        finally:
            self.busy = False

    def _listed(self, schema: schemathesis.BaseSchema) -> set[str]:
        listed: set[str] = set()
        cursor: str | None = None
        while True:
            query = {"limit": 100} | ({"cursor": cursor} if cursor else {})
            page = self._send(schema, "GET", JOBS, query=query)
            assert page.status_code == 200, page.text
            listed |= {item["jobId"] for item in page.json()["items"]}
            cursor = page.json()["nextCursor"]
            if cursor is None:
                return listed

    def _expect_unknown(
        self, schema: schemathesis.BaseSchema, method: str, template: str, job_id: str
    ) -> None:
        theirs = self._send(schema, method, template, job_id=job_id)
        assert theirs.status_code == 404, (
            f"org B: {method} {template} of org A's job {job_id}: {theirs.status_code} "
            f"{theirs.text[:300]}"
        )
        if (method, template) not in self.unknown:
            unknown = self._send(schema, method, template, job_id=str(uuid.uuid4()))
            self.unknown[method, template] = _comparable(unknown)
        assert _comparable(theirs) == self.unknown[method, template], theirs.text

    def _send(
        self,
        schema: schemathesis.BaseSchema,
        method: str,
        template: str,
        *,
        job_id: str = "",
        query: dict[str, Any] | None = None,
    ) -> schemathesis.Response:
        """One request as org B, checked like every generated one (its own `validate_response`)."""
        operation = schema[template][method]
        case = operation.Case(
            path_parameters={"job_id": job_id} if job_id else {},
            headers=self.org.headers(),
            query=query,
        )
        response = case.call()
        case.validate_response(response)
        self.answers[response.status_code] += 1
        return response


def _comparable(response: schemathesis.Response) -> tuple[int, str, str]:
    """An answer without what differs between any two requests (its id, time and path)."""
    body = response.json()
    return response.status_code, body["error"], body["message"]


def _job_ids(case: Case, response: schemathesis.Response) -> set[str]:
    if not (200 <= response.status_code < 300 and case.operation.path.startswith(JOBS)):
        return set()
    body = response.json() if response.content else None
    if not isinstance(body, dict):
        return set()
    listed = body.get("items")
    items: list[Any] = listed if isinstance(listed, list) else [body]
    return {item["jobId"] for item in items if isinstance(item, dict) and "jobId" in item}
