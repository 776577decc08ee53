"""The OpenAPI document is one a client generator can trust: valid, complete, and true.

True is proven by a tour of the API that provokes every answer the document lists, checking each
answer it gets against the document: the status is listed for the operation, the body passes
the listed schema (enums and formats included), every header the document requires is there,
and every header of ours that is there is documented. An answer the document does not list, or
a listed one the tour cannot provoke, fails the tour.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS31Validator, oas31_format_checker
from openapi_spec_validator import validate

from sqr_reports import __version__
from sqr_reports.app import MAX_BODY_BYTES, create_app
from sqr_reports.auth import scopes
from sqr_reports.container import Container
from sqr_reports.http_limits import MAX_HEADER_BYTES
from sqr_reports.queue.worker import Worker
from sqr_reports.reports.errors import JobErrorCode
from tests.conftest import add_user, connected, register_org
from tests.fakes import MemoryStore
from tests.support import ClientCredentials
from tests.webhook_receiver import Receiver

Json = dict[str, Any]
#: Response headers the service sets on purpose: any of them an answer carries is documented.
OURS = {
    "location", "retry-after", "ratelimit-policy", "ratelimit", "idempotent-replayed",
    "www-authenticate", "cache-control", "pragma", "preference-applied", "x-request-id",
    "content-disposition",
}  # fmt: skip
#: Answers that app-wide handlers give on any operation (the header and body limits, the
#: outage handler, the last-resort 500): the tour provokes each on operations that stand for
#: the rest, and the document lists them everywhere.
APP_WIDE = {"431", "503", "default"}
JOBS = "/v1/document/api"
UNKNOWN_ID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
TOO_LARGE_BODY = b"{" + b" " * 70_000 + b"}"
TOO_LARGE_HEADERS = {"X-Filler": "a" * 40_000}


@dataclass
class Tour:
    """An HTTP client that checks every answer against the document and records it."""

    http: httpx.AsyncClient
    spec: Json
    #: (METHOD, path template, documented status) of every answer checked.
    given: set[tuple[str, str, str]] = field(default_factory=set)

    async def call(self, method: str, url: str, status: int, **kwargs: Any) -> httpx.Response:
        response = await self.http.request(method, url, **kwargs)
        assert response.status_code == status, f"{method} {url}: {response.text[:300]}"
        template = _template(self.spec, response.request.url.path)
        operation = self.spec["paths"][template][method.lower()]
        code = str(status) if str(status) in operation["responses"] else "default"
        assert code != "default" or status >= 500, f"{method} {template}: {status} undocumented"
        documented = operation["responses"][code]
        _check_headers(self.spec, response, documented)
        _check_body(self.spec, response, documented)
        self.given.add((method, template, code))
        return response

    def bearer(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


def _template(spec: Json, path: str) -> str:
    """The document's path template that `path` is an instance of (a parameter is one
    segment, except a download's key, which may span several)."""
    for parameter in (r"[^/]+", r".+"):
        for template in map(str, spec["paths"]):
            parts = re.split(r"(\{[^}]+\})", template)
            pattern = "".join(parameter if p.startswith("{") else re.escape(p) for p in parts)
            if re.fullmatch(pattern, path):
                return template
    raise AssertionError(f"{path} is not in the document")


def _resolved(spec: Json, item: Json) -> Json:
    if "$ref" not in item:
        return item
    found: Json = spec
    for part in item["$ref"].removeprefix("#/").split("/"):
        found = found[part]
    return found


def _check_headers(spec: Json, response: httpx.Response, documented: Json) -> None:
    declared = {name.lower(): _resolved(spec, h) for name, h in documented["headers"].items()}
    where = f"{response.request.method} {response.request.url.path} {response.status_code}"
    for name, header in declared.items():
        value = response.headers.get(name)
        if value is None:
            # X-Request-ID's presence on every answer is proven on its own (below).
            assert not header["required"] or name == "x-request-id", f"{where}: no {name}"
            continue
        typed: Any = int(value) if header["schema"].get("type") == "integer" else value
        _validator(spec, header["schema"]).validate(typed)
    undocumented = {name for name in response.headers if name in OURS} - set(declared)
    assert not undocumented, f"{where}: sends undocumented {undocumented}"


