"""`sqr-reports webhook ...`, run as an operator would."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import update

from sqr_reports.container import Container
from sqr_reports.webhooks import delivery
from sqr_reports.webhooks.models import DeliveryStatus, WebhookDelivery
from tests.conftest import Run
from tests.support import ClientCredentials
from tests.webhook_receiver import Receiver

ALLOW_PRIVATE = "SQR_REPORTS_WEBHOOKS__ALLOW_PRIVATE_TARGETS"


@pytest.mark.parametrize(
    "url", ["https://127.0.0.1/hook", "https://localhost/hook", "https://[fe80::1]/",
            "http://hooks.example.com/"],
)  # fmt: skip
def test_set_refuses_a_private_target_unless_the_deployment_allows_it(
    run: Run, org_a: ClientCredentials, url: str
) -> None:
    code, out, err = run("webhook", "set", "--org", org_a.org_id, "--url", url)

    assert (code, out) == (1, "")
    assert err.startswith("error: The URL")


def test_set_prints_the_url_and_a_secret_shown_once(
    run: Run, org_a: ClientCredentials, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ALLOW_PRIVATE, "true")

    code, out, _ = run("webhook", "set", "--org", org_a.org_id, "--url", receiver.url(), "--json")
    printed = json.loads(out)
    text_code, text, _ = run("webhook", "set", "--org", org_a.org_id, "--url", receiver.url())
    _, shown, _ = run("webhook", "show", "--org", org_a.org_id, "--json")

    assert code == text_code == 0
    assert printed == {"org_id": org_a.org_id, "url": receiver.url(), "secret": printed["secret"]}
    assert printed["secret"].startswith("whsec_")
    assert receiver.url() in text
    assert "shown only once" in text
    assert "whsec_" not in shown
    assert json.loads(shown)["previous_secret_valid_until"] is not None  # the second set rotated


def test_disable_enable_and_rotate(
    run: Run, org_a: ClientCredentials, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ALLOW_PRIVATE, "true")
    run("webhook", "set", "--org", org_a.org_id, "--url", receiver.url())

    assert run("webhook", "disable", "--org", org_a.org_id, "--reason", "receiver moving")[0] == 0
    disabled = json.loads(run("webhook", "show", "--org", org_a.org_id, "--json")[1])
    assert run("webhook", "enable", "--org", org_a.org_id)[0] == 0
    enabled = json.loads(run("webhook", "show", "--org", org_a.org_id, "--json")[1])
    code, out, _ = run("webhook", "rotate-secret", "--org", org_a.org_id, "--json")

    assert (disabled["enabled"], disabled["disabled_reason"]) == (False, "receiver moving")
    assert (enabled["enabled"], enabled["disabled_reason"]) == (True, None)
    assert code == 0
    assert json.loads(out)["secret"].startswith("whsec_")


def test_commands_on_an_org_without_an_endpoint_say_so(run: Run, org_a: ClientCredentials) -> None:
    for command in ("show", "disable", "enable", "rotate-secret"):
        code, _, err = run("webhook", command, "--org", org_a.org_id)
        assert (code, err) == (1, "error: No webhook endpoint is registered\n")


async def test_deliveries_and_operator_redelivery(
    run: Run, container: Container, org_a: ClientCredentials, receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv(ALLOW_PRIVATE, "true")
    run("webhook", "set", "--org", org_a.org_id, "--url", receiver.url())
    async with container.sessions.begin() as session:
        event_id = await delivery.record_event(
            session, org_id=org_a.org_id, event_type="REPORT_COMPLETED", job_id="job-1",
            data={"job_id": "job-1", "user_id": "US1", "status": "COMPLETE", "error_code": None,
                  "size_bytes": 1, "sha256": "ab" * 32, "page_count": 1},
            now=await container.db_clock.now(session), max_attempts=3,
        )  # fmt: skip

    code, out, _ = run("webhook", "deliveries", "--org", org_a.org_id, "--json")
    [listed] = json.loads(out)["deliveries"]
    busy_code, _, busy = run("webhook", "redeliver", str(event_id))
    unknown_code, _, unknown = run("webhook", "redeliver", "no-such-event")
    text_code, text, _ = run("webhook", "deliveries", "--org", org_a.org_id)
    async with container.sessions.begin() as session:  # the queue gave up on it
        await session.execute(update(WebhookDelivery).values(status=DeliveryStatus.FAILED))
    again_code, again, _ = run("webhook", "redeliver", str(event_id))

    assert code == text_code == again_code == 0
    assert again.startswith(f"event {event_id} queued for delivery")
    assert (listed["event_id"], listed["status"], listed["attempts"]) == (event_id, "PENDING", [])
    assert str(event_id) in text
    assert (busy_code, unknown_code) == (1, 1)
    assert "already due" in busy
    assert "No such webhook event" in unknown
