"""What the load benchmarks share: many orgs with their clients, users and tokens, and process CPU.

A load from one org measures one org's rate limit and one user's report; real traffic comes from
many orgs, each with its own users. `create_orgs` registers orgs and clients through the
project's services (one process instead of hundreds of CLI calls); `users_jsonl` writes their
users for `sqr-reports user import`; `fetch_tokens` gets each org a token from the API.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sqr_reports.auth import service as auth
from sqr_reports.config import Settings
from sqr_reports.container import build_container
from sqr_reports.orgs.service import create_org

BIN = Path(sys.executable).parent / "sqr-reports"
CLK_TCK = os.sysconf("SC_CLK_TCK")

_PROFILES: list[dict[str, Any]] = [
    {"first_name": "Amelia", "last_name": "Clarke", "country": "GB", "city": "Manchester",
     "selfie_liveness_score": 97.2, "fmc_score": 93.4, "id3_pep_sanction_result": "CLEAR"},
    {"first_name": "Marek", "last_name": "Nowak", "country": "PL", "city": "Warszawa",
     "selfie_liveness_score": 91.0, "fmc_score": 88.5, "id3_pep_sanction_result": "PEP_MATCH"},
    {"first_name": "Sophie", "last_name": "Müller", "country": "DE", "city": "Berlin",
     "selfie_liveness_score": 88.0, "fmc_score": 41.5, "high_level_result": "REFER"},
    {"first_name": "Анастасия", "last_name": "Смирнова", "country": "GR", "city": "Αθήνα",
     "selfie_liveness_score": 95.1, "fmc_score": 90.2, "id3_pep_sanction_result": "CLEAR"},
    {"first_name": "ليلى", "last_name": "حداد", "country": "AE", "city": "Dubai",
     "selfie_liveness_score": 82.3, "fmc_score": 79.9, "id3_pep_sanction_result": "CLEAR"},
]  # fmt: skip


@dataclass(frozen=True)
class OrgCredentials:
    index: int
    org_id: str
    client_id: str
    client_secret: str

    def token_request(self) -> dict[str, str]:
        return {"client_id": self.client_id, "client_secret": self.client_secret,
                "grant_type": "client_credentials"}  # fmt: skip


async def create_orgs(settings: Settings, count: int) -> list[OrgCredentials]:
    """Real orgs and clients, through the project's services (one process instead of 2N CLIs)."""
    container = build_container(settings)
    created = []
    try:
        async with container.sessions.begin() as session:
            for index in range(count):
                org = await create_org(session, container.db_clock, f"Bench Org {index:03d}")
                client, secret = await auth.create_client(
                    session, org.id, hasher=container.hasher, clock=container.db_clock
                )
                created.append(OrgCredentials(index, org.id, client.client_id, secret))
    finally:
        await container.close()
    return created


def write_signing_key(path: Path) -> None:
    """One RS256 key that every API process signs with (tokens must verify on any of them)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


async def fetch_tokens(
    http: httpx.AsyncClient, apis: list[str], orgs: list[OrgCredentials]
) -> dict[int, str]:
    """One token per org (Argon2id at production cost: a few at a time)."""
    limit = asyncio.Semaphore(2 * len(apis))

    async def one(org: OrgCredentials) -> tuple[int, str]:
        async with limit:
            url = f"{apis[org.index % len(apis)]}/oauth2/token"
            response = await http.post(url, json=org.token_request())
        if response.status_code != 200:
            raise SystemExit(f"token for org {org.index}: {response.status_code} {response.text}")
        return org.index, str(response.json()["access_token"])

    return dict(await asyncio.gather(*(one(org) for org in orgs)))


def user_id(org: int, user: int) -> str:
    return f"B{org:05d}U{user:02d}"


def user_line(org: int, user: int, org_id: str) -> str:
    """One connected user of an org, as `sqr-reports user import` reads it (JSON Lines)."""
    profile = _PROFILES[(org + user) % len(_PROFILES)]
    record = {
        "id": user_id(org, user),
        "email": f"user{user}.org{org}@example.com",
        "dob": f"19{70 + (org + user) % 30}-0{1 + user % 9}-1{user % 10}",
        "registration_status": "active",
        "document_overall_validation": "PASSED",
        "id3_match_status": "MATCH",
        "high_level_result": "PASS",
        **profile,
        "connections": [{"org_id": org_id, "connection_status": "CONNECTED",
                         "data_sharing_agreed": True, "connected_at": "2025-03-01T10:15:00Z"}],
        "monitoring": [{"kind": kind, "status": "CLEAR", "recorded_at": "2026-10-01T06:00:00Z"}
                       for kind in ("PEP", "SANCTION", "ADVERSE_MEDIA")],
    }  # fmt: skip
    return json.dumps(record, ensure_ascii=False)


def users_jsonl(orgs: list[OrgCredentials], users_per_org: int) -> str:
    return "".join(
        user_line(org.index, user, org.org_id) + "\n"
        for org in orgs
        for user in range(users_per_org)
    )


def cli(args: list[str], env: dict[str, str], cwd: Path) -> str:
    """Run `sqr-reports ARGS`; its output, or exit with what it printed."""
    done = subprocess.run(
        [str(BIN), *args], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"sqr-reports {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may hold spaces)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds of a process and all its descendants, living or reaped (cutime, cstime).

    A render process replaced during the run was reaped by its parent, so it is counted there.
    """
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := proc_stat(int(entry.name))) is not None:
            parents[int(entry.name)] = int(stat[1])
            ticks[int(entry.name)] = sum(int(v) for v in stat[11:15])
    total = 0
    for pid, value in ticks.items():
        ancestor = pid
        while ancestor not in (root, 0, 1) and ancestor in parents:
            ancestor = parents[ancestor]
        if ancestor == root:
            total += value
    return total / CLK_TCK
