"""`sqr-reports fetch`, end to end: the service's command line, delegating to the SDK, against
the live service, in a process of its own."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sdk_live import SQR_REPORTS, Org, Service, unknown_user_id


@pytest.fixture(scope="module")
def org(service: Service) -> Org:
    return service.new_org()


def fetch(
    service: Service, org: Org, *args: str, cwd: Path, secret: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **service.env,
        "SQR_API_URL": service.url,
        "SQR_CLIENT_ID": org.client_id,
    }
    if secret is not None:
        env["SQR_CLIENT_SECRET"] = secret
    return subprocess.run(
        [SQR_REPORTS, "fetch", *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_fetch_saves_and_verifies_the_report(service: Service, org: Org, tmp_path: Path) -> None:
    assert org.user_id is not None
    secret_file = tmp_path / "secret"
    secret_file.write_text(org.client_secret + "\n")
    out = tmp_path / "reports"
    out.mkdir()
    done = fetch(
        service, org, org.user_id, "-o", "reports/report.pdf", "--json",
        "--client-secret-file", str(secret_file), cwd=tmp_path,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    saved = out / "report.pdf"
    assert result["path"] == str(saved.resolve())
    assert result["pages"] > 0
    assert result["user_id"] == org.user_id
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == result["sha256"]
    assert [p.name for p in out.iterdir()] == ["report.pdf"]
    assert "COMPLETE" in done.stderr
    assert org.client_secret not in done.stdout + done.stderr


def test_fetch_again_with_the_same_key_is_the_same_job(
    service: Service, org: Org, tmp_path: Path
) -> None:
    assert org.user_id is not None
    args = (org.user_id, "-o", "again.pdf", "--idempotency-key", "fetch-test-1")
    first = fetch(service, org, *args, cwd=tmp_path, secret=org.client_secret)
    second = fetch(service, org, *args, cwd=tmp_path, secret=org.client_secret)

    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    lines = dict(line.split(maxsplit=1) for line in second.stdout.splitlines())
    assert first.stdout == second.stdout
    assert set(lines) == {"path", "job_id", "user_id", "pages", "size_bytes", "sha256"}
    assert hashlib.sha256((tmp_path / "again.pdf").read_bytes()).hexdigest() == lines["sha256"]


def test_a_failed_job_exits_1_and_leaves_no_stale_report(
    service: Service, org: Org, tmp_path: Path
) -> None:
    stale = tmp_path / "report.pdf"
    stale.write_bytes(b"%PDF- last week's report")
    unknown = unknown_user_id()
    done = fetch(service, org, unknown, "-o", "report.pdf", cwd=tmp_path, secret=org.client_secret)

    assert done.returncode == 1
    assert "FAILED: USER_NOT_FOUND" in done.stderr
    assert done.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_bad_credentials_exit_3_and_leave_nothing(
    service: Service, org: Org, tmp_path: Path
) -> None:
    (tmp_path / "report.pdf").write_bytes(b"old")
    done = fetch(service, org, "US7K2M9Q4X8B1N5C", "-o", "report.pdf", cwd=tmp_path,
                 secret="not-the-secret")  # fmt: skip
    assert done.returncode == 3
    assert "invalid_client" in done.stderr
    assert "not-the-secret" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_without_a_secret_it_says_how_to_give_one(
    service: Service, org: Org, tmp_path: Path
) -> None:
    (tmp_path / "report.pdf").write_bytes(b"old")
    done = fetch(service, org, "US7K2M9Q4X8B1N5C", "-o", "report.pdf", cwd=tmp_path)
    assert done.returncode == 2
    assert "SQR_CLIENT_SECRET" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_job_that_outlasts_the_timeout_exits_4_with_a_way_back(
    idle_service: Service, tmp_path: Path
) -> None:
    demo = idle_service.demo
    args = ("-o", "r.pdf", "--timeout", "1", "--idempotency-key", "slow-1")
    done = fetch(
        idle_service, demo, unknown_user_id(), *args, cwd=tmp_path, secret=demo.client_secret
    )
    assert done.returncode == 4
    assert "PENDING" in done.stderr
    assert "--idempotency-key slow-1" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_without_the_sdk_the_command_says_how_to_install_it(tmp_path: Path) -> None:
    hide_sdk = (
        "import sys; sys.modules['sqr_reports_client'] = None; "
        "from sqr_reports.cli import main; sys.exit(main(['fetch', 'U', '-o', 'r.pdf']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", hide_sdk], cwd=tmp_path, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "pip install" in done.stderr
    assert "sqr-reports-client" in done.stderr
