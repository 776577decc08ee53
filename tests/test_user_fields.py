"""A user's fields are declared once (`AppUser`): the import format follows them and every one of
them reaches the report, so a field added to the model cannot be silently dropped."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import Boolean, Date, Float, String, inspect

from sqr_reports.db.base import UTCDateTime
from sqr_reports.orgs.models import Org
from sqr_reports.reports import document
from sqr_reports.reports.models import ReportJob
from sqr_reports.users.models import AppUser
from sqr_reports.users.schemas import UserRecord
from tests.support import DEFAULT_POLICY, GENERATED, make_subject

COLUMNS = {c.name: c for c in inspect(AppUser).columns if not c.info.get("managed")}


def _distinct_value(name: str, index: int) -> Any:
    """A value for column `name` that no other column has and the report would print as is."""
    column = COLUMNS[name]
    if "choices" in column.info:
        return column.info["choices"][-1]
    if isinstance(column.type, UTCDateTime):
        return datetime(2020, 1, 1 + index % 28, index % 24, tzinfo=UTC)
    if isinstance(column.type, String):
        return f"{name.upper()[:10]}{index}"
    if isinstance(column.type, Float):
        return 50 + index / 100
    if isinstance(column.type, Date):
        return date(1950 + index, 1, 1)
    assert isinstance(column.type, Boolean)
    return True


def test_the_import_format_has_exactly_the_models_columns() -> None:
    fields = set(UserRecord.model_fields) - {"connections", "monitoring"}

    assert fields == set(COLUMNS)
    assert "updated_at" not in fields  # stamped by the service


def test_the_import_format_enforces_each_columns_limits() -> None:
    too_long = {
        name: "x" * (_limit(c.info.get("max_length") or c.type.length) + 1)
        for name, c in COLUMNS.items()
        if isinstance(c.type, String) and "choices" not in c.info and name != "id"
    }
    for name, value in too_long.items():
        with pytest.raises(ValidationError, match=name):
            UserRecord.model_validate({"id": "US1", name: value})
    with pytest.raises(ValidationError, match="fmc_score"):
        UserRecord.model_validate({"id": "US1", "fmc_score": 100.5})
    with pytest.raises(ValidationError, match="registration_status"):
        UserRecord.model_validate({"id": "US1", "registration_status": "gone"})
    with pytest.raises(ValidationError, match="id"):
        UserRecord.model_validate({"id": "us-lower"})


def test_every_field_of_the_user_reaches_the_report() -> None:
    values = {name: _distinct_value(name, i) for i, name in enumerate(COLUMNS) if name != "id"}
    job = ReportJob(id="3fa85f64-5717-4562-b3fc-2c963f66afa6", template_version="v2")
    data = document.build(
        job,
        Org(id="org", name="Org"),
        make_subject(**values),
        generated_at=GENERATED,
        policy=DEFAULT_POLICY,
    )

    printed = json.dumps(data)
    missing = [
        name
        for name, value in values.items()
        if not isinstance(value, bool) and _shown(value) not in printed
    ]
    assert missing == []


def _limit(length: object) -> int:
    assert isinstance(length, int)
    return length


def _shown(value: object) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return json.dumps(value)
