"""Every answer of the run passes through here (Schemathesis's `after_call` hook, on the schema).

It is counted by operation and status (the figures the run prints); a download URL's storage key
joins what no other answer may show, and the URL is fetched once, checked like any generated
request; an operation's first success is tried again by strangers (`strangers`); and whatever
job ids the answer shows org A are handed to org B to ask for (`intruder`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import schemathesis

from proofs.fuzz.house_rules import WATCHED
from proofs.fuzz.intruder import Intruder
from proofs.fuzz.strangers import Strangers

Case = schemathesis.Case[Any]
DOWNLOAD = "/v1/downloads/{key}"


@dataclass
class Observer:
    intruder: Intruder
    strangers: Strangers = field(default_factory=Strangers)
    #: Answers by operation ("GET /v1/document/api/{job_id}") and status.
    answers: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    #: Download URLs fetched (once per report).
    downloads: int = 0

    def after_call(
        self, context: schemathesis.HookContext, case: Case, response: schemathesis.Response
    ) -> None:
        if self.intruder.busy or self.strangers.busy:
            return
        self.answers[case.operation.label][response.status_code] += 1
        if case.operation.path.endswith("/url") and response.status_code == 200:
            self._follow(case.operation.schema, response.json()["url"])
        self.strangers.try_after(case, response)
        self.intruder.reveal(case, response)

    def _follow(self, schema: schemathesis.BaseSchema, url: str) -> None:
        """Fetch a download URL the service handed out: a PDF, as the document says."""
        parts = urlsplit(url)
        key = unquote(parts.path.partition("/v1/downloads/")[2])
        if key in WATCHED.storage_keys:
            return
        WATCHED.storage_keys.add(key)
        case = schema[DOWNLOAD]["GET"].Case(
            path_parameters={"key": key}, query=dict(parse_qsl(parts.query))
        )
        response = case.call()
        case.validate_response(response)
        assert response.status_code == 200, f"{url}: {response.status_code}"
        self.downloads += 1
