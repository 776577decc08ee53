"""Logs keep secrets out: download-URL signatures are redacted from access logs."""

from __future__ import annotations

import logging

import pytest

from sqr_reports.logs import RedactUrlSecrets, uvicorn_log_config


@pytest.mark.parametrize(
    "path",
    [
        "/v1/downloads/reports/o/j/1.pdf?expires=1&filename=a.pdf&signature=deadbeef",
        "/bucket/key.pdf?X-Amz-Credential=AKIA%2F2026&X-Amz-Signature=cafe&X-Amz-Expires=300",
    ],
)
def test_access_log_records_lose_their_signatures(path: str) -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", path, "1.1", 200), None,
    )  # fmt: skip

    assert RedactUrlSecrets().filter(record)

    line = record.getMessage()
    for secret in ("deadbeef", "cafe", "AKIA"):
        assert secret not in line
    assert "[redacted]" in line
    assert "expires=1" in line or "X-Amz-Expires=300" in line


def test_the_uvicorn_configuration_filters_every_handler() -> None:
    config = uvicorn_log_config("warning")

    assert all(h["filters"] == ["redact"] for h in config["handlers"].values())
    assert {logger["level"] for logger in config["loggers"].values()} == {"WARNING"}
