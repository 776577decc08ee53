"""One line format for every logger: JSON lines (or a readable line on a terminal) carrying the
context's ids, and never a secret: download-URL signatures, bearer tokens and client secrets
are redacted from messages and tracebacks."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import sys
from typing import Any

import pytest

from sqr_reports import correlation
from sqr_reports.logs import (
    QUIET_LOGGERS,
    ConsoleLines,
    JsonLines,
    RedactUrlSecrets,
    configure,
    logging_config,
    resolve_format,
    uvicorn_log_config,
)

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzcXJfY2xpZW50In0.c2lnbmF0dXJl"


def _record(message: str, *args: object, name: str = "sqr_reports.test", **extra: Any) -> Any:
    record = logging.LogRecord(name, logging.INFO, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


@pytest.mark.parametrize(
    "path",
    [
        "/v1/downloads/reports/o/j/1.pdf?expires=1&filename=a.pdf&signature=deadbeef",
        "/bucket/key.pdf?X-Amz-Credential=AKIA%2F2026&X-Amz-Signature=cafe&X-Amz-Expires=300",
    ],
)
def test_access_log_records_lose_their_signatures(path: str) -> None:
    record = _record(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", path, "1.1", 200, name="uvicorn.access"
    )

    assert RedactUrlSecrets().filter(record)

    line = record.getMessage()
    for secret in ("deadbeef", "cafe", "AKIA"):
        assert secret not in line
    assert "[redacted]" in line
    assert "expires=1" in line or "X-Amz-Expires=300" in line


def test_a_json_line_has_the_fields_and_the_contexts_ids() -> None:
    with correlation.bound(request_id="r-1", job_id="j-1", org_id="o-1"):
        line = JsonLines().format(_record("report %s", "completed", event="report.completed"))

    parsed = json.loads(line)
    assert parsed["level"] == "INFO"
    assert parsed["logger"] == "sqr_reports.test"
    assert parsed["message"] == "report completed"
    assert parsed["event"] == "report.completed"
    assert (parsed["request_id"], parsed["job_id"], parsed["org_id"]) == ("r-1", "j-1", "o-1")
    assert parsed["timestamp"].endswith("Z")
    assert len(parsed["timestamp"]) == 24


def test_an_access_line_is_structured() -> None:
    record = _record(
        '%s - "%s %s HTTP/%s" %d', "10.0.0.1:1", "GET", "/x?signature=abc", "1.1", 403,
        name="uvicorn.access",
    )  # fmt: skip

    parsed = json.loads(JsonLines().format(record))

    assert (parsed["method"], parsed["status"]) == ("GET", 403)
    assert parsed["path"] == "/x?signature=[redacted]"
    assert "abc" not in json.dumps(parsed)


@pytest.mark.parametrize("formatter", [JsonLines(), ConsoleLines()])
def test_tokens_and_secrets_are_redacted_from_messages_and_tracebacks(
    formatter: logging.Formatter,
) -> None:
    try:
        raise ValueError(f"Authorization: Bearer {JWT}")
    except ValueError:
        record = _record("client_secret=s3cr3t and %s", JWT)
        record.exc_info = sys.exc_info()

    line = formatter.format(record)

    assert JWT not in line
    assert "s3cr3t" not in line
    assert "[redacted" in line


def test_a_console_line_is_one_readable_line_with_the_ids() -> None:
    with correlation.bound(request_id="r-2", job_id="j-2"):
        line = ConsoleLines().format(_record("report claimed", attempt=1, note="two words"))

    assert "\n" not in line
    assert line.endswith('report claimed  request_id=r-2 job_id=j-2 attempt=1 note="two words"')
    assert " INFO    sqr_reports.test: " in line


def test_auto_is_console_on_a_terminal_and_json_elsewhere() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert resolve_format("auto", Terminal()) == "console"
    assert resolve_format("auto", io.StringIO()) == "json"
    assert resolve_format("console", io.StringIO()) == "console"


def test_the_configuration_uses_one_handler_and_quietens_the_http_clients() -> None:
    config = logging_config("debug", "json")

    assert config["formatters"]["lines"]["()"] is JsonLines
    assert config["handlers"]["default"]["filters"] == ["redact"]
    assert config["root"] == {"handlers": ["default"], "level": "DEBUG"}
    assert config["loggers"]["uvicorn.access"]["handlers"] == ["default"]
    assert {config["loggers"][name]["level"] for name in QUIET_LOGGERS} == {"WARNING"}
    assert uvicorn_log_config("warning", "console")["formatters"]["lines"]["()"] is ConsoleLines


def test_configure_keeps_a_configuration_already_in_place() -> None:
    root = logging.getLogger()
    assert root.handlers  # pytest's own
    before = list(root.handlers)

    configure("DEBUG", "json")

    assert root.handlers == before
