"""Every operation in the OpenAPI document on its own, one subtest each: requests generated to
fit the document (positive) and to break it (negative: wrong types, missing and extra fields,
malformed headers), then Schemathesis's deterministic coverage cases (every boundary, each
parameter missing or malformed, unexpected methods). Every answer is checked against the
document and the house rules (`house_rules`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis import GenerationMode, auths

from proofs.fuzz.conftest import EXAMPLES

Operation = schemathesis.APIOperation[Any, Any, Any, Any]
SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)


#: What creates before what reads, collections before their members, and deletions last: the
#: webhook endpoint is set before it is read, and deliveries are listed (their event ids noted,
#: `inputs.Targets`) before one is redelivered, to an endpoint that is still there.
METHOD_ORDER = {"POST": 0, "PUT": 1, "GET": 2, "DELETE": 3}


def _operations(api: schemathesis.BaseSchema) -> list[Operation]:
    """Every operation in the document (the schema maps paths to methods to operations)."""
    operations = [operation for methods in api.values() for operation in methods.values()]
    return sorted(operations, key=_order)


def _order(operation: Operation) -> tuple[bool, bool, int]:
    method = operation.method.upper()
    return method == "DELETE", "{" in operation.path, METHOD_ORDER[method]


@pytest.mark.parametrize("mode", list(GenerationMode))
def test_generated_requests(
    api: schemathesis.BaseSchema, mode: GenerationMode, subtests: pytest.Subtests
) -> None:
    for operation in _operations(api):
        with subtests.test(operation.label):
            _generated(operation, mode)


def test_coverage_cases(api: schemathesis.BaseSchema, subtests: pytest.Subtests) -> None:
    for operation in _operations(api):
        with subtests.test(operation.label):
            for case in _coverage_cases(api, operation):
                case.call_and_validate()


def _coverage_cases(
    api: schemathesis.BaseSchema, operation: Operation
) -> Iterator[schemathesis.Case[Any]]:
    """The operation's coverage cases, each with org A's token unless the case is about a
    missing or malformed one (as Schemathesis's own coverage phase does)."""
    generation = api.config.generation_for(operation=operation, phase="coverage")
    context = schemathesis.AuthContext(operation=operation, app=None)
    for case in api.iter_coverage_cases(
        operation, generation_modes=list(GenerationMode), generation_config=generation
    ):
        auths.set_on_generated_case(case, context, None)
        yield case


def _generated(operation: Operation, mode: GenerationMode) -> None:
    @SETTINGS
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate()

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        # An operation without parameters or body (health, keys) has nothing to break.
        assert mode == GenerationMode.NEGATIVE, f"{operation.label}: no {mode} request"
        pytest.skip(f"{operation.label} takes nothing that could be malformed")
