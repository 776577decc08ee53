"""Bad input on the report API: every rejection in the house envelope, nothing created."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select

from sqr_reports.app import create_app
from sqr_reports.container import Container
from sqr_reports.reports import service
from sqr_reports.reports.errors import JobErrorCode
from sqr_reports.reports.models import ReportJob
from tests.support import Api, assert_envelope

JOBS = "/v1/document/api"


async def _job_count(container: Container) -> int:
    async with container.sessions() as session:
        return int(
            (await session.execute(select(func.count()).select_from(ReportJob))).scalar_one()
        )


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        (b"{}", "userId", "required"),
        (b'{"userId": ""}', "userId", "minLength"),
        (b'{"userId": "US1234567890ABCDE"}', "userId", "maxLength"),
        (b'{"userId": 1234}', "userId", "type"),
        (b'{"userId": null}', "userId", "type"),
        (b'{"userId": "US1", "reportType": "full"}', "reportType", "unknownField"),
        (b'{"userId": "US1"', "body", "invalidJson"),
        (b'["US1"]', "body", "type"),
    ],
)
async def test_invalid_bodies_are_400_with_field_errors(
    http: httpx.AsyncClient, container: Container, token_a: str, body: bytes, field: str,
    code: str,
) -> None:  # fmt: skip
    response = await http.post(
        JOBS,
        content=body,
        headers={"Authorization": f"Bearer {token_a}", "Content-Type": "application/json"},
    )

    envelope = assert_envelope(response, 400, "BAD_REQUEST")
    assert {"field": field, "code": code} in [
        {"field": e["field"], "code": e["code"]} for e in envelope["errors"]
    ]
    assert all(e["hint"] for e in envelope["errors"])
    assert await _job_count(container) == 0


async def test_thousands_of_bad_fields_get_a_short_answer(
    http: httpx.AsyncClient, token_a: str
) -> None:
    body = {"userId": "US1", "x" * 5000: 0} | {f"f{i}": 0 for i in range(4000)}

    response = await http.post(JOBS, json=body, headers={"Authorization": f"Bearer {token_a}"})

    envelope = assert_envelope(response, 400, "BAD_REQUEST")
    assert len(envelope["errors"]) == 20
    assert envelope["errorCount"] == 4001
    assert all(len(e["field"]) <= 100 for e in envelope["errors"])
    assert len(response.content) < 8 * 1024


async def test_non_json_content_type_is_415(http: httpx.AsyncClient, token_a: str) -> None:
    response = await http.post(
        JOBS,
        content=b"userId=US1",
        headers={
            "Authorization": f"Bearer {token_a}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )

    assert_envelope(response, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_authentication_is_checked_before_the_body(http: httpx.AsyncClient) -> None:
    response = await http.post(JOBS, content=b"{garbage", headers={"Content-Type": "text/plain"})

    assert_envelope(response, 401, "UNAUTHORIZED")


async def test_another_orgs_job_an_unknown_id_and_a_malformed_id_answer_the_same_404(
    api: Api, token_a: str, token_b: str, alice: str
) -> None:
    job_id = (await api.create(token_a, alice)).json()["jobId"]
    probes = [
        await api.status(token_b, job_id),
        await api.status(token_a, "3fa85f64-5717-4562-b3fc-2c963f66afa6"),
        await api.status(token_a, "not-a-uuid"),
        await api.url(token_b, job_id),
        await api.url(token_a, "' OR '1'='1"),
    ]

    bodies = [assert_envelope(r, 404, "NOT_FOUND") for r in probes]
    assert {b["message"] for b in bodies} == {"Report job not found"}
    assert (await api.status(token_a, job_id)).status_code == 200


async def test_unknown_routes_and_methods_use_the_envelope(http: httpx.AsyncClient) -> None:
    assert_envelope(await http.get("/v1/nothing-here"), 404, "NOT_FOUND")
    assert_envelope(await http.delete(JOBS), 405, "METHOD_NOT_ALLOWED")


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        (JOBS, "GET, POST"),
        (f"{JOBS}/3fa85f64-5717-4562-b3fc-2c963f66afa6", "DELETE, GET"),
        ("/v1/webhook", "DELETE, GET, PUT"),
    ],
)
async def test_a_wrong_method_is_told_every_method_of_the_path(
    http: httpx.AsyncClient, path: str, allowed: str
) -> None:
    """RFC 9110 §15.5.6: `Allow` lists what the resource supports, not the first route's."""
    response = await http.request("PATCH", path)

    assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["Allow"] == allowed


async def test_unexpected_errors_are_500_without_internals(
    container: Container, token_a: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret database password is hunter2")

    monkeypatch.setattr(service, "job_status", explode)

    # As a real server does: the app answers, then re-raises for the server's log.
    transport = httpx.ASGITransport(app=create_app(container=container), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get(
            f"{JOBS}/3fa85f64-5717-4562-b3fc-2c963f66afa6",
            headers={"Authorization": f"Bearer {token_a}"},
        )

    body = assert_envelope(response, 500, "INTERNAL_SERVER_ERROR")
    assert "hunter2" not in response.text
    assert body["message"] == "Internal server error"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("path", [JOBS, "/oauth2/token"])
async def test_oversized_bodies_are_refused_without_being_buffered(
    http: httpx.AsyncClient, token_a: str, path: str, chunked: bool
) -> None:
    body = b'{"userId": "' + b"A" * (1024 * 1024) + b'"}'

    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    response = await http.post(
        path,
        content=stream() if chunked else body,
        headers={"Authorization": f"Bearer {token_a}", "Content-Type": "application/json"},
    )

    assert_envelope(response, 413, "REQUEST_ENTITY_TOO_LARGE")


@pytest.mark.parametrize("path", [JOBS, "/oauth2/token"])
async def test_absurdly_nested_json_is_a_400_not_a_500(
    http: httpx.AsyncClient, token_a: str, path: str
) -> None:
    body = b"[" * 20_000 + b"]" * 20_000

    response = await http.post(
        path,
        content=body,
        headers={"Authorization": f"Bearer {token_a}", "Content-Type": "application/json"},
    )

    assert response.status_code == 400


async def test_a_nul_character_in_the_user_id_is_a_400(
    http: httpx.AsyncClient, container: Container, token_a: str
) -> None:
    response = await http.post(
        JOBS,
        content=b'{"userId": "US1\\u0000"}',
        headers={"Authorization": f"Bearer {token_a}", "Content-Type": "application/json"},
    )

    body = assert_envelope(response, 400, "BAD_REQUEST")
    assert body["errors"][0]["field"] == "userId"
    assert await _job_count(container) == 0


async def test_openapi_documents_the_envelope_not_fastapis_422(http: httpx.AsyncClient) -> None:
    spec = (await http.get("/openapi.json")).json()
    job = spec["paths"]["/v1/document/api/{job_id}"]["get"]

    assert "HTTPValidationError" not in str(spec)
    assert job["responses"]["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorEnvelope"
    }
    assert job["security"] == [{"oauth2": ["read:reports"]}]
    flow = spec["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "/oauth2/token"


async def test_openapi_lists_every_status_and_error_code(http: httpx.AsyncClient) -> None:
    schemas = (await http.get("/openapi.json")).json()["components"]["schemas"]

    assert schemas["JobStatus"]["enum"] == ["PENDING", "PROCESSING", "COMPLETE", "FAILED"]
    assert set(schemas["JobErrorCode"]["enum"]) == {code.value for code in JobErrorCode}
