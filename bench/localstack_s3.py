"""LocalStack's S3 for the benchmarks, through scripts/localstack.sh.

`shared` uses the S3 that already answers at an endpoint (another run's, or the tests'), or
starts the script's default instance and stops only that one. `own` starts an instance of this
run's own, on its own port and run directory, that nobody else uses: bench/chaos.py freezes it
(SIGSTOP), which must never hit someone else's tests.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import httpx
from botocore.config import Config
from processes import step

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "localstack.sh"
KEY = "test"  # LocalStack's well-known credentials (never a real secret)


def s3_healthy(endpoint: str) -> bool:
    try:
        services = httpx.get(f"{endpoint}/_localstack/health", timeout=2).json()["services"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return False
    return isinstance(services, dict) and services.get("s3") in ("available", "running")


def s3_client(endpoint: str, region: str) -> S3Client:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=KEY,
        aws_secret_access_key=KEY,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def s3_objects(client: S3Client, bucket: str) -> list[str]:
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return keys


def remove_bucket(client: S3Client, bucket: str) -> None:
    keys = s3_objects(client, bucket)
    for start in range(0, len(keys), 1000):
        chunk: list[ObjectIdentifierTypeDef] = [{"Key": k} for k in keys[start : start + 1000]]
        client.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})
    client.delete_bucket(Bucket=bucket)


def _script(action: str, env: dict[str, str] | None = None, *, check: bool) -> None:
    subprocess.run([str(SCRIPT), action], check=check, start_new_session=True, env=env)


@contextlib.contextmanager
def shared(endpoint: str) -> Iterator[None]:
    """Use the S3 that answers at the endpoint, or start LocalStack (and stop only that one)."""
    if s3_healthy(endpoint):
        step(f"using the S3 already running at {endpoint}")
        yield
        return
    step("starting LocalStack (scripts/localstack.sh)")
    try:
        _script("start", check=True)
        yield
    finally:
        step("stopping the LocalStack this benchmark started")
        _script("stop", check=False)


@dataclass(frozen=True)
class OwnLocalStack:
    port: int
    pid: int

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def own(run_dir: Path, port: int) -> Iterator[OwnLocalStack]:
    """A LocalStack of this run's own (port and run directory), stopped on the way out."""
    env = os.environ | {"LOCALSTACK_RUN_DIR": str(run_dir), "LOCALSTACK_PORT": str(port)}
    step(f"starting a LocalStack of this run's own on port {port} (scripts/localstack.sh)")
    try:
        _script("start", env, check=True)
        pid = int((run_dir / "localstack.pid").read_text())
        yield OwnLocalStack(port, pid)
    finally:
        step("stopping this run's LocalStack")
        _script("stop", env, check=False)
