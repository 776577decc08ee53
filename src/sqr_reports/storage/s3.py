"""The scale-out store: one S3 bucket (or S3-compatible store) shared by every API and worker.

Downloads never pass through the service: a client gets a SigV4 presigned GET that S3 itself
verifies, so any change to the URL (key, expiry, filename) or a late use is refused by S3 with 403.
Reports hold personal data, so error messages name neither the object key nor any credential.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from sqr_reports.storage import SAFE_FILENAME, StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import PutObjectRequestTypeDef

    from sqr_reports.config import StorageSettings

ServerSideEncryption = Literal["AES256", "aws:kms"]
AddressingStyle = Literal["auto", "path", "virtual"]

# Error codes come from the server; only a short token of these characters reaches our message.
_ERROR_CODE = re.compile(r"^[A-Za-z0-9.]{1,64}$")
# SigV4 refuses presigned URLs that live longer than seven days.
_MAX_EXPIRES_SECONDS = 7 * 24 * 3600


class S3BlobStore:
    """A `BlobStore` on S3, with the boto3 client built once and shared across threads.

    boto3 is synchronous; every network call runs in a worker thread (`asyncio.to_thread`) so the
    event loop never blocks. A boto3 client (unlike a session) is safe to share between threads.
    """

    def __init__(
        self,
        *,
        bucket: str,
        region: str = "us-east-1",
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        addressing_style: AddressingStyle = "auto",
        server_side_encryption: ServerSideEncryption | None = "AES256",
        kms_key_id: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_attempts: int = 3,
    ):
        if not bucket:
            raise ValueError("the S3 store needs a bucket name")
        if bool(access_key_id) != bool(secret_access_key):
            # Half a key pair would silently fall back to some other identity in the default chain.
            raise ValueError("set both the S3 access key id and secret access key, or neither")
        if kms_key_id and server_side_encryption != "aws:kms":
            raise ValueError("an S3 KMS key id needs server_side_encryption='aws:kms'")
        self._bucket = bucket
        self._sse = server_side_encryption
        self._kms_key_id = kms_key_id or None
        config = Config(
            signature_version="s3v4",
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            # "standard" retries throttling and transient 5xx/connection errors with backoff; a
            # put that still fails surfaces as StorageError and the job queue retries the job.
            retries={"max_attempts": max_attempts, "mode": "standard"},
            s3={"addressing_style": addressing_style},
        )
        # An own session, not boto3's module-level default one: creating clients from the shared
        # default session is not thread-safe, and credentials stay local to this store.
        session = boto3.session.Session()
        self._client: S3Client = session.client(
            "s3",
            region_name=region,
            endpoint_url=endpoint_url or None,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            config=config,
        )

    @classmethod
    def from_settings(cls, settings: StorageSettings) -> S3BlobStore:
        """The store the settings describe; empty strings there mean "not set"."""
        secret = settings.s3_secret_access_key
        return cls(
            bucket=settings.s3_bucket,
            region=settings.s3_region,
            endpoint_url=settings.s3_endpoint_url or None,
            access_key_id=settings.s3_access_key_id or None,
            secret_access_key=secret.get_secret_value() if secret else None,
            addressing_style=settings.s3_addressing_style,
            server_side_encryption=None if settings.s3_sse == "none" else settings.s3_sse,
            kms_key_id=settings.s3_kms_key_id or None,
        )

    @property
    def client(self) -> S3Client:
        """The boto3 client every call goes through, for instrumentation: metrics, tracing or
        audit hooks on its botocore events (`client.meta.events`)."""
        return self._client

    # -- writing ------------------------------------------------------------------------------
    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Store the bytes, letting S3 prove it received exactly them.

        The SHA-256 we send is checked by S3 before it stores the object, so a body corrupted in
        transit is rejected (BadDigest) instead of being served to a client later.
        """
        request: PutObjectRequestTypeDef = {
            "Bucket": self._bucket,
            "Key": key,
            "Body": data,
            "ContentType": content_type,
            "ChecksumAlgorithm": "SHA256",
            "ChecksumSHA256": base64.b64encode(hashlib.sha256(data).digest()).decode("ascii"),
        }
        if self._sse is not None:
            request["ServerSideEncryption"] = self._sse
        if self._kms_key_id is not None:
            request["SSEKMSKeyId"] = self._kms_key_id
        try:
            await asyncio.to_thread(lambda: self._client.put_object(**request))
        except (BotoCoreError, ClientError) as exc:
            raise _storage_error("put", exc) from None

    async def delete(self, key: str) -> None:
        try:
            await asyncio.to_thread(self._client.delete_object, Bucket=self._bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            raise _storage_error("delete", exc) from None

    # -- readiness ----------------------------------------------------------------------------
    async def check(self) -> None:
        """Prove the bucket is reachable with our credentials (for readiness probes).

        HEAD on the bucket is the cheapest call that exercises endpoint, credentials and bucket
        permissions together, and it touches no object.
        """
        try:
            await asyncio.to_thread(self._client.head_bucket, Bucket=self._bucket)
        except (BotoCoreError, ClientError) as exc:
            raise _storage_error("bucket check", exc) from None

    # -- signed URLs ----------------------------------------------------------------------------
    def presign_get(self, key: str, *, filename: str, expires_at: datetime) -> str:
        """A SigV4 presigned GET that S3 serves until `expires_at`, as a PDF attachment.

        The URL points at S3 itself, because S3 is what checks the signature (the host is part
        of what is signed) and serves the bytes; the service is not on the download path at all.
        The disposition and type are signed response overrides, so a client cannot change the
        filename, and the download is a PDF whatever was stored.
        Signing is local computation: no network call, so no thread is needed.
        """
        if not SAFE_FILENAME.match(filename):
            raise ValueError("unsafe download filename")
        seconds = max(1, round((expires_at - datetime.now(UTC)).total_seconds()))
        if seconds > _MAX_EXPIRES_SECONDS:
            raise ValueError("S3 presigned URLs cannot live longer than seven days")
        try:
            return self._client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self._bucket,
                    "Key": key,
                    "ResponseContentDisposition": f'attachment; filename="{filename}"',
                    "ResponseContentType": "application/pdf",
                },
                ExpiresIn=seconds,
            )
        except (BotoCoreError, ClientError) as exc:
            # e.g. no credentials found in the default chain.
            raise _storage_error("presign", exc) from None


def _storage_error(action: str, exc: BotoCoreError | ClientError) -> StorageError:
    """A StorageError that says what failed without the key, the bucket URL or any credential.

    botocore's own messages can carry the request URL (and so the object key), which is why they
    are neither copied nor chained (`from None`): only the S3 error code, the HTTP status or the
    exception class name survive, which is what an operator needs to tell causes apart.
    """
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        reason = code if _ERROR_CODE.match(code) else "error"
        return StorageError(f"S3 {action} failed: {reason} (HTTP {status})")
    return StorageError(f"S3 {action} failed: {type(exc).__name__}")
