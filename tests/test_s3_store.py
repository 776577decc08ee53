"""The S3 store: unit tests on moto, and the signature proofs on LocalStack.

moto accepts any signature, so it can only show what we send. What a client can do with a
presigned URL (download it, tamper with it, use it late) is proved against LocalStack, which
verifies SigV4 like S3 does. Those tests run when SQR_REPORTS_TEST_S3_ENDPOINT is set (CI sets
it after `scripts/localstack.sh`) and are skipped with a reason otherwise.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from botocore.config import Config
from moto import mock_aws
from pydantic import SecretStr

from sqr_reports.config import Settings, StorageSettings
from sqr_reports.storage import BlobStore, StorageError
from sqr_reports.storage.s3 import S3BlobStore
from tests.conftest import make_settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

REGION = "us-east-1"
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
KEY = "org-7f3a/reports/3c1d2e-identity.pdf"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

S3_ENDPOINT = os.environ.get("SQR_REPORTS_TEST_S3_ENDPOINT", "")
requires_localstack = pytest.mark.skipif(
    not S3_ENDPOINT,
    reason="SQR_REPORTS_TEST_S3_ENDPOINT is not set: run scripts/localstack.sh and set it to "
    "http://127.0.0.1:4566 to prove presigned URLs against a signature-verifying S3",
)


def _sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def _query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


# -- moto: what we send -------------------------------------------------------------------------
@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Client]:
    """A mocked AWS with one bucket; no real credentials or config files can leak in."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket="reports")
        yield client


def make_store(**overrides: Any) -> S3BlobStore:
    options: dict[str, Any] = {
        "bucket": "reports",
        "region": REGION,
        "access_key_id": "AKIAEXAMPLEKEYID0000",
        "secret_access_key": SECRET,
    }
    options.update(overrides)
    return S3BlobStore(**options)


def _capture_params(store: S3BlobStore, operation: str = "PutObject") -> list[dict[str, Any]]:
    """The parameters of each call of `operation` as the client receives them (before
    serialisation)."""
    seen: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        seen.append(dict(params))

    store.client.meta.events.register(f"provide-client-params.s3.{operation}", capture)
    return seen


@pytest.fixture(scope="module")
def presigner() -> S3BlobStore:
    """One store for the tests that only sign (local computation, no state): building a boto3
    client costs a tenth of a second."""
    return make_store()


def _satisfies_the_port(store: S3BlobStore) -> BlobStore:
    """Not a test: mypy (strict, in CI) proves here that the adapter satisfies the port."""
    return store


async def test_put_stores_the_bytes_with_content_type_and_aes256(aws: S3Client) -> None:
    store = make_store()
    await store.put(KEY, PDF, content_type="application/pdf")

    stored = aws.get_object(Bucket="reports", Key=KEY, ChecksumMode="ENABLED")
    assert stored["Body"].read() == PDF
    assert stored["ContentType"] == "application/pdf"
    assert stored["ServerSideEncryption"] == "AES256"
    assert stored["ChecksumSHA256"] == _sha256_b64(PDF)


async def test_put_sends_the_sha256_of_the_body_for_s3_to_verify(aws: S3Client) -> None:
    store = make_store()
    sent = _capture_params(store)
    await store.put(KEY, PDF, content_type="application/pdf")

    assert sent[0]["ChecksumAlgorithm"] == "SHA256"
    assert sent[0]["ChecksumSHA256"] == _sha256_b64(PDF)
    assert sent[0]["ServerSideEncryption"] == "AES256"
    assert "SSEKMSKeyId" not in sent[0]


async def test_put_with_kms_names_the_key(aws: S3Client) -> None:
    store = make_store(server_side_encryption="aws:kms", kms_key_id="alias/sqr-reports")
    sent = _capture_params(store)
    await store.put(KEY, PDF, content_type="application/pdf")

    assert sent[0]["ServerSideEncryption"] == "aws:kms"
    assert sent[0]["SSEKMSKeyId"] == "alias/sqr-reports"
    stored = aws.head_object(Bucket="reports", Key=KEY)
    assert stored["ServerSideEncryption"] == "aws:kms"


async def test_put_without_sse_sends_no_encryption_header(aws: S3Client) -> None:
    store = make_store(server_side_encryption=None)
    sent = _capture_params(store)
    await store.put(KEY, PDF, content_type="application/pdf")

    assert "ServerSideEncryption" not in sent[0]
    assert aws.get_object(Bucket="reports", Key=KEY)["Body"].read() == PDF


