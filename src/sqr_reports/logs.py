"""Logging set-up: one line format for the app, uvicorn (access and errors) and the workers.

JSON lines (python-json-logger) where a machine reads them, a readable line in a terminal;
`SQR_REPORTS_LOG__FORMAT` chooses, `auto` by whether stderr is a terminal. Every line carries
the ids of its context (`correlation`: request, job, org) and never a secret: download-URL
signatures, bearer tokens and client secrets are redacted from messages and tracebacks, and
the HTTP clients' own loggers (which would write webhook URLs and S3 request headers) stay at
WARNING whatever the level. Personal data is kept out by what the code logs: ids only.
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
import sys
import time
from typing import Any, Literal, TextIO

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from sqr_reports import correlation

LogFormat = Literal["auto", "json", "console"]

_SECRETS = (
    (
        re.compile(r"((?:signature|x-amz-signature|x-amz-credential)=)[^&\s\"']+", re.I),
        r"\1[redacted]",
    ),
    (re.compile(r"\b(bearer\s+)[A-Za-z0-9._~+/=-]+", re.I), r"\1[redacted]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "[redacted-jwt]"),
    (re.compile(r"(client_secret[\"']?\s*[:=]\s*[\"']?)[^&\s\"',}]+", re.I), r"\1[redacted]"),
)
#: Loggers that write what must not be logged at INFO or DEBUG (request URLs, S3 headers).
QUIET_LOGGERS = ("httpx", "httpcore", "botocore", "boto3", "s3transfer", "urllib3", "aiosqlite")
#: Attributes every record has: anything else was passed as `extra` and becomes a field.
_STANDARD = frozenset(RESERVED_ATTRS) | {"message", "asctime", "color_message", "taskName"}
_ACCESS_LOGGER = "uvicorn.access"


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactUrlSecrets(logging.Filter):
    """A signed download URL is a credential for 5 minutes; access logs keep only its shape."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def utc_timestamp(created: float) -> str:
    """A record's time as the API writes times: ISO-8601, UTC, milliseconds, `Z`."""
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """What the record says beyond its message: `extra=` fields, and an access line's parts."""
    fields = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
    if record.name == _ACCESS_LOGGER and isinstance(record.args, tuple) and len(record.args) == 5:
        client, method, path, http_version, status = record.args
        fields |= {"method": method, "path": redact(str(path)), "status": status}
        fields |= {"client": client, "http_version": http_version}
    return fields


class JsonLines(JsonFormatter):
    """One JSON object per line: timestamp, level, logger, message, the context's ids, the
    record's own fields, and a redacted traceback."""

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["timestamp"] = utc_timestamp(record.created)
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["pid"] = record.process  # which of a command's processes (uvicorn's workers)
        log_data["message"] = redact(record.message)
        log_data.update(correlation.ids())
        log_data.update(extra_fields(record))
        for name, field in (("exc_info", "exception"), ("stack_info", "stack")):
            if message_dict.get(name):
                log_data[field] = redact(str(message_dict[name]))


class ConsoleLines(logging.Formatter):
    """`2026-05-05T10:00:00.000Z INFO    logger: message  request_id=... job_id=...`"""

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        line = f"{utc_timestamp(record.created)} {record.levelname:<7} {record.name}: "
        line += redact(record.message)
        fields = {**correlation.ids()}
        if record.name != _ACCESS_LOGGER:  # its message already says all of it
            fields |= extra_fields(record)
        if fields:
            line += "  " + " ".join(f"{k}={_shown(v)}" for k, v in fields.items())
        if record.exc_info:
            line += "\n" + redact(self.formatException(record.exc_info))
        return line


def _shown(value: Any) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if not text or re.search(r"[\s\"=]", text) else text


def resolve_format(
    requested: LogFormat, stream: TextIO | None = None
) -> Literal["json", "console"]:
    """`auto`: readable lines for a person at a terminal, JSON for everything else."""
    if requested != "auto":
        return requested
    return "console" if (stream or sys.stderr).isatty() else "json"


def logging_config(level: str, log_format: LogFormat = "auto") -> dict[str, Any]:
    """A `logging.config.dictConfig` for the whole process: the root logger (the app, the
    workers, the render pool) and uvicorn's loggers alike, on one handler writing to stderr."""
    level = level.upper()
    formatter = JsonLines if resolve_format(log_format) == "json" else ConsoleLines
    quiet = max(logging.getLevelNamesMapping().get(level, logging.INFO), logging.WARNING)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactUrlSecrets}},
        "formatters": {"lines": {"()": formatter}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "lines",
                "filters": ["redact"],
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            _ACCESS_LOGGER: {"handlers": ["default"], "level": level, "propagate": False},
            **{name: {"level": logging.getLevelName(quiet)} for name in QUIET_LOGGERS},
        },
        "root": {"handlers": ["default"], "level": level},
    }


def configure(level: str, log_format: LogFormat = "auto") -> None:
    """Set up the process's logging, unless something has already (as `logging.basicConfig`
    would not either): a program that embeds the CLI, or a test runner, keeps its own."""
    if not logging.getLogger().handlers:
        logging.config.dictConfig(logging_config(level, log_format))


def uvicorn_log_config(level: str, log_format: LogFormat = "auto") -> dict[str, Any]:
    """uvicorn's logging configuration: the same as the process's, so each of uvicorn's worker
    processes (which apply it on start) writes the app's lines in the same format too."""
    return logging_config(level, log_format)
