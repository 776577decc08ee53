"""The fuzz suite's live server (`proofs.live`), its two orgs, and the OpenAPI document that the
server publishes, loaded into Schemathesis with org A's real tokens.

SQLite by default; with SQR_REPORTS_FUZZ_DATABASE_URL naming a PostgreSQL database of its own
(dropped and recreated), `api` and `worker` as separate processes. The budget comes from the
environment (the defaults are CI's bounded run; `make fuzz` runs a bigger one), and the run is
derandomized: the same budget and document generate the same requests (the answers, ids and
times aside). The run ends with a table of every answer, by operation, of what org B was
answered about org A's jobs, and of what callers without a valid token were answered.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis

from proofs.fuzz import house_rules
from proofs.fuzz.inputs import Receiver, Targets, webhook_receiver
from proofs.fuzz.intruder import Intruder
from proofs.fuzz.observer import Observer
from proofs.fuzz.orgs import Org, bearer_auth, provision
from proofs.live import LiveServer, running_server

DATABASE_URL = os.environ.get("SQR_REPORTS_FUZZ_DATABASE_URL", "")
#: Generated requests per operation and mode (positive, negative), besides the coverage cases.
EXAMPLES = int(os.environ.get("SQR_REPORTS_FUZZ_EXAMPLES", "50"))
#: Stateful scenarios (sequences of linked requests), of at most STEPS requests each.
SCENARIOS = int(os.environ.get("SQR_REPORTS_FUZZ_SCENARIOS", "50"))
STEPS = int(os.environ.get("SQR_REPORTS_FUZZ_STEPS", "10"))
#: The fuzzer creates far more jobs than 10 per 600 s and fails client authentication far more
#: than 50 times from one address: both limits would answer nearly everything 429 and hide the
#: rest. Their exactness is the attack suite's to prove, at their defaults. Webhook endpoints may
#: be on loopback, where the run's receiver listens.
SERVER_SETTINGS = {
    "SQR_REPORTS_RATE_LIMIT__CREATIONS_PER_WINDOW": "1000000",
    "SQR_REPORTS_AUTH__FAILED_ATTEMPTS_PER_ADDRESS": "1000000",
    "SQR_REPORTS_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true",
}
#: Schemathesis's checks, all on (with those of `house_rules`) but these.
CHECKS = {
    # Schema-valid is not the same as acceptable: a well-formed user id need not be connected,
    # a well-formed URL need not be https. The document lists those 400s and 422s.
    "positive_data_acceptance": {"enabled": False},
    # A deleted report's status stays readable, with `deletedAt` (the contract's "Deleting and
    # retention"); its PDF is gone, and `/url` answers 410, which the document lists.
    "use_after_free": {"enabled": False},
}


@dataclass
class Run:
    """What the summary reads once the run is over."""

    observer: Observer | None = None
    receiver: Receiver | None = None


RUN = Run()


@pytest.fixture(scope="session")
def server() -> Iterator[LiveServer]:
    with running_server(
        prefix="sqr-fuzz-", database_url=DATABASE_URL, settings=SERVER_SETTINGS
    ) as live:
        yield live


@pytest.fixture(scope="session")
def org_a(server: LiveServer) -> Org:
    return provision(server, "A", "USFUZZA000000001")


@pytest.fixture(scope="session")
def org_b(server: LiveServer) -> Org:
    return provision(server, "B", "USFUZZB000000001")


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as listening:
        RUN.receiver = listening
        yield listening


@pytest.fixture(scope="session")
def targets(server: LiveServer, org_a: Org, receiver: Receiver) -> Targets:
    found = Targets(org_a, server.base_url, receiver.url)
    found.subscribe()
    return found


@pytest.fixture(scope="session")
def intruder(org_b: Org) -> Intruder:
    return Intruder(org_b)


@pytest.fixture(scope="session")
def api(
    server: LiveServer, org_a: Org, org_b: Org, intruder: Intruder, targets: Targets
) -> schemathesis.BaseSchema:
    """The document the server publishes, fuzzed as org A; org B asks for org A's jobs."""
    config = schemathesis.Config.from_dict(
        {
            "request-timeout": 60,
            "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
            # A signed URL whose parameters are repeated is an altered one (issue 13).
            "phases": {"coverage": {"generate-duplicate-query-parameters": True}},
            "checks": CHECKS,
        }
    )
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json", config=config)
    schema.auth(refresh_interval=None).skip_for(path_regex="token$")(bearer_auth(org_a))
    house_rules.WATCHED.orgs = [org_a, org_b]
    RUN.observer = Observer(intruder)
    schema.hooks.register_hook_with_name(RUN.observer.after_call, "after_call")
    for name in ("after_call", "flatmap_body", "flatmap_path_parameters"):
        schema.hooks.register_hook_with_name(getattr(targets, name), name)
    return schema


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if RUN.observer is None:
        return
    write = terminalreporter.write_line
    backend = "PostgreSQL (api + worker)" if DATABASE_URL else "SQLite (serve)"
    budget = f"{EXAMPLES} examples per operation and mode, {SCENARIOS} scenarios of <= {STEPS}"
    write(f"\nFuzz answers on {backend}, derandomized: {budget}")
    write(f"  {'operation':50} {'requests':>8}  answers")
    total = Counter[int]()
    for label, answers in sorted(RUN.observer.answers.items(), key=_by_path):
        total.update(answers)
        _row(write, label, answers)
    intruder, strangers = RUN.observer.intruder, RUN.observer.strangers
    _row(write, "org B, on org A's jobs and its own views", intruder.answers)
    _row(write, "no token, or a forged one, after a success", strangers.answers)
    total.update(intruder.answers + strangers.answers)
    errors = sum(count for status, count in total.items() if status >= 500)
    write(f"  {'all':50} {sum(total.values()):8}  server errors: {errors}")
    write(f"  error answers checked: {house_rules.WATCHED.errors_checked} (envelope or RFC 6749)")
    write(f"  org A's jobs asked for by org B: {len(intruder.seen)}, each 3 ways")
    write(f"  operations shown to refuse strangers: {len(strangers.refused)}")
    write(f"  download URLs followed, each a PDF: {RUN.observer.downloads}")
    if RUN.receiver is not None:
        write(f"  webhook deliveries received: {RUN.receiver.deliveries}")


def _by_path(item: tuple[str, Counter[int]]) -> tuple[str, str]:
    method, _, path = item[0].partition(" ")
    return path, method


def _row(write: Any, label: str, answers: Counter[int]) -> None:
    spread = ", ".join(f"{status}: {count}" for status, count in sorted(answers.items()))
    write(f"  {label:50} {sum(answers.values()):8}  {spread}")
