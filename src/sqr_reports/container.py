"""Builds every long-lived object once, from the settings (used by the app and the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from sqr_reports.auth.credentials import SecretHasher
from sqr_reports.auth.key_directory import KeyDirectory
from sqr_reports.auth.keys import KeyRing
from sqr_reports.auth.throttle import FailureThrottle
from sqr_reports.auth.token_cache import VerifiedTokenCache
from sqr_reports.auth.tokens import TokenCodec
from sqr_reports.clock import Clock, SystemClock
from sqr_reports.config import Settings
from sqr_reports.db.clock import DatabaseClock, ProcessClock, SessionClock
from sqr_reports.db.engine import Engines, create_engines, is_sqlite
from sqr_reports.db.reads import StatementReads
from sqr_reports.keyfiles import make_private_dir
from sqr_reports.lifecycle.service import Retention
from sqr_reports.lifecycle.work import PurgeWork
from sqr_reports.queue import settlement, telemetry
from sqr_reports.queue.settlement import Settlements
from sqr_reports.queue.store import SqlQueue
from sqr_reports.queue.table import Queued
from sqr_reports.queue.wakeup import NotifyListener, Wakeup, notify_on_commit
from sqr_reports.queue.work import Work
from sqr_reports.queue.worker import Worker
from sqr_reports.rendering import Renderer
from sqr_reports.rendering.typst_renderer import TypstRenderer
from sqr_reports.reports.service import JobPolicy
from sqr_reports.reports.waiting import Waiting
from sqr_reports.reports.work import ReportWork
from sqr_reports.storage import BlobStore
from sqr_reports.storage.local import LocalBlobStore, load_or_create_signing_key
from sqr_reports.storage.s3 import S3BlobStore
from sqr_reports.webhooks.sender import WebhookSender
from sqr_reports.webhooks.work import DeliveryWork, Outbox

#: Every kind of durable work, by class: their names and tables, for the queue's log lines
#: (`queue.telemetry`) and gauges (`GET /metrics`).
KINDS = (ReportWork, PurgeWork, DeliveryWork)


@dataclass
class Container:
    settings: Settings
    engines: Engines
    #: Sessions for work that writes (on SQLite: BEGIN IMMEDIATE, the write lock up front).
    sessions: async_sessionmaker[AsyncSession]
    #: Sessions for work that only reads (on SQLite: BEGIN DEFERRED; never blocks writers).
    read_sessions: async_sessionmaker[AsyncSession]
    #: Reads that are one statement, without a session or transaction (the status poll).
    statement_reads: StatementReads
    clock: Clock
    #: Where queue and rate-limit timestamps come from (the database's clock on PostgreSQL).
    db_clock: SessionClock
    codec: TokenCodec
    #: The codec's verifications, remembered per token until it expires (what routes verify with).
    tokens: VerifiedTokenCache
    keys: KeyRing
    hasher: SecretHasher
    store: BlobStore
    renderer: Renderer
    wakeup: Wakeup
    #: Requests held by `Prefer: wait`, and how they hear that their job settled.
    waiting: Waiting
    policy: JobPolicy
    #: Failed client authentications at the token endpoint, counted in this process.
    throttle: FailureThrottle
    #: How long reports are kept, and when a deleted rendering job's store is cleaned.
    retention: Retention
    workers: list[Worker] = field(default_factory=list)
    #: One HTTP client per process for webhook deliveries, made with the first worker: building
    #: one (its TLS context) costs about 30 ms that API-only processes and commands need not pay.
    webhook_sender: WebhookSender | None = None

    @property
    def queue_tables(self) -> dict[str, type[Queued]]:
        """Each kind of durable work's queue table, by the kind's name."""
        return {kind.name: kind.table for kind in KINDS}

    @property
    def embedded_database(self) -> bool:
        return is_sqlite(self.settings.resolved_database_url())

    def new_worker(self) -> Worker:
        """A worker for every kind of durable work: report jobs, purges, webhook deliveries."""
        settings = self.settings.worker
        works: list[Work] = [
            ReportWork(
                settings=settings,
                read_sessions=self.read_sessions,
                renderer=self.renderer,
                store=self.store,
                events=Outbox(self.settings.webhooks),
                expiries=self.retention,
            ),
            self.new_purge_work(),
            DeliveryWork(
                settings=self.settings.webhooks,
                read_sessions=self.read_sessions,
                sender=self._webhook_sender(),
            ),
        ]
        worker = Worker(
            queue=SqlQueue(self.sessions, self.db_clock, read_sessions=self.read_sessions),
            works=works,
            wakeup=self.wakeup,
            poll_seconds=settings.poll_seconds,
            shutdown_grace_seconds=settings.shutdown_grace_seconds,
            listener=self.new_listener(),
        )
        self.workers.append(worker)
        return worker

    def new_purge_work(self) -> PurgeWork:
        """Deleting deleted reports' PDFs, and the retention sweep (ADR 0021)."""
        return PurgeWork(
            settings=self.settings.worker,
            read_sessions=self.read_sessions,
            store=self.store,
            clock=self.db_clock,
            retention=self.retention,
            audit_days=self.settings.retention.audit_days,
        )

    def _webhook_sender(self) -> WebhookSender:
        if self.webhook_sender is None:
            self.webhook_sender = WebhookSender(self.settings.webhooks)
        return self.webhook_sender

    def new_listener(self) -> NotifyListener | None:
        """On PostgreSQL, a listener that wakes this process's workers for other processes' work."""
        if self.embedded_database:
            return None
        wakeup = self.wakeup
        return NotifyListener(self.settings.resolved_database_url(), lambda _: wakeup.notify())

    def new_settlement_listener(self) -> NotifyListener | None:
        """On PostgreSQL, a listener that tells this process's held requests of jobs settled by
        any process (`queue.settlement`); the API runs it for its lifetime."""
        if self.embedded_database:
            return None
        settlements = self.waiting.settlements
        return NotifyListener(
            self.settings.resolved_database_url(),
            settlements.settled,
            channel=settlement.CHANNEL,
        )

    async def close(self) -> None:
        if self.webhook_sender is not None:
            await self.webhook_sender.aclose()
        await self.renderer.close()
        await self.engines.dispose()

    @property
    def engine(self) -> AsyncEngine:
        """The engine that writes (migrations run on it)."""
        return self.engines.writer