async def test_delete_removes_the_object_and_tolerates_a_missing_one(aws: S3Client) -> None:
    store = make_store()
    await store.put(KEY, PDF, content_type="application/pdf")
    await store.delete(KEY)
    await store.delete(KEY)

    assert aws.list_objects_v2(Bucket="reports").get("KeyCount") == 0


async def test_check_passes_on_an_existing_bucket(aws: S3Client) -> None:
    store = make_store()
    asked = _capture_params(store, "HeadBucket")

    await store.check()

    assert asked == [{"Bucket": "reports"}]


def _assert_clean(error: StorageError) -> None:
    message = f"{error} {error!r}"
    for secret in (KEY, "3c1d2e", SECRET, "AKIAEXAMPLEKEYID0000"):
        assert secret not in message
    # The botocore exception (whose text may hold the request URL) is not chained either.
    assert error.__cause__ is None
    assert error.__suppress_context__


async def test_a_missing_bucket_becomes_a_clean_storage_error(aws: S3Client) -> None:
    store = make_store(bucket="no-such-bucket")

    with pytest.raises(StorageError) as put_error:
        await store.put(KEY, PDF, content_type="application/pdf")
    assert "NoSuchBucket" in str(put_error.value)
    _assert_clean(put_error.value)

    with pytest.raises(StorageError) as delete_error:
        await store.delete(KEY)
    _assert_clean(delete_error.value)

    with pytest.raises(StorageError) as check_error:
        await store.check()
    _assert_clean(check_error.value)


async def test_an_unreachable_endpoint_becomes_a_clean_storage_error() -> None:
    # Nothing listens on port 9 (discard); botocore's own message would carry the object's URL.
    store = make_store(endpoint_url="http://127.0.0.1:9", connect_timeout=1, max_attempts=1)

    with pytest.raises(StorageError) as error:
        await store.put(KEY, PDF, content_type="application/pdf")
    assert "EndpointConnectionError" in str(error.value)
    _assert_clean(error.value)


def test_missing_credentials_become_a_clean_storage_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    # Keep botocore off the instance-metadata endpoint (no such host here, and it is slow).
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    store = S3BlobStore(bucket="reports", region=REGION)

    with pytest.raises(StorageError) as error:
        store.presign_get(
            KEY, filename="r.pdf", expires_at=datetime.now(UTC) + timedelta(seconds=300)
        )
    assert "NoCredentialsError" in str(error.value)
    _assert_clean(error.value)


def test_presigned_url_is_sigv4_for_300_seconds_as_a_pdf_attachment(
    presigner: S3BlobStore,
) -> None:
    url = presigner.presign_get(
        KEY, filename="identity-report.pdf", expires_at=datetime.now(UTC) + timedelta(seconds=300)
    )

    assert "X-Amz-Expires=300" in url
    query = _query(url)
    assert query["response-content-disposition"] == 'attachment; filename="identity-report.pdf"'
    assert query["response-content-type"] == "application/pdf"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Credential"].endswith(f"/{REGION}/s3/aws4_request")
    assert query["X-Amz-SignedHeaders"] == "host"
    assert len(query["X-Amz-Signature"]) == 64
    assert "X-Amz-Date" in query
    assert SECRET not in url
    assert urlsplit(url).path.endswith("/org-7f3a/reports/3c1d2e-identity.pdf")


@pytest.mark.parametrize(
    ("seconds_left", "expires_in"),
    [(299.6, 300), (300.4, 300), (0.2, 1), (-30, 1), (3600, 3600)],
)
def test_expires_in_is_the_rounded_time_left_and_at_least_one_second(
    presigner: S3BlobStore, seconds_left: float, expires_in: int
) -> None:
    url = presigner.presign_get(
        KEY, filename="r.pdf", expires_at=datetime.now(UTC) + timedelta(seconds=seconds_left)
    )
    assert _query(url)["X-Amz-Expires"] == str(expires_in)


@pytest.mark.parametrize("filename", ['r".pdf', "r\r\nx.pdf", "", "a/b.pdf", "x" * 101])
def test_unsafe_filenames_are_refused(presigner: S3BlobStore, filename: str) -> None:
    with pytest.raises(ValueError, match="unsafe download filename"):
        presigner.presign_get(KEY, filename=filename, expires_at=datetime.now(UTC))