def _check_body(spec: Json, response: httpx.Response, documented: Json) -> None:
    content: Json = documented.get("content", {})
    where = f"{response.request.method} {response.request.url.path} {response.status_code}"
    if not content:
        assert not response.content, f"{where}: a body the document does not describe"
        return
    media = response.headers["content-type"].partition(";")[0]
    assert media in content, f"{where}: {media}, documented {list(content)}"
    if media == "application/json":
        _validator(spec, content[media]["schema"]).validate(response.json())


def _validator(spec: Json, schema: Json) -> OAS31Validator:
    """A validator of `schema`, its `#/components/...` references resolved in the document."""
    rooted = {**schema, "components": spec["components"]}
    return OAS31Validator(rooted, format_checker=oas31_format_checker)


def _operations(spec: Json) -> list[tuple[str, str, Json]]:
    return [
        (method.upper(), template, operation)
        for template, operations in spec["paths"].items()
        for method, operation in operations.items()
    ]


class _Outage:
    """The database, unreachable: as a session factory and as the status poll's reads."""

    def __init__(self, failure: type[Exception] = ConnectionRefusedError) -> None:
        self.failure = failure

    def __call__(self) -> _Outage:
        return self

    async def __aenter__(self) -> None:
        raise self.failure("the database is unreachable")

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def one_or_none(self, *args: object) -> None:
        raise self.failure("the database is unreachable")


class _UnreachableStore(MemoryStore):
    async def check(self) -> None:
        raise ConnectionRefusedError("the bucket is unreachable")


@pytest.fixture
async def spec(http: httpx.AsyncClient) -> Json:
    document: Json = (await http.get("/openapi.json")).json()
    return document