def build_container(
    settings: Settings, clock: Clock | None = None, renderer: Renderer | None = None
) -> Container:
    make_private_dir(settings.data_dir)
    database_url = settings.resolved_database_url()
    engines = create_engines(database_url)

    class AppSession(Session):
        """A session class of this container's own, so its events stay its own."""

    sessions = async_sessionmaker(
        engines.writer, expire_on_commit=False, sync_session_class=AppSession
    )
    read_sessions = async_sessionmaker(
        engines.reader, expire_on_commit=False, sync_session_class=AppSession
    )
    wakeup = Wakeup()
    notify_on_commit(AppSession, wakeup)
    settlements = Settlements()
    settlement.notify_on_commit(AppSession, settlements)
    telemetry.log_created_on_commit(AppSession, KINDS)

    auth = settings.auth
    keys = (
        KeyRing.from_pem_files(auth.private_key_files)
        if auth.private_key_files
        else KeyDirectory(settings.data_dir / "keys").load_or_generate()
    )
    codec = TokenCodec(
        keys,
        issuer=auth.issuer,
        audience=auth.audience,
        ttl=auth.token_ttl_seconds,
        leeway=auth.clock_leeway_seconds,
    )
    return Container(
        settings=settings,
        engines=engines,
        sessions=sessions,
        read_sessions=read_sessions,
        statement_reads=StatementReads(engines),
        clock=clock or SystemClock(),
        # An injected clock (tests) rules everything; otherwise PostgreSQL's clock rules the queue.
        db_clock=(
            ProcessClock(clock or SystemClock())
            if clock is not None or is_sqlite(database_url)
            else DatabaseClock()
        ),
        codec=codec,
        tokens=VerifiedTokenCache(codec, max_entries=auth.verified_token_cache_size),
        keys=keys,
        hasher=SecretHasher(
            time_cost=auth.argon2_time_cost,
            memory_kib=auth.argon2_memory_kib,
            parallelism=auth.argon2_parallelism,
        ),
        store=build_store(settings),
        renderer=renderer or build_renderer(settings),
        wakeup=wakeup,
        waiting=Waiting(
            settlements,
            # A held request re-reads its job this often even if nothing is heard. On SQLite a
            # read is 40 µs in this process, and an `api` process apart from the worker hears
            # nothing; on PostgreSQL every settlement is heard (NOTIFY), and reads are dearer.
            recheck_seconds=1.0 if is_sqlite(database_url) else 5.0,
        ),
        policy=JobPolicy(
            template_version=settings.render.template_version,
            max_attempts=settings.worker.max_attempts,
            rate_limit=settings.rate_limit,
            verdict_default=settings.verdict,
        ),
        retention=Retention(
            report_days=settings.retention.report_days,
            in_flight_grace=timedelta(
                seconds=settings.worker.lease_seconds + settings.render.timeout_seconds
            ),
        ),
        throttle=FailureThrottle(
            clock or SystemClock(),
            per_client=auth.failed_attempts_per_client,
            per_address=auth.failed_attempts_per_address,
            window_seconds=auth.failed_attempts_window_seconds,
        ),
    )


def build_renderer(settings: Settings) -> TypstRenderer:
    return TypstRenderer(
        processes=settings.worker.concurrency,
        timeout_seconds=settings.render.timeout_seconds,
        memory_limit_mib=settings.render.memory_limit_mib,
        max_renders_per_process=settings.render.max_renders_per_process,
        max_rss_mib_per_process=settings.render.max_rss_mib_per_process,
    )


def build_store(settings: Settings) -> BlobStore:
    storage = settings.storage
    if storage.backend == "s3":
        return S3BlobStore.from_settings(storage)
    signing_key = (
        storage.url_signing_key.get_secret_value().encode()
        if storage.url_signing_key
        else load_or_create_signing_key(settings.data_dir / "keys" / "url-signing.key")
    )
    return LocalBlobStore(settings.resolved_blob_dir(), signing_key)
