"""Logging set-up: the access log never carries a download URL's signature."""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

from uvicorn.config import LOGGING_CONFIG

_SECRET_QUERY = re.compile(r"((?:signature|x-amz-signature|x-amz-credential)=)[^&\s\"']+", re.I)


def redact(text: str) -> str:
    return _SECRET_QUERY.sub(r"\1[redacted]", text)


class RedactUrlSecrets(logging.Filter):
    """A signed download URL is a credential for 5 minutes; access logs keep only its shape."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def uvicorn_log_config(level: str) -> dict[str, Any]:
    """uvicorn's own logging configuration, with the redacting filter on its handlers."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact": {"()": RedactUrlSecrets}}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact"]
    for logger in config["loggers"].values():
        logger["level"] = level.upper()
    return config