@pytest.fixture
async def tour(container: Container, spec: Json) -> AsyncIterator[Tour]:
    """The app in process, answering a 500 as a client sees it rather than raising it here."""
    transport = httpx.ASGITransport(app=create_app(container=container), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield Tour(http, spec)


def test_the_document_is_valid_openapi(spec: Json) -> None:
    validate(spec)


async def test_the_document_is_the_same_on_every_request(
    http: httpx.AsyncClient, spec: Json
) -> None:
    """It is completed in place, on every request for it: completing it twice changes nothing."""
    assert (await http.get("/openapi.json")).json() == spec


def test_header_parameters_are_plain_strings(spec: Json) -> None:
    for method, template, operation in _operations(spec):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "header":
                assert parameter["schema"]["type"] == "string", f"{method} {template}"
    create = spec["paths"][JOBS]["post"]["parameters"]
    [key] = [p for p in create if p["name"] == "Idempotency-Key"]
    assert key["schema"]["pattern"] == r"^[\x21-\x7e]{1,255}$"


def test_the_limits_are_documented_as_configured(spec: Json) -> None:
    create = spec["paths"][JOBS]["post"]["responses"]

    assert f"over {MAX_BODY_BYTES // 1024} KiB" in create["413"]["description"]
    assert f"over {MAX_HEADER_BYTES // 1024} KiB" in create["431"]["description"]


def test_the_document_names_its_version_and_server(spec: Json) -> None:
    assert spec["openapi"].startswith("3.1")
    assert spec["info"]["version"] == __version__
    assert spec["servers"][0]["url"] == "/"


def test_the_security_scheme_is_oauth2_client_credentials(spec: Json) -> None:
    scheme = spec["components"]["securitySchemes"]["oauth2"]
    flow = scheme["flows"]["clientCredentials"]

    assert scheme["type"] == "oauth2"
    assert list(scheme["flows"]) == ["clientCredentials"]
    assert "post" in spec["paths"][flow["tokenUrl"]]
    assert set(flow["scopes"]) == set(scopes.ALL)
    assert all(len(text) > len(scope) for scope, text in flow["scopes"].items())


def test_every_secured_operation_names_the_one_scope_it_needs(spec: Json) -> None:
    for method, template, operation in _operations(spec):
        requirements = operation.get("security", [])
        if template.startswith(("/v1/document/", "/v1/webhook")):
            assert len(requirements) == 1, f"{method} {template}: {requirements}"
            [scope] = requirements[0]["oauth2"]
            assert scope in scopes.ALL
        else:
            assert all("oauth2" not in r for r in requirements), f"{method} {template}"


def test_the_token_endpoint_documents_json_form_and_basic_client_auth(spec: Json) -> None:
    for path in ("/oauth2/token", "/v1/oauth/token"):
        operation = spec["paths"][path]["post"]
        content = operation["requestBody"]["content"]
        errors = [operation["responses"][code] for code in ("400", "401", "429", "503")]

        assert set(content) == {"application/json", "application/x-www-form-urlencoded"}
        assert spec["components"]["securitySchemes"]["clientBasic"]["scheme"] == "basic"
        assert operation["security"] == [{"clientBasic": []}, {}]
        assert operation["responses"]["200"]["headers"]["Cache-Control"]["required"]
        for response in errors:
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/OAuthErrorBody"}
    body = spec["components"]["schemas"]["OAuthErrorBody"]["properties"]["error"]
    assert {"invalid_request", "invalid_client", "unsupported_grant_type", "invalid_scope"} <= set(
        body["enum"]
    )


def test_status_error_code_ids_and_timestamps_are_typed(spec: Json) -> None:
    schemas = spec["components"]["schemas"]

    assert schemas["JobStatus"]["enum"] == ["PENDING", "PROCESSING", "COMPLETE", "FAILED"]
    assert set(schemas["JobErrorCode"]["enum"]) == {code.value for code in JobErrorCode}
    for name in ("JobAccepted", "JobView"):
        assert schemas[name]["properties"]["jobId"]["format"] == "uuid"
    timestamps = [
        (schema, name, _alternatives(prop))
        for schema, body in schemas.items()
        for name, prop in body.get("properties", {}).items()
        if name.endswith("At") or name in {"timestamp", "previousSecretValidUntil"}
    ]
    assert len(timestamps) >= 10
    for schema, name, alternatives in timestamps:
        assert {"type": "string", "format": "date-time"} in alternatives, f"{schema}.{name}"


def _alternatives(prop: Json) -> list[Json]:
    """The property's schema, or each of its `anyOf` (nullable) members, without examples."""
    members = prop.get("anyOf", [prop])
    return [{k: v for k, v in m.items() if k in ("type", "format")} for m in members]


def test_every_answer_is_documented_with_the_request_id_header(spec: Json) -> None:
    for method, template, operation in _operations(spec):
        for code, response in operation["responses"].items():
            assert response["headers"]["X-Request-ID"] == {
                "$ref": "#/components/headers/X-Request-ID"
            }, f"{method} {template} {code}"
    envelope = spec["components"]["schemas"]["ErrorEnvelope"]
    assert "requestId" in envelope["properties"]
    assert "requestId" not in envelope["required"]


async def test_every_answer_carries_a_request_id(tour: Tour, token_a: str) -> None:
    answers = [
        await tour.http.get("/healthz"),
        await tour.http.get(f"{JOBS}/{UNKNOWN_ID}", headers=tour.bearer(token_a)),
        await tour.http.get(f"{JOBS}/{UNKNOWN_ID}"),
        await tour.http.post(JOBS, content=TOO_LARGE_BODY, headers=tour.bearer(token_a)),
        await tour.http.get("/healthz", headers=TOO_LARGE_HEADERS),
        await tour.http.post("/oauth2/token", json={"grant_type": "client_credentials"}),
    ]

    for answer in answers:
        assert answer.headers.get("X-Request-ID"), f"{answer.request.url.path} {answer}"
        if answer.status_code >= 400 and "code" in answer.json():
            assert answer.json()["requestId"] == answer.headers["X-Request-ID"]


async def test_the_tour_gives_every_documented_answer_and_only_those(
    tour: Tour, container: Container, worker: Worker, receiver: Receiver, local_targets: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    creds = await register_org(container, "Tour Ltd", list(scopes.ALL))
    alice = await add_user(
        container, id="US1A2B3C4D5E6F78", first_name="Alice", last_name="Tour",
        dob="1991-02-03", country="NO", connections=connected(creds.org_id),
    )  # fmt: skip
    token = await _tokens(tour, container, creds)
    await _secured_operations_refuse_without_their_scope(tour, creds)
    jobs = await _reports_before_rendering(tour, token, alice)
    await _webhooks_before_rendering(tour, token, receiver)
    assert await worker.drain() >= 3
    link = await _reports_once_rendered(tour, container, token, jobs, monkeypatch)
    await _webhooks_once_delivered(tour, token)
    await _deletion(tour, token, jobs, link)
    await _rate_limit(tour, token, alice)
    await _keys_and_health(tour, container, monkeypatch)
    await _outages(tour, container, creds, token, monkeypatch)

    documented = {(m, t, code) for m, t, op in _operations(tour.spec) for code in op["responses"]}
    not_given = {answer for answer in documented - tour.given if answer[2] not in APP_WIDE}
    assert not not_given, f"documented, never given: {sorted(not_given)}"
    assert {code for _, _, code in tour.given} >= APP_WIDE


async def _tokens(tour: Tour, container: Container, creds: ClientCredentials) -> str:
    """JSON, form and HTTP Basic requests; RFC 6749's errors; the failed-auth throttle."""
    body = {"grant_type": "client_credentials", "client_id": creds.client_id}
    form = {"content-type": "application/x-www-form-urlencoded"}
    basic = base64.b64encode(f"{creds.client_id}:{creds.client_secret}".encode()).decode()
    json_grant = await tour.call(
        "POST", "/oauth2/token", 200, json=body | {"client_secret": creds.client_secret}
    )
    await tour.call(
        "POST", "/v1/oauth/token", 200, data=body | {"client_secret": creds.client_secret}
    )
    await tour.call(
        "POST", "/oauth2/token", 200, content=b"grant_type=client_credentials",
        headers=form | {"Authorization": f"Basic {basic}"},
    )  # fmt: skip
    stranger = {"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"}
    for _ in range(container.settings.auth.failed_attempts_per_client):
        await tour.call("POST", "/v1/oauth/token", 401, json=stranger)
    for path in ("/oauth2/token", "/v1/oauth/token"):  # one handler: the same answers
        await tour.call("POST", path, 400, json=body | {"grant_type": "password"})
        await tour.call("POST", path, 401, json=body | {"client_secret": "wrong"})
        await tour.call("POST", path, 413, content=TOO_LARGE_BODY, headers=form)
        await tour.call("POST", path, 429, json=stranger)
    token: str = json_grant.json()["access_token"]
    return token


async def _secured_operations_refuse_without_their_scope(
    tour: Tour, creds: ClientCredentials
) -> None:
    """Each operation's documented scope is the one it checks: a token with every scope but
    that one gets 403 `insufficient_scope` naming it; no token, or a bad one, gets 401."""
    for method, template, operation in _operations(tour.spec):
        if not operation.get("security") or "oauth2" not in operation["security"][0]:
            continue
        [scope] = operation["security"][0]["oauth2"]
        others = " ".join(s for s in scopes.ALL if s != scope)
        grant = {"grant_type": "client_credentials", "scope": others}
        secrets = {"client_id": creds.client_id, "client_secret": creds.client_secret}
        narrow = (await tour.call("POST", "/oauth2/token", 200, json=grant | secrets)).json()
        url = re.sub(r"\{[^}]+\}", UNKNOWN_ID, template)
        refused = await tour.call(
            method, url, 403, json={}, headers=tour.bearer(narrow["access_token"])
        )
        assert f'scope="{scope}"' in refused.headers["WWW-Authenticate"], f"{method} {template}"
        await tour.call(method, url, 401, json={})
        await tour.call(method, url, 401, json={}, headers=tour.bearer("not-a-token"))


@dataclass
class _Jobs:
    first: str
    failing: str


async def _reports_before_rendering(tour: Tour, token: str, alice: str) -> _Jobs:
    auth = tour.bearer(token)
    first = (await tour.call("POST", JOBS, 202, json={"userId": alice}, headers=auth)).json()
    keyed = auth | {"Idempotency-Key": "tour-1"}
    await tour.call("POST", JOBS, 202, json={"userId": alice}, headers=keyed)
    replay = await tour.call("POST", JOBS, 202, json={"userId": alice}, headers=keyed)
    assert replay.headers["Idempotent-Replayed"] == "true"
    await tour.call("POST", JOBS, 422, json={"userId": "US0THER"}, headers=keyed)
    await tour.call("POST", JOBS, 400, json={"userId": "X" * 17}, headers=auth)
    await tour.call(
        "POST", JOBS, 400, json={"userId": alice}, headers=auth | {"Idempotency-Key": "a b"}
    )
    await tour.call("POST", JOBS, 415, content=b"userId", headers=auth)
    await tour.call("POST", JOBS, 413, content=TOO_LARGE_BODY, headers=auth)
    waited = await tour.call(
        "POST", JOBS, 202, json={"userId": alice}, headers=auth | {"Prefer": "wait=1"}
    )
    assert waited.headers["Preference-Applied"] == "wait=1"
    failing = await tour.call("POST", JOBS, 202, json={"userId": "USNOBODY"}, headers=auth)

    job = f"{JOBS}/{first['jobId']}"
    pending = await tour.call("GET", job, 200, headers=auth)
    assert "Retry-After" in pending.headers
    await tour.call("GET", job, 200, headers=auth | {"Prefer": "wait=1"})
    await tour.call("GET", f"{JOBS}/{UNKNOWN_ID}", 404, headers=auth)
    await tour.call("GET", f"{job}/url", 422, headers=auth)
    await tour.call("GET", JOBS, 200, headers=auth)
    await tour.call("GET", JOBS, 400, params={"limit": "0"}, headers=auth)
    return _Jobs(first=first["jobId"], failing=failing.json()["jobId"])


async def _reports_once_rendered(
    tour: Tour, container: Container, token: str, jobs: _Jobs, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Statuses once terminal, the download URL and the download; returns the URL."""
    auth = tour.bearer(token)
    complete = await tour.call("GET", f"{JOBS}/{jobs.first}", 200, headers=auth)
    failed = await tour.call("GET", f"{JOBS}/{jobs.failing}", 200, headers=auth)
    assert (complete.json()["status"], failed.json()["status"]) == ("COMPLETE", "FAILED")
    assert "Retry-After" not in complete.headers
    minted = await tour.call("GET", f"{JOBS}/{jobs.first}/url", 200, headers=auth)
    link = str(minted.json()["url"])
    await tour.call("GET", f"{JOBS}/{UNKNOWN_ID}/url", 404, headers=auth)

    await tour.call("GET", link, 200)
    await tour.call("GET", link.replace("signature=", "signature=0"), 403)
    with monkeypatch.context() as patched:
        patched.setattr(container, "store", MemoryStore())  # with S3, downloads go to S3 itself
        await tour.call("GET", link, 404)
    return link


async def _deletion(tour: Tour, token: str, jobs: _Jobs, link: str) -> None:
    """A deleted report: its URL, and a URL minted before, answer 410."""
    auth = tour.bearer(token)
    await tour.call("DELETE", f"{JOBS}/{jobs.first}", 204, headers=auth)
    await tour.call("DELETE", f"{JOBS}/{UNKNOWN_ID}", 404, headers=auth)
    gone = await tour.call("GET", f"{JOBS}/{jobs.first}/url", 410, headers=auth)
    assert gone.json()["error"] == "REPORT_DELETED"
    await tour.call("GET", link, 410)


async def _webhooks_before_rendering(tour: Tour, token: str, receiver: Receiver) -> None:
    auth = tour.bearer(token)
    await tour.call("GET", "/v1/webhook", 404, headers=auth)
    await tour.call("DELETE", "/v1/webhook", 404, headers=auth)
    await tour.call("PUT", "/v1/webhook", 400, json={"url": "ftp://example.com/"}, headers=auth)
    await tour.call("PUT", "/v1/webhook", 415, content=b"url", headers=auth)
    await tour.call("PUT", "/v1/webhook", 413, content=TOO_LARGE_BODY, headers=auth)
    await tour.call("PUT", "/v1/webhook", 200, json={"url": receiver.url()}, headers=auth)
    await tour.call("GET", "/v1/webhook", 200, headers=auth)
    await tour.call("GET", "/v1/webhook/deliveries", 400, params={"limit": "0"}, headers=auth)
    redeliver = f"/v1/webhook/deliveries/{UNKNOWN_ID}/redeliver"
    await tour.call("POST", redeliver, 404, headers=auth)


async def _webhooks_once_delivered(tour: Tour, token: str) -> None:
    auth = tour.bearer(token)
    listed = await tour.call("GET", "/v1/webhook/deliveries", 200, headers=auth)
    event = listed.json()["items"][0]["eventId"]
    redeliver = f"/v1/webhook/deliveries/{event}/redeliver"
    await tour.call("POST", redeliver, 202, headers=auth)
    await tour.call("POST", redeliver, 422, headers=auth)  # that one is due now
    await tour.call("DELETE", "/v1/webhook", 204, headers=auth)


async def _rate_limit(tour: Tour, token: str, alice: str) -> None:
    """Creations until the org's quota is spent: then 429, with the quota's headers."""
    auth = tour.bearer(token)
    for _ in range(10):
        answer = await tour.http.post(JOBS, json={"userId": alice}, headers=auth)
        if answer.status_code == 429:
            break
    refused = await tour.call("POST", JOBS, 429, json={"userId": alice}, headers=auth)
    assert int(refused.headers["Retry-After"]) > 0


async def _keys_and_health(
    tour: Tour, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    await tour.call("GET", "/.well-known/jwks.json", 200)
    await tour.call("GET", "/healthz", 200)
    await tour.call("GET", "/readyz", 200)
    await tour.call("GET", "/healthz", 431, headers=TOO_LARGE_HEADERS)
    with monkeypatch.context() as patched:
        patched.setattr(container, "store", _UnreachableStore())
        await tour.call("GET", "/readyz", 503)


async def _outages(
    tour: Tour, container: Container, creds: ClientCredentials, token: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The database unreachable: 503 in the envelope (in RFC 6749's shape at the token
    endpoint), each with Retry-After; anything unforeseen: a 500 in the envelope."""
    secrets = {"client_id": creds.client_id, "client_secret": creds.client_secret}
    grant = {"grant_type": "client_credentials"} | secrets
    with monkeypatch.context() as patched:
        patched.setattr(container, "statement_reads", _Outage())
        patched.setattr(container, "read_sessions", _Outage())
        await tour.call("GET", f"{JOBS}/{UNKNOWN_ID}", 503, headers=tour.bearer(token))
        await tour.call("POST", "/oauth2/token", 503, json=grant)
    with monkeypatch.context() as patched:
        patched.setattr(container, "statement_reads", _Outage(RuntimeError))
        await tour.call("GET", f"{JOBS}/{UNKNOWN_ID}", 500, headers=tour.bearer(token))
