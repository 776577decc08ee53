"""Every job's full history, recorded by the chaos run's own database and bucket.

The job table keeps only each job's current state, so the chaos run records the rest itself, in
its scratch database only (never in the product's migrations):

- A row trigger on `report_jobs` appends every INSERT, UPDATE and DELETE to
  `chaos_job_history`, with the transaction it belongs to, the status, attempt number (the
  fencing token) and lease owner before and after, and the outcome columns after.
- A statement trigger appends every UPDATE of `report_jobs` that matched no row to
  `chaos_unmatched_updates`, with its SQL text (parameters are not visible to a trigger). A
  worker's writes are fenced (`queue/store.py` `_fenced`: WHERE id, attempts, lease_owner and
  status still match its claim), so a fenced UPDATE that matched nothing is a stale write the
  database refused; which write it was (heartbeat, completion, retry, release) shows in its SET
  clause.
- The bucket has versioning on: every PUT that reached S3 stays as a version and every delete
  leaves a delete marker, so the renders that reached the store can be counted per job and
  attempt (keys are `reports/<org>/<job>/<attempt>.pdf`), even those discarded afterwards.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_INSTALL = (
    """
    CREATE TABLE chaos_job_history (
        seq bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT clock_timestamp(),
        tx bigint NOT NULL DEFAULT txid_current(),
        op text NOT NULL,
        job_id text NOT NULL,
        old_status text, new_status text,
        old_attempts integer, new_attempts integer,
        old_owner text, new_owner text,
        storage_key text, sha256 text, size_bytes integer, error_code text,
        created_at timestamp, completed_at timestamp  -- as report_jobs has them (UTC)
    )
    """,
    """
    CREATE FUNCTION chaos_job_row() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        before report_jobs;
    BEGIN
        IF TG_OP = 'DELETE' THEN
            INSERT INTO chaos_job_history (op, job_id, old_status, old_attempts, old_owner)
            VALUES (TG_OP, OLD.id, OLD.status, OLD.attempts, OLD.lease_owner);
            RETURN NULL;
        END IF;
        IF TG_OP = 'UPDATE' THEN
            before := OLD;
        END IF;
        INSERT INTO chaos_job_history (
            op, job_id, old_status, new_status, old_attempts, new_attempts, old_owner,
            new_owner, storage_key, sha256, size_bytes, error_code, created_at, completed_at)
        VALUES (TG_OP, NEW.id, before.status, NEW.status, before.attempts, NEW.attempts,
            before.lease_owner, NEW.lease_owner, NEW.storage_key, NEW.sha256, NEW.size_bytes,
            NEW.error_code, NEW.created_at, NEW.completed_at);
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER chaos_job_rows AFTER INSERT OR UPDATE OR DELETE ON report_jobs
    FOR EACH ROW EXECUTE FUNCTION chaos_job_row()
    """,
    """
    CREATE TABLE chaos_unmatched_updates (
        seq bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT clock_timestamp(),
        query text NOT NULL
    )
    """,
    """
    CREATE FUNCTION chaos_update_statement() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NOT EXISTS (SELECT FROM chaos_changed) THEN
            INSERT INTO chaos_unmatched_updates (query) VALUES (current_query());
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER chaos_update_statements AFTER UPDATE ON report_jobs
    REFERENCING NEW TABLE AS chaos_changed
    FOR EACH STATEMENT EXECUTE FUNCTION chaos_update_statement()
    """,
)


async def install(engine: AsyncEngine) -> None:
    """The history tables and triggers, in the scratch database, after `sqr-reports migrate`."""
    async with engine.begin() as connection:
        for statement in _INSTALL:
            await connection.execute(text(statement))


@dataclass(frozen=True)
class Change:
    """One row of `chaos_job_history`: a write to one job, as the database applied it."""

    seq: int
    at: datetime
    tx: int
    op: str
    job_id: str
    old_status: str | None
    new_status: str | None
    old_attempts: int | None
    new_attempts: int | None
    old_owner: str | None
    new_owner: str | None
    storage_key: str | None
    sha256: str | None
    size_bytes: int | None
    error_code: str | None
    created_at: datetime | None
    completed_at: datetime | None

    def outcome(self) -> tuple[Any, ...]:
        """What a terminal job's client relies on: none of it may change once it is terminal."""
        return (self.new_status, self.storage_key, self.sha256, self.size_bytes,
                self.error_code, self.completed_at)  # fmt: skip


