"""Steering generated requests towards what exists, so the fuzzer gets past "not found".

A generated user id is almost never a connected user, a generated webhook URL almost never a
reachable receiver, a generated event id never an event, generated client credentials never a
client's: left alone, every job would fail USER_NOT_FOUND, no endpoint would be set, no event
redelivered and no token granted, and the download, deletion, webhook and grant answers would
go untried. So half of the well-formed bodies and event ids (Hypothesis draws which) name org
A's connected user, a loopback receiver that answers every delivery, an event org A was shown,
or org A's client; the other half, and every malformed input, are left as generated.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import schemathesis
from hypothesis import strategies as st

from proofs.fuzz.orgs import ALL_SCOPES, Org
from proofs.live import JOBS

Case = schemathesis.Case[Any]
WEBHOOK = "/v1/webhook"
DELIVERIES = WEBHOOK + "/deliveries"
REDELIVER = DELIVERIES + "/{event_id}/redeliver"
TOKEN_OPERATIONS = frozenset({"POST /oauth2/token", "POST /v1/oauth/token"})
#: The lengths the document allows (`JobCreate.userId`, `WebhookSet.url`).
USER_ID_LENGTH = range(1, 17)
URL_LENGTH = range(1, 2049)
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
IDEMPOTENCY_KEY = "Idempotency-Key"
#: The document's pattern for it.
IDEMPOTENCY_KEY_VALUE = re.compile(r"[\x21-\x7e]{1,255}")


@dataclass
class Targets:
    #: The acting org (its connected user is the one jobs name).
    org: Org
    base_url: str
    #: A webhook receiver on loopback (the fuzz server allows private targets).
    webhook_url: str
    #: Ids of the events org A's delivery listings showed, in the order first seen.
    event_ids: list[str] = field(default_factory=list)

    def subscribe(self) -> None:
        """Make the receiver the org's webhook endpoint, so the jobs that end from now on are
        delivered (and listed, and redeliverable) whatever the fuzzer did to the endpoint."""
        url = f"{self.base_url}{WEBHOOK}"
        body = {"url": self.webhook_url}
        response = httpx.put(url, json=body, headers=self.org.headers(), timeout=30)
        assert response.status_code == 200, response.text

    def after_call(
        self, context: schemathesis.HookContext, case: Case, response: schemathesis.Response
    ) -> None:
        """Schemathesis's `after_call` hook: note the event ids a delivery listing shows."""
        if case.operation.label != f"GET {DELIVERIES}" or response.status_code != 200:
            return
        for item in response.json()["items"]:
            if item["eventId"] not in self.event_ids:
                self.event_ids.append(item["eventId"])

    def flatmap_path_parameters(
        self, context: schemathesis.HookContext, parameters: dict[str, Any]
    ) -> st.SearchStrategy[dict[str, Any]]:
        """Schemathesis's `flatmap_path_parameters` hook: an event to redeliver, as generated
        or one that exists."""
        label = context.operation.label if context.operation else ""
        if label != f"POST {REDELIVER}" or not self.event_ids:
            return st.just(parameters)
        known = st.sampled_from(self.event_ids).map(lambda event_id: {"event_id": event_id})
        return st.one_of(st.just(parameters), known)

    def flatmap_body(self, context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
        """Schemathesis's `flatmap_body` hook: the body as generated, or one that names
        something that exists."""
        label = context.operation.label if context.operation else ""
        if label == f"POST {JOBS}" and _well_formed(body, "userId", USER_ID_LENGTH):
            return st.sampled_from([body, {"userId": self.org.user_id}])
        if label == f"PUT {WEBHOOK}" and _well_formed(body, "url", URL_LENGTH):
            return st.sampled_from([body, {"url": self.webhook_url}])
        if label in TOKEN_OPERATIONS and _a_grant(body):
            return self._grants(body)
        return st.just(body)

    def _grants(self, body: dict[str, str]) -> st.SearchStrategy[dict[str, str]]:
        """The request as generated, the org's client asking with the generated scope (a
        generated scope is mostly one to refuse), or with some of the scopes it holds."""
        client = self.org.client
        credentials = body | {"client_id": client.client_id, "client_secret": client.client_secret}
        held = st.sets(st.sampled_from(ALL_SCOPES.split()), min_size=1)
        narrowed = held.map(lambda chosen: credentials | {"scope": " ".join(sorted(chosen))})
        return st.one_of(st.just(body), st.just(credentials), narrowed)


def _a_grant(body: Any) -> bool:
    """A well-formed token request (its scope, if any, as generated: maybe one to refuse)."""
    return (
        isinstance(body, dict)
        and body.get("grant_type") == "client_credentials"
        and all(isinstance(value, str) for value in body.values())
        and set(body) <= {"grant_type", "client_id", "client_secret", "scope"}
    )


def _well_formed(body: Any, name: str, length: range) -> bool:
    """A body the document accepts: one string field of a length it allows, no control
    characters. Only such a body is replaced, so a malformed one stays malformed (and must be
    refused) and a well-formed one stays well-formed."""
    if not (isinstance(body, dict) and set(body) == {name} and isinstance(body[name], str)):
        return False
    value: str = body[name]
    return len(value) in length and not CONTROL.search(value)


class Receiver(ThreadingHTTPServer):
    """A webhook receiver on a free loopback port that answers every delivery 204."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Delivery)
        self.deliveries = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/sqr-events"


class _Delivery(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.deliveries += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the run's figures count deliveries."""


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    """A receiver, listening in a thread of its own until the block ends."""
    receiver = Receiver()
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.shutdown()
        receiver.server_close()


@contextmanager
def fresh_idempotency_keys(schema: schemathesis.BaseSchema) -> Iterator[None]:
    """Every well-formed `Idempotency-Key` made unique while the block runs (a suffix counts).

    Hypothesis replays the start of earlier scenarios and expects the same answers, so that the
    same rules can follow. A key an earlier scenario used with another body answers 422 instead
    of 202, the job's links disappear, and Hypothesis stops the run as flaky. Replays of a key
    are the operations' run to try, where nothing is replayed.
    """
    suffixes = itertools.count(1)

    def map_headers(context: schemathesis.HookContext, headers: dict[str, Any]) -> dict[str, Any]:
        key = headers.get(IDEMPOTENCY_KEY) if headers else None
        if not (isinstance(key, str) and IDEMPOTENCY_KEY_VALUE.fullmatch(key)):
            return headers  # absent, or malformed on purpose: left as it is
        suffix = f"~{next(suffixes)}"
        return headers | {IDEMPOTENCY_KEY: key[: 255 - len(suffix)] + suffix}

    schema.hooks.register_hook_with_name(map_headers, "map_headers")
    try:
        yield
    finally:
        schema.hooks.unregister(map_headers)