def test_a_lifetime_beyond_sigv4s_seven_days_is_refused(presigner: S3BlobStore) -> None:
    with pytest.raises(ValueError, match="seven days"):
        presigner.presign_get(
            KEY, filename="r.pdf", expires_at=datetime.now(UTC) + timedelta(days=8)
        )


def test_half_a_key_pair_or_a_kms_key_without_kms_is_refused() -> None:
    with pytest.raises(ValueError, match="both"):
        S3BlobStore(bucket="reports", access_key_id="AKIAEXAMPLE")
    with pytest.raises(ValueError, match="aws:kms"):
        S3BlobStore(bucket="reports", kms_key_id="alias/x")
    with pytest.raises(ValueError, match="bucket"):
        S3BlobStore(bucket="")


async def test_from_settings_maps_empty_strings_and_none_to_unset(aws: S3Client) -> None:
    elsewhere = S3BlobStore.from_settings(
        StorageSettings(
            backend="s3",
            s3_bucket="reports",
            s3_region="eu-west-3",
            s3_endpoint_url="http://127.0.0.1:4566",
            s3_access_key_id="test",
            s3_secret_access_key=SecretStr("test"),
            s3_addressing_style="path",
        )
    )
    # Empty endpoint, keys and KMS key: AWS itself (moto here), the environment's credentials.
    unset = S3BlobStore.from_settings(
        StorageSettings(backend="s3", s3_bucket="reports", s3_region=REGION, s3_sse="none")
    )
    sent = _capture_params(unset)

    url = elsewhere.presign_get(
        KEY, filename="r.pdf", expires_at=datetime.now(UTC) + timedelta(seconds=60)
    )
    await unset.put(KEY, PDF, content_type="application/pdf")

    assert url.startswith("http://127.0.0.1:4566/reports/org-7f3a/")
    assert "/eu-west-3/s3/aws4_request" in _query(url)["X-Amz-Credential"]
    assert "ServerSideEncryption" not in sent[0]
    assert "SSEKMSKeyId" not in sent[0]
    assert aws.get_object(Bucket="reports", Key=KEY)["Body"].read() == PDF


def test_storage_settings_keep_their_defaults() -> None:
    settings = StorageSettings()
    assert settings.backend == "local"
    assert settings.s3_sse == "AES256"
    assert settings.s3_secret_access_key is None
    assert settings.download_url_ttl_seconds == 300


# -- LocalStack: what a client can do with the URL ------------------------------------------------
# LocalStack checks presigned URLs against the secret "test" for any access key it does not know.
LOCALSTACK_SECRET = "test"
OTHER_KEY = "org-9b2c/reports/other.pdf"
FILENAME = "identity-report-2026.pdf"


def _raw_client(secret: str = LOCALSTACK_SECRET) -> S3Client:
    return boto3.client(
        "s3",
        endpoint_url=S3_ENDPOINT,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key=secret,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


@contextlib.contextmanager
def temporary_bucket(prefix: str) -> Iterator[str]:
    """A LocalStack bucket of our own, emptied and removed afterwards."""
    client = _raw_client()
    bucket = f"{prefix}-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    try:
        yield bucket
    finally:
        for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])
        client.delete_bucket(Bucket=bucket)


@pytest.fixture(scope="module")
def localstack_bucket() -> Iterator[str]:
    with temporary_bucket("sqr-reports-test") as bucket:
        yield bucket


@pytest.fixture(scope="module")
async def localstack_store(localstack_bucket: str) -> S3BlobStore:
    store = S3BlobStore(
        bucket=localstack_bucket,
        region=REGION,
        endpoint_url=S3_ENDPOINT,
        access_key_id="test",
        secret_access_key=LOCALSTACK_SECRET,
        addressing_style="path",
    )
    await store.put(KEY, PDF, content_type="application/pdf")
    await store.put(OTHER_KEY, b"%PDF-1.7 someone else's report", content_type="application/pdf")
    return store


def _presign(store: S3BlobStore, seconds: float = 300, key: str = KEY) -> str:
    return store.presign_get(
        key, filename=FILENAME, expires_at=datetime.now(UTC) + timedelta(seconds=seconds)
    )


@requires_localstack
def test_localstack_serves_a_valid_url_as_the_exact_pdf_attachment(
    localstack_store: S3BlobStore,
) -> None:
    response = httpx.get(_presign(localstack_store))

    assert response.status_code == 200
    assert response.content == PDF
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'attachment; filename="{FILENAME}"'


