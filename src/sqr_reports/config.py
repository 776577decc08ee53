"""Settings: one object, grouped, read from `SQR_REPORTS_*` environment variables.

Every value has a safe default for the embedded mode (one process, SQLite, local storage), so
`sqr-reports serve` needs no configuration at all. Nested groups use a double underscore:
`SQR_REPORTS_WORKER__CONCURRENCY=4`.
"""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class AuthSettings(BaseModel):
    issuer: str = "https://api.sqr-group.com"
    audience: str = "sqr-reports-api"
    token_ttl_seconds: int = Field(default=3600, ge=60, le=86400)
    #: PEM files of RS256 private keys, newest first; empty means "generate into the data dir".
    private_key_files: list[Path] = Field(default_factory=list)
    #: Argon2id cost; the defaults are argon2-cffi's RFC 9106 low-memory profile.
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    clock_leeway_seconds: int = Field(default=5, ge=0, le=300)
    #: Verified tokens remembered per API process until they expire, so that a client polling
    #: with one token pays for its RS256 check once (`auth.token_cache`); 0 turns this off.
    #: The database re-check of client, scope and org runs on every call regardless.
    verified_token_cache_size: int = Field(default=10_000, ge=0)
    #: Failed client authentications allowed per client id, and per source address, within the
    #: window; more answer 429 with Retry-After until the oldest failure ages out.
    failed_attempts_per_client: int = Field(default=10, ge=1)
    failed_attempts_per_address: int = Field(default=50, ge=1)
    failed_attempts_window_seconds: int = Field(default=300, ge=1, le=86400)
    #: Proxies (addresses or CIDR ranges) whose X-Forwarded-For names the client's address;
    #: empty means the peer's address is the client's.
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ip_network(cidr, strict=False)  # ValueError names the bad entry
        return value


class StorageSettings(BaseModel):
    #: Directory of the embedded local blob store; defaults to `<data_dir>/blobs`.
    local_dir: Path | None = None
    #: Key that signs local download URLs; defaults to a random key kept in the data dir.
    url_signing_key: SecretStr | None = None
    download_url_ttl_seconds: int = Field(default=300, ge=1, le=3600)
    #: Where reports go: "local" (the data directory) or "s3" (a bucket shared by all replicas).
    backend: Literal["local", "s3"] = "local"
    #: Bucket of the S3 store; required when the backend is "s3".
    s3_bucket: str = ""
    #: Region the bucket lives in (it is part of every SigV4 signature).
    s3_region: str = "us-east-1"
    #: Endpoint of an S3-compatible store (LocalStack, MinIO, ...); empty means AWS itself.
    s3_endpoint_url: str = ""
    #: Explicit access key id; empty means boto3's default chain (env, profile, instance role).
    s3_access_key_id: str = ""
    #: Secret for the explicit access key id; set both or neither.
    s3_secret_access_key: SecretStr | None = None
    #: Bucket addressing in URLs; "path" for stores without wildcard DNS (LocalStack, MinIO).
    s3_addressing_style: Literal["auto", "path", "virtual"] = "auto"
    #: Server-side encryption of stored reports; "none" only for stores that reject the header.
    s3_sse: Literal["AES256", "aws:kms", "none"] = "AES256"
    #: KMS key for "aws:kms"; empty means the bucket's AWS-managed key.
    s3_kms_key_id: str = ""


class WorkerSettings(BaseModel):
    #: Run the job worker inside the API process (the embedded default).
    embedded: bool = True
    #: Reports rendered at once: one render process each. A worker holds twice as many claims,
    #: so that a render process never waits while the worker stores and records a report.
    concurrency: int = Field(default=2, ge=1, le=64)
    lease_seconds: float = Field(default=30.0, gt=0)
    heartbeat_seconds: float = Field(default=10.0, gt=0)
    poll_seconds: float = Field(default=2.0, gt=0)
    max_attempts: int = Field(default=3, ge=1, le=20)
    backoff_base_seconds: float = Field(default=2.0, ge=0)
    backoff_max_seconds: float = Field(default=60.0, ge=0)
    #: On SIGTERM, in-flight jobs get this long to finish; the rest go back to the queue.
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)


class RenderSettings(BaseModel):
    timeout_seconds: float = Field(default=20.0, gt=0)
    #: Address-space limit of a render process, in MiB (0 disables it).
    memory_limit_mib: int = Field(default=2048, ge=0)
    #: A render process is replaced after this many renders.
    max_renders_per_process: int = Field(default=200, ge=1)
    #: A render process is replaced once a render leaves it holding more than this many MiB of
    #: resident memory (0 disables it); it stays at 60-120 MiB when nothing leaks.
    max_rss_mib_per_process: int = Field(default=150, ge=0)
    template_version: str = "v2"


