"""An API client's round trip against a running deployment, for the container checks in CI.

`scripts/container-ci.sh` runs it inside the service's own image (it needs only httpx and boto3,
both runtime dependencies), on the network of the deployment it checks: the host's, or the
Compose stack's, where the presigned URLs name the S3 service as the API sees it.

    python container_flow.py flow   --url URL --credentials demo.json   # token ... sha256
    python container_flow.py create --url URL --credentials demo.json   # prints the job id
    python container_flow.py status --url URL --credentials demo.json JOB_ID
    python container_flow.py finish --url URL --credentials demo.json JOB_ID
    python container_flow.py bucket create|delete NAME --endpoint URL

The credentials file is what `sqr-reports demo --json` prints; the job is for its first user.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

#: `Prefer: wait=N` on status reads: the API answers as soon as the job is terminal.
WAIT_SECONDS = 10


@dataclass(frozen=True)
class Client:
    http: httpx.Client
    token: str
    user_id: str

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kwargs)


#: How long the first request may take, and how long it is repeated while the API answers 503
#: (as clients should: `Retry-After`). Podman's DNS server often stops answering for 10-40 s
#: just after containers join or leave a Compose network (the flow's own container has just
#: joined): an API process that needs a new database connection then holds the request until
#: `postgres` resolves, or answers 503 if it never does (docs/deploy.md, "What CI proves").
UNAVAILABLE_FOR_AT_MOST = 60.0


def connect(url: str, credentials_file: Path) -> Client:
    credentials = json.loads(credentials_file.read_text(encoding="utf-8"))
    http = httpx.Client(base_url=url, timeout=WAIT_SECONDS + 20)
    body = {
        "client_id": credentials["client_id"],
        "client_secret": credentials["client_secret"],
        "grant_type": "client_credentials",
    }
    started = time.monotonic()
    deadline = started + UNAVAILABLE_FOR_AT_MOST
    answer = http.post("/oauth2/token", json=body, timeout=UNAVAILABLE_FOR_AT_MOST)
    while answer.status_code == 503 and time.monotonic() < deadline:
        pause = float(answer.headers.get("Retry-After", "2"))
        print(f"token: HTTP 503 ({answer.text}); again in {pause:g} s", file=sys.stderr)
        time.sleep(pause)
        answer = http.post("/oauth2/token", json=body, timeout=UNAVAILABLE_FOR_AT_MOST)
    took = time.monotonic() - started
    if took > 5:  # worth a line in CI's log: the DNS stall above, most likely
        print(f"token: answered after {took:.1f} s", file=sys.stderr)
    expect(answer, 200, "token")
    return Client(http, answer.json()["access_token"], credentials["users"][0]["id"])


def expect(answer: httpx.Response, status: int, what: str) -> None:
    if answer.status_code != status:
        raise SystemExit(f"{what}: HTTP {answer.status_code} (expected {status}): {answer.text}")


def create(client: Client) -> str:
    answer = client.call("POST", "/v1/document/api", json={"userId": client.user_id})
    expect(answer, 202, "create")
    job_id: str = answer.json()["jobId"]
    return job_id


def status(client: Client, job_id: str) -> dict[str, Any]:
    answer = client.call("GET", f"/v1/document/api/{job_id}")
    expect(answer, 200, "status")
    job: dict[str, Any] = answer.json()
    return job


def wait_terminal(client: Client, job_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        answer = client.call(
            "GET", f"/v1/document/api/{job_id}", headers={"Prefer": f"wait={WAIT_SECONDS}"}
        )
        expect(answer, 200, "status")
        job: dict[str, Any] = answer.json()
        if job["status"] in ("COMPLETE", "FAILED"):
            return job
        if time.monotonic() > deadline:
            raise SystemExit(f"job {job_id} still {job['status']} after {timeout:.0f} s")


def finish(client: Client, job_id: str, timeout: float) -> dict[str, Any]:
    """Wait for COMPLETE, mint a URL, download it and check it is the job's PDF."""
    job = wait_terminal(client, job_id, timeout)
    if job["status"] != "COMPLETE":
        raise SystemExit(f"job {job_id} {job['status']}: {job['errorCode']} {job['errorMessage']}")
    link = client.call("GET", f"/v1/document/api/{job_id}/url")
    expect(link, 200, "url")
    download = httpx.get(link.json()["url"], timeout=30)
    expect(download, 200, "download")
    digest = hashlib.sha256(download.content).hexdigest()
    problems = []
    if download.headers.get("Content-Type") != "application/pdf":
        problems.append(f"Content-Type {download.headers.get('Content-Type')}")
    if not download.content.startswith(b"%PDF-"):
        problems.append("not a PDF")
    if digest != job["sha256"]:
        problems.append(f"sha256 {digest}, the job says {job['sha256']}")
    if problems:
        raise SystemExit(f"download of job {job_id}: {'; '.join(problems)}")
    return {
        "jobId": job_id,
        "status": job["status"],
        "pageCount": job["pageCount"],
        "sizeBytes": len(download.content),
        "sha256": digest,
        "createToComplete": f"{_seconds(job['createdAt'], job['completedAt']):.2f} s",
    }


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def bucket(action: str, name: str, endpoint: str) -> None:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
    )
    if action == "create":
        s3.create_bucket(Bucket=name)
        return
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=item["Key"])
    s3.delete_bucket(Bucket=name)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "bucket":
        bucket(args.action, args.name, args.endpoint)
        return 0
    client = connect(args.url, args.credentials)
    if args.command == "create":
        print(create(client))
    elif args.command == "status":
        print(status(client, args.job_id)["status"])
    elif args.command == "finish":
        print(json.dumps(finish(client, args.job_id, args.timeout)))
    else:
        print(json.dumps(finish(client, create(client), args.timeout)))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    api = argparse.ArgumentParser(add_help=False)
    api.add_argument("--url", required=True, help="the API's base URL")
    api.add_argument("--credentials", type=Path, required=True, help="`demo --json` output")
    api.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for COMPLETE")
    commands.add_parser("flow", parents=[api], help="token, create, COMPLETE, URL, download")
    commands.add_parser("create", parents=[api], help="create a job; print its id")
    for name in ("status", "finish"):
        commands.add_parser(name, parents=[api]).add_argument("job_id")
    store = commands.add_parser("bucket", help="create, or empty and delete, an S3 bucket")
    store.add_argument("action", choices=("create", "delete"))
    store.add_argument("name")
    store.add_argument("--endpoint", required=True)
    return parser


if __name__ == "__main__":
    sys.exit(main())
