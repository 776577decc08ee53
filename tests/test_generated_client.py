"""A client generated from the OpenAPI document by a standard generator (openapi-python-client)
compiles and runs the whole flow: token, create, status, download URL, download.

What a relying party does who takes the document and nothing else: if a header, a body or a
status the service really uses were missing from it, the generated client could not do this.
"""

from __future__ import annotations

import asyncio
import compileall
import importlib
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from sqr_reports.app import create_app
from sqr_reports.container import Container
from sqr_reports.queue.worker import Worker
from tests.support import ClientCredentials

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
BASE_URL = "http://testserver"


@pytest.fixture
async def generated(http: httpx.AsyncClient, tmp_path: Path) -> AsyncIterator[ModuleType]:
    """The client package generated from the service's own /openapi.json, importable."""
    document = tmp_path / "openapi.json"
    document.write_bytes((await http.get("/openapi.json")).content)
    package = f"sqr_generated_{uuid.uuid4().hex[:12]}"
    templates = _fixed_templates(tmp_path / "templates")
    command = [str(GENERATOR), "generate", "--path", str(document), "--meta", "none",
               "--custom-template-path", str(templates),
               "--output-path", str(tmp_path / package)]  # fmt: skip
    done = await asyncio.to_thread(
        subprocess.run,
        command,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={"PATH": str(Path(sys.executable).parent)},  # its post-hooks run this venv's ruff
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert compileall.compile_dir(tmp_path / package, quiet=1)
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(package)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.startswith(package)]:
            del sys.modules[name]


#: openapi-python-client 0.29 sets `body_required` inside a Jinja for loop, where the assignment
#: does not outlive the loop, so an operation with two body media types (the token endpoint:
#: JSON and form, as RFC 6749 and the contract want) gets `| Unset = UNSET` without importing
#: `Unset`. The one line, fixed with a Jinja namespace; the rest is the generator's own.
_LOOP_SCOPED = (
    "{%- for body in endpoint.bodies -%}{% set body_required = body_required and "
    "body.prop.required %}"
)
_NAMESPACED = (
    "{%- set ns = namespace(required=True) -%}{%- for body in endpoint.bodies -%}"
    "{% set ns.required = ns.required and body.prop.required %}"
)


def _fixed_templates(directory: Path) -> Path:
    import openapi_python_client

    macros = Path(openapi_python_client.__file__).parent / "templates" / "endpoint_macros.py.jinja"
    text = macros.read_text(encoding="utf-8")
    assert _LOOP_SCOPED in text, "the generator's template changed: drop or redo this fix"
    fixed = text.replace(_LOOP_SCOPED, _NAMESPACED).replace(
        "{% if not body_required %} | Unset = UNSET", "{% if not ns.required %} | Unset = UNSET"
    )
    directory.mkdir()
    (directory / "endpoint_macros.py.jinja").write_text(fixed, encoding="utf-8")
    return directory


def _module(package: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{package.__name__}.{name}")


async def test_a_generated_client_runs_the_whole_flow(
    generated: ModuleType,
    container: Container,
    worker: Worker,
    org_a: ClientCredentials,
    alice: str,
) -> None:
    client_mod = _module(generated, "client")
    api = "api.pdf_report_api_client"
    token_api = _module(generated, "api.o_auth_token_api.token_oauth2_token_post")
    create_api = _module(generated, f"{api}.create_job_v1_document_api_post")
    status_api = _module(generated, f"{api}.get_job_v1_document_api_job_id_get")
    url_api = _module(generated, f"{api}.get_download_url_v1_document_api_job_id_url_get")
    token_body = _module(generated, "models.token_oauth_2_token_post_data_token_request_body")
    job_create = _module(generated, "models.create_job_v1_document_api_post_job_create")
    transport = httpx.ASGITransport(app=create_app(container=container))

    anonymous = client_mod.Client(base_url=BASE_URL)
    anonymous.set_async_httpx_client(httpx.AsyncClient(transport=transport, base_url=BASE_URL))
    grant = token_body.TokenOauth2TokenPostDataTokenRequestBody.from_dict(
        {
            "grant_type": "client_credentials",
            "client_id": org_a.client_id,
            "client_secret": org_a.client_secret,
        }
    )
    issued = await token_api.asyncio_detailed(client=anonymous, body=grant)
    assert issued.status_code == 200, issued.content
    authed = client_mod.AuthenticatedClient(base_url=BASE_URL, token=issued.parsed.access_token)
    authed.set_async_httpx_client(
        httpx.AsyncClient(
            transport=transport,
            base_url=BASE_URL,
            headers={"Authorization": f"Bearer {issued.parsed.access_token}"},
        )
    )

    created = await create_api.asyncio_detailed(
        client=authed, body=job_create.CreateJobV1DocumentApiPostJobCreate(user_id=alice)
    )
    assert created.status_code == 202, created.content
    job_id = str(created.parsed.job_id)
    assert created.headers["Location"].endswith(job_id)
    assert await worker.drain() == 1
    status = await status_api.asyncio_detailed(job_id=job_id, client=authed)
    link = await url_api.asyncio_detailed(job_id=job_id, client=authed)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as plain:
        pdf = await plain.get(link.parsed.url)

    assert status.parsed.status.value == "COMPLETE"
    assert status.parsed.page_count >= 1
    assert link.parsed.expires_in_seconds == 300
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF-")
    assert len(pdf.content) == status.parsed.size_bytes