class VerdictPolicy(BaseModel):
    """A relying party's risk appetite: the values the report's verdict is judged against.

    The deployment's default applies to every org without a policy of its own
    (`sqr-reports policy set`); each job keeps a copy of the policy it was judged under.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Selfie liveness score (0-100) at or above which the check passes.
    liveness_threshold: float = Field(default=80.0, ge=0, le=100, allow_inf_nan=False)
    #: Face-match confidence (0-100) at or above which the check passes.
    face_match_threshold: float = Field(default=80.0, ge=0, le=100, allow_inf_nan=False)
    #: A score from this floor up to its threshold is referred; below it, it fails.
    refer_floor: float = Field(default=50.0, ge=0, le=100, allow_inf_nan=False)
    #: How many days an identity verification stays current before it needs refreshing.
    max_verification_age_days: int = Field(default=730, ge=1, le=36500)
    #: The youngest age the org may onboard; a younger subject gets `minor_outcome`.
    minimum_age: int = Field(default=18, ge=0, le=120)
    #: What a subject under the minimum age gets: a manual review or a failure.
    minor_outcome: Literal["REFER", "FAIL"] = "REFER"

    @model_validator(mode="after")
    def _floor_below_thresholds(self) -> VerdictPolicy:
        if self.refer_floor > min(self.liveness_threshold, self.face_match_threshold):
            raise ValueError("refer_floor must not exceed the liveness or face-match threshold")
        return self


class RateLimitSettings(BaseModel):
    creations_per_window: int = Field(default=10, ge=1)
    window_seconds: int = Field(default=600, ge=1)


class WebhookSettings(BaseModel):
    """Deliveries of events to each org's endpoint (ADR 0012)."""

    #: Let endpoints be loopback, private or link-local addresses and plain http://: only for
    #: a receiver on the developer's own machine, never in production (it disables SSRF checks).
    allow_private_targets: bool = False
    connect_timeout_seconds: float = Field(default=3.0, gt=0, le=30)
    read_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    #: Bound on one whole attempt (DNS, connect, send, read), against receivers that drip bytes.
    total_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    #: How much of a receiver's response is read (and the first 1 KiB kept) before hanging up.
    response_cap_bytes: int = Field(default=4096, ge=0, le=65536)
    #: After a rotation, the previous secret keeps signing too for this long.
    secret_overlap_hours: float = Field(default=24.0, ge=0, le=720)
    #: Consecutive deliveries that end FAILED (every retry spent) before the endpoint is disabled.
    disable_after_failures: int = Field(default=5, ge=1, le=1000)
    #: Attempts per delivery; the default spans at least 24 hours of backoff.
    max_attempts: int = Field(default=26, ge=1, le=100)
    #: Deliveries a worker process attempts at once (each mostly waits on the network).
    concurrency: int = Field(default=4, ge=1, le=64)
    user_agent: str = "SQR-Webhooks/1.0"
    max_url_length: int = Field(default=2048, ge=32, le=2048)


class RetentionSettings(BaseModel):
    """How long personal data is kept (ADR 0021): nothing about a person is kept for ever."""

    #: Days a report (its PDF and its job's personal fields) is kept after the job completed or
    #: failed, for every org without a period of its own (`sqr-reports org retention`); then
    #: the workers delete it and keep a tombstone.
    report_days: int = Field(default=30, ge=1, le=3650)
    #: Days an audit record is kept; older ones are pruned and the chain stays verifiable.
    audit_days: int = Field(default=730, ge=1, le=36500)


class LogSettings(BaseModel):
    #: "json": one JSON object per line; "console": one readable line; "auto": console when
    #: stderr is a terminal, JSON otherwise (containers, files, journald).
    format: Literal["auto", "json", "console"] = "auto"


class MetricsSettings(BaseModel):
    """Prometheus metrics (ADR 0018)."""

    #: Serve GET /metrics on the API's port (`serve` and `api`).
    enabled: bool = True
    #: When set, /metrics answers only `Authorization: Bearer <this token>`. Leave it empty only
    #: where the API's port cannot be reached from outside or the proxy blocks /metrics.
    bearer_token: SecretStr | None = None
    #: Where the processes of one command add up their metrics (prometheus-client's multiprocess
    #: mode): a local directory; empty means `<data_dir>/metrics`.
    directory: Path | None = None
    #: Port on which `sqr-reports worker` serves its metrics (it has no other HTTP server);
    #: 0: none.
    worker_port: int = Field(default=0, ge=0, le=65535)
    #: Address the worker's metrics port listens on; 0.0.0.0 only on a private network.
    worker_host: str = "127.0.0.1"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SQR_REPORTS_",
        env_nested_delimiter="__",
        env_file=".env",
        env_ignore_empty=True,  # an empty VAR= means "the default", never an empty secret
        extra="ignore",
    )

    data_dir: Path = Path("./data")
    #: SQLAlchemy async URL; empty means SQLite in the data dir.
    database_url: str = ""
    #: Public base URL used in local download links; empty means "the URL the request came in on".
    public_url: str = ""
    log_level: str = "INFO"
    #: Seconds an idle HTTP/1.1 connection stays open for the client's next request. Above the
    #: polling interval the contract advises (up to 15 s), so a client polling as advised keeps
    #: its connection, and above the usual proxies' idle timeout (60 s), so a proxy never sends
    #: a request down a connection the server is closing. uvicorn's own default is 5 s.
    http_keep_alive_seconds: int = Field(default=75, ge=1, le=3600)
    log: LogSettings = Field(default_factory=LogSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)

    auth: AuthSettings = Field(default_factory=AuthSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    render: RenderSettings = Field(default_factory=RenderSettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    #: The verdict policy of every org that has none of its own.
    verdict: VerdictPolicy = Field(default_factory=VerdictPolicy)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'sqr-reports.db').resolve()}"

    def resolved_blob_dir(self) -> Path:
        return self.storage.local_dir or self.data_dir / "blobs"

    def resolved_metrics_dir(self) -> Path:
        return self.metrics.directory or self.data_dir / "metrics"