def _flip_last_char(value: str) -> str:
    return value[:-1] + ("0" if value[-1] != "0" else "1")


def _tamper_signature(url: str) -> str:
    head, signature = url.rsplit("X-Amz-Signature=", 1)
    return f"{head}X-Amz-Signature={_flip_last_char(signature)}"


def _tamper_key(url: str) -> str:
    # Another existing object: a 403 here is the signature, not a 404.
    return url.replace(KEY, OTHER_KEY, 1)


def _tamper_disposition(url: str) -> str:
    return url.replace(FILENAME, "renamed.pdf", 1)


def _tamper_expiry(url: str) -> str:
    return url.replace("X-Amz-Expires=300", "X-Amz-Expires=3000", 1)


def _tamper_content_type(url: str) -> str:
    return url.replace(
        "response-content-type=application%2Fpdf", "response-content-type=text%2Fhtml"
    )


@requires_localstack
@pytest.mark.parametrize(
    "tamper",
    [_tamper_signature, _tamper_key, _tamper_disposition, _tamper_expiry, _tamper_content_type],
)
def test_localstack_refuses_an_altered_url(localstack_store: S3BlobStore, tamper: Any) -> None:
    url = _presign(localstack_store)
    altered = tamper(url)
    assert altered != url

    response = httpx.get(altered)

    assert response.status_code == 403
    assert PDF not in response.content


@requires_localstack
def test_localstack_refuses_a_url_signed_with_another_secret(localstack_bucket: str) -> None:
    forged = _raw_client(secret="not-the-secret").generate_presigned_url(
        "get_object", Params={"Bucket": localstack_bucket, "Key": KEY}, ExpiresIn=300
    )
    assert httpx.get(forged).status_code == 403


@requires_localstack
def test_localstack_refuses_an_expired_url(localstack_store: S3BlobStore) -> None:
    url = _presign(localstack_store, seconds=1)
    query = _query(url)
    assert query["X-Amz-Expires"] == "1"
    signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    # S3 (LocalStack too) refuses the URL once its real clock is past signing time + lifetime;
    # no test can move that clock, so wait for exactly that instant (at most a second).
    past_expiry = signed_at + timedelta(seconds=1, milliseconds=50)
    time.sleep(max(0.0, (past_expiry - datetime.now(UTC)).total_seconds()))

    response = httpx.get(url)

    assert response.status_code == 403
    assert b"expired" in response.content


@requires_localstack
async def test_localstack_check_passes_and_fails_cleanly(localstack_store: S3BlobStore) -> None:
    await localstack_store.check()
    missing = S3BlobStore(
        bucket=f"sqr-reports-missing-{uuid.uuid4().hex[:12]}",
        endpoint_url=S3_ENDPOINT,
        access_key_id="test",
        secret_access_key=LOCALSTACK_SECRET,
        addressing_style="path",
    )
    with pytest.raises(StorageError):
        await missing.check()


@requires_localstack
def test_localstack_stores_with_verified_checksum_and_sse(
    localstack_store: S3BlobStore, localstack_bucket: str
) -> None:
    stored = _raw_client().head_object(Bucket=localstack_bucket, Key=KEY, ChecksumMode="ENABLED")
    assert stored["ChecksumSHA256"] == _sha256_b64(PDF)
    assert stored["ServerSideEncryption"] == "AES256"
    assert stored["ContentType"] == "application/pdf"


@requires_localstack
async def test_localstack_a_deleted_report_is_gone_even_with_a_valid_url(
    localstack_store: S3BlobStore,
) -> None:
    key = "org-7f3a/reports/short-lived.pdf"
    await localstack_store.put(key, PDF, content_type="application/pdf")
    url = _presign(localstack_store, key=key)
    async with httpx.AsyncClient() as http:
        assert (await http.get(url)).status_code == 200

        await localstack_store.delete(key)

        assert (await http.get(url)).status_code == 404


def settings_on_localstack(data_dir: Path, database_url: str, bucket: str) -> Settings:
    """The suite's settings, with reports in `bucket` on LocalStack instead of the data dir."""
    configured = make_settings(data_dir, database_url)
    storage = configured.storage
    storage.backend, storage.s3_bucket, storage.s3_region = "s3", bucket, REGION
    storage.s3_endpoint_url, storage.s3_access_key_id = S3_ENDPOINT, "test"
    storage.s3_secret_access_key = SecretStr("test")
    storage.s3_addressing_style = "path"
    return configured