@dataclass(frozen=True)
class Job:
    """A job's row as it is at the end of the run."""

    id: str
    org_id: str
    status: str
    attempts: int
    storage_key: str | None
    sha256: str | None
    size_bytes: int | None
    error_code: str | None
    created_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True)
class UnmatchedUpdate:
    at: datetime
    query: str


@dataclass(frozen=True)
class StoredVersion:
    """One version of an object in the bucket: a PUT that reached S3, or a delete marker."""

    key: str
    deleted: bool
    latest: bool


@dataclass
class Evidence:
    """What the database and the bucket say happened."""

    jobs: dict[str, Job]
    history: dict[str, list[Change]]
    unmatched: list[UnmatchedUpdate]
    #: By job id: every version of every key `reports/<org>/<job>/<attempt>.pdf`.
    versions: dict[str, list[StoredVersion]]
    #: By storage key of each COMPLETE job: the SHA-256 and size of the object S3 serves now,
    #: or None when it serves none.
    served: dict[str, tuple[str, int] | None]


async def read_database(
    engine: AsyncEngine,
) -> tuple[dict[str, Job], dict[str, list[Change]], list[UnmatchedUpdate]]:
    async with engine.connect() as connection:
        jobs = {
            row.id: Job(**row._asdict())
            for row in await connection.execute(
                text(
                    "SELECT id, org_id, status, attempts, storage_key, sha256, size_bytes,"
                    " error_code, created_at, completed_at FROM report_jobs"
                )
            )
        }
        history: dict[str, list[Change]] = defaultdict(list)
        for row in await connection.execute(text("SELECT * FROM chaos_job_history ORDER BY seq")):
            history[row.job_id].append(Change(**row._asdict()))
        unmatched = [
            UnmatchedUpdate(row.at, row.query)
            for row in await connection.execute(
                text("SELECT at, query FROM chaos_unmatched_updates ORDER BY seq")
            )
        ]
    return jobs, dict(history), unmatched


def read_versions(s3: S3Client, bucket: str) -> dict[str, list[StoredVersion]]:
    """Every object version and delete marker under reports/, by job id."""
    found: dict[str, list[StoredVersion]] = defaultdict(list)
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix="reports/"):
        for version in page.get("Versions", []):
            key = version["Key"]
            found[key.split("/")[2]].append(StoredVersion(key, False, version["IsLatest"]))
        for marker in page.get("DeleteMarkers", []):
            key = marker["Key"]
            found[key.split("/")[2]].append(StoredVersion(key, True, marker["IsLatest"]))
    return dict(found)


def read_served(s3: S3Client, bucket: str, keys: list[str]) -> dict[str, tuple[str, int] | None]:
    """Download what S3 serves for each key now: its SHA-256 and size (None: nothing)."""

    def one(key: str) -> tuple[str, tuple[str, int] | None]:
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            return key, None
        return key, (hashlib.sha256(body).hexdigest(), len(body))

    with ThreadPoolExecutor(4) as pool:
        return dict(pool.map(one, keys))


async def gather(engine: AsyncEngine, s3: S3Client, bucket: str) -> Evidence:
    jobs, history, unmatched = await read_database(engine)
    keys = [job.storage_key for job in jobs.values() if job.storage_key]
    return Evidence(
        jobs=jobs,
        history=history,
        unmatched=unmatched,
        versions=read_versions(s3, bucket),
        served=read_served(s3, bucket, keys),
    )
