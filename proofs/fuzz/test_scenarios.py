"""Sequences of linked requests as org A (create a job, then read it, get its download URL,
delete it, in the orders Hypothesis draws), with org B asking for every job org A was shown.
The links come from the document (Schemathesis infers them from `jobId` and the routes)."""

from __future__ import annotations

import hypothesis
import schemathesis

from proofs.fuzz.conftest import SCENARIOS, STEPS
from proofs.fuzz.inputs import Targets, fresh_idempotency_keys
from proofs.fuzz.intruder import Intruder

SETTINGS = hypothesis.settings(
    max_examples=SCENARIOS,
    stateful_step_count=STEPS,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[hypothesis.Phase.generate],
    suppress_health_check=list(hypothesis.HealthCheck),
)


def test_scenarios_as_org_a_never_show_org_b_anything(
    api: schemathesis.BaseSchema, targets: Targets, intruder: Intruder
) -> None:
    targets.subscribe()  # whatever the operations' run left set

    with fresh_idempotency_keys(api):
        api.as_state_machine().run(settings=SETTINGS)

    intruder.sweep(api)
