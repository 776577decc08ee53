"""The stage of the chaos run (bench/chaos.py): its settings, scratch data and service processes.

The services reach PostgreSQL and S3 through the run's proxies (so the run can cut them); the
run's own calls (migrate, orgs, users, the history triggers) go to the database directly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import chaos_history
import httpx
import localstack_s3
from chaos_faults import Fleet, ProxyThread
from chaos_load import ClientJob
from fleet import OrgCredentials, cli, create_orgs, user_id, users_jsonl, write_signing_key
from measure import free_port
from processes import Services, base_env, step, wait_ready, wait_worker
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from sqr_reports.config import AuthSettings, RateLimitSettings, Settings, StorageSettings

REGION = "us-east-1"


@dataclass
class Setup:
    """What the run was given: its processes, its proxies, its database and its bucket."""

    args: argparse.Namespace
    workdir: Path
    services: Services
    admin_env: dict[str, str]
    service_env: dict[str, str]
    settings: Settings
    engine: AsyncEngine
    db_proxy: ProxyThread
    s3_proxy: ProxyThread
    localstack_pid: int
    bucket: str
    s3_endpoint: str


def environments(
    args: argparse.Namespace, workdir: Path, db_port: int, s3_endpoint: str, bucket: str
) -> tuple[dict[str, str], dict[str, str]]:
    """(the CLI's environment: the database directly, the services': through the proxies)."""
    key_file = workdir / "signing-key.pem"
    write_signing_key(key_file)
    direct = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{args.database}"
    common = base_env(workdir) | {
        "SQR_REPORTS_AUTH__PRIVATE_KEY_FILES": json.dumps([str(key_file)]),
        "SQR_REPORTS_WORKER__EMBEDDED": "false",
        "SQR_REPORTS_WORKER__LEASE_SECONDS": str(args.lease),
        "SQR_REPORTS_WORKER__HEARTBEAT_SECONDS": str(args.lease / 5),
        "SQR_REPORTS_WORKER__POLL_SECONDS": "1",
        "SQR_REPORTS_WORKER__SHUTDOWN_GRACE_SECONDS": "5",
        "SQR_REPORTS_STORAGE__BACKEND": "s3",
        "SQR_REPORTS_STORAGE__S3_BUCKET": bucket,
        "SQR_REPORTS_STORAGE__S3_REGION": REGION,
        "SQR_REPORTS_STORAGE__S3_ENDPOINT_URL": s3_endpoint,
        "SQR_REPORTS_STORAGE__S3_ACCESS_KEY_ID": localstack_s3.KEY,
        "SQR_REPORTS_STORAGE__S3_SECRET_ACCESS_KEY": localstack_s3.KEY,
        "SQR_REPORTS_STORAGE__S3_ADDRESSING_STYLE": "path",
        # Workers log at INFO: their start line, and each claim they lost.
        "SQR_REPORTS_LOG_LEVEL": "INFO",
    }
    admin = common | {"SQR_REPORTS_DATABASE_URL": direct}
    proxied = common | {"SQR_REPORTS_DATABASE_URL": direct.replace(":5432/", f":{db_port}/")}
    return admin, proxied


def admin_settings(env: dict[str, str], workdir: Path) -> Settings:
    """The settings of the run's own calls into the project (orgs), on the database directly."""
    storage = StorageSettings(
        backend="s3", s3_bucket=env["SQR_REPORTS_STORAGE__S3_BUCKET"], s3_region=REGION,
        s3_endpoint_url=env["SQR_REPORTS_STORAGE__S3_ENDPOINT_URL"],
        s3_access_key_id=localstack_s3.KEY, s3_secret_access_key=SecretStr(localstack_s3.KEY),
        s3_addressing_style="path",
    )  # fmt: skip
    key_files = [Path(p) for p in json.loads(env["SQR_REPORTS_AUTH__PRIVATE_KEY_FILES"])]
    return Settings(
        _env_file=None, data_dir=workdir / "data", storage=storage,
        database_url=env["SQR_REPORTS_DATABASE_URL"],
        auth=AuthSettings(private_key_files=key_files),
    )  # fmt: skip


def versioned_bucket(endpoint: str) -> str:
    """A bucket that keeps every version, so that no PUT that reached S3 goes unseen."""
    s3 = localstack_s3.s3_client(endpoint, REGION)
    name = "sqr-chaos"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


async def start_fleet(setup: Setup, fleet: Fleet, http: httpx.AsyncClient) -> list[str]:
    deadline = time.monotonic() + 120
    api_env = setup.service_env | {"SQR_REPORTS_LOG_LEVEL": "WARNING"}  # no access lines
    apis = []
    for number in range(setup.args.apis):
        port = free_port()
        apis.append(
            setup.services.start(
                f"api-{number + 1}", "api",
                ["api", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                api_env, setup.workdir, url=f"http://127.0.0.1:{port}",
            )
        )  # fmt: skip
    workers = [fleet.start_worker() for _ in range(setup.args.workers)]
    await asyncio.gather(*(wait_worker(w, deadline) for w in workers))
    await asyncio.gather(*(wait_ready(http, api, deadline) for api in apis))
    return [api.url for api in apis]


async def prepare(setup: Setup) -> list[OrgCredentials]:
    """Schema, history triggers, and enough orgs (with users) to stay under the rate limit."""
    cli(["migrate"], setup.admin_env, setup.workdir)
    await chaos_history.install(setup.engine)
    count = math.ceil(setup.args.jobs / RateLimitSettings().creations_per_window)
    orgs = await create_orgs(setup.settings, count)
    users = setup.workdir / "users.jsonl"
    users.write_text(users_jsonl(orgs, setup.args.users_per_org), encoding="utf-8")
    step(cli(["user", "import", str(users)], setup.admin_env, setup.workdir).strip())
    return orgs


def client_jobs(args: argparse.Namespace, tokens: dict[int, str]) -> list[ClientJob]:
    """Job i is org i's (modulo the orgs), for each of its users in turn."""
    count = len(tokens)
    return [
        ClientJob(i, tokens[i % count], user_id(i % count, (i // count) % args.users_per_org))
        for i in range(args.jobs)
    ]
