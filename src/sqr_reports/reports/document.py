"""The report's content: what a subject's data means, as data for the template.

The verdict logic lives here, in Python, so it is tested as code; templates only lay it out.
One data shape serves every template version: a version ignores the keys it does not know (v1
predates the check `id`, the screening `hit` flags and `score_refer_floor`).

Data minimisation: SQR's user-status data carries no identity-document number, image, selfie or
biometric template, so none can reach a report; the report shows check results only.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqr_reports.clock import isoformat_ms
from sqr_reports.orgs.models import Org
from sqr_reports.reports.models import ReportJob
from sqr_reports.users.models import MONITORING_KINDS, MonitoringEvent
from sqr_reports.users.service import Subject

PASS, REFER, FAIL, NOT_RUN = "PASS", "REFER", "FAIL", "NOT_RUN"
LIVENESS_THRESHOLD = 80.0
FACE_MATCH_THRESHOLD = 80.0
REFER_FLOOR = 50.0  # a score between this and the threshold is referred, below it fails
MAX_TEXT = 500
#: The members of the report data that `meta.input_sha256` covers (everything about the subject).
DIGEST_KEYS = ("subject", "verification", "screening", "connection", "guardian")

_PASSING = {"PASS", "PASSED", "VALID", "VALIDATED", "APPROVED", "MATCH", "MATCHED", "CLEAR", "OK"}
_FAILING = {"FAIL", "FAILED", "INVALID", "REJECTED", "NO_MATCH", "NOMATCH", "DECLINED"}
_CJK_NAME = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af·・]+")
_SURROGATES = re.compile("[\ud800-\udfff]")
_HITS = {"HIT", "MATCH", "POSITIVE", "CONFIRMED", "POTENTIAL_MATCH"}


def build(job: ReportJob, org: Org, subject: Subject, generated_at: datetime) -> dict[str, Any]:
    """The template's input (schema: `rendering/templates/<version>/README.md`)."""
    user, connection = subject.user, subject.connection
    current = _current_flags(subject.monitoring)
    body: dict[str, Any] = {
        "subject": {
            "id": user.id,
            "full_name": _text(_full_name(user.first_name, user.middle_name, user.last_name)),
            "first_name": _text(user.first_name),
            "middle_name": _text(user.middle_name),
            "last_name": _text(user.last_name),
            "email": _text(user.email),
            "phone": _text(user.phone),
            "dob": _date(user.dob),
            "address": {
                name: _text(getattr(user, name))
                for name in ("full_address", "address1", "address2", "city", "state", "postcode")
            }
            | {"country": _text(user.country)},
            "registration_status": _text(user.registration_status),
            "registration_submitted": user.registration_submitted,
            "mobile_registration_status": _text(user.mobile_registration_status),
            "created_at": _timestamp(user.created_at),
        },
        "verification": {
            "document_overall_validation": _text(user.document_overall_validation),
            "high_level_result": _text(user.high_level_result),
            "gbg_high_level_result": _text(user.gbg_high_level_result),
            "id3_match_status": _text(user.id3_match_status),
            "selfie_liveness_score": _score(user.selfie_liveness_score),
            "liveness_threshold": LIVENESS_THRESHOLD,
            "fmc_score": _score(user.fmc_score),
            "face_match_threshold": FACE_MATCH_THRESHOLD,
            "score_refer_floor": REFER_FLOOR,
            "override_status": _text(user.override_status),
            "override_notes": _text(user.override_notes),
        },
        "screening": {
            "id3_pep_sanction_result": _text(user.id3_pep_sanction_result),
            "current": [
                {
                    "kind": e.kind,
                    "status": _text(e.status),
                    "hit": _is_hit(e),
                    "recorded_at": _timestamp(e.recorded_at),
                }
                for e in current
            ],
            "history": [
                {
                    "kind": e.kind,
                    "status": _text(e.status),
                    "hit": _is_hit(e),
                    "recorded_at": _timestamp(e.recorded_at),
                    "detail": _text(e.detail),
                }
                for e in subject.monitoring
            ],
        },
        "connection": {
            "status": connection.connection_status,
            "data_sharing_agreed": connection.data_sharing_agreed,
            "connected_at": _timestamp(connection.connected_at),
            "status_updated_at": _timestamp(connection.connection_status_updated_at),
        },
        "guardian": (
            {"name": _text(user.guardian_name), "dob": _date(user.guardian_dob)}
            if user.guardian_name or user.guardian_dob
            else None
        ),
    }
    assert tuple(body) == DIGEST_KEYS
    checks = _checks(body, current)
    return {
        "meta": {
            "report_id": job.id,
            "template_version": job.template_version,
            "generated_at": isoformat_ms(generated_at),
            "org": {"id": org.id, "name": _text(org.name)},
            "input_sha256": input_digest(body),
        },
        "verdict": _verdict(checks),
        "checks": checks,
        **body,
    }


def input_digest(body: dict[str, Any]) -> str:
    """SHA-256 of the subject data as canonical JSON: proves what the report was made from."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _checks(body: dict[str, Any], current: Sequence[MonitoringEvent]) -> list[dict[str, str]]:
    verification = body["verification"]
    flags = {event.kind: _norm(event.status) or "" for event in current}
    pep_sanctions = _screening_result(body["screening"], flags)
    adverse = flags.get("ADVERSE_MEDIA")
    return [
        _check("document", "Identity document",
               _status_result(verification["document_overall_validation"]),
               verification["document_overall_validation"], "Document validation"),
        _score_check("liveness", "Selfie liveness", verification["selfie_liveness_score"],
                     LIVENESS_THRESHOLD),
        _score_check("face_match", "Face match", verification["fmc_score"], FACE_MATCH_THRESHOLD),
        _check("database", "Database checks", _status_result(verification["id3_match_status"]),
               verification["id3_match_status"], "Database match"),
        pep_sanctions,
        _check("adverse_media", "Adverse media",
               NOT_RUN if adverse is None else REFER if adverse in _HITS else PASS,
               adverse, "Ongoing monitoring"),
    ]  # fmt: skip


def _screening_result(screening: dict[str, Any], flags: dict[str, str]) -> dict[str, str]:
    id3 = _norm(screening["id3_pep_sanction_result"])
    check = ("pep_sanctions", "PEP & sanctions")
    if flags.get("SANCTION") in _HITS:
        return _check(*check, FAIL, "SANCTION HIT", "Sanctions list match")
    if flags.get("PEP") in _HITS or id3 in _HITS:
        return _check(*check, REFER, "PEP HIT", "Politically exposed person match")
    if id3 is None and not flags:
        return _check(*check, NOT_RUN, None, "Screening")
    return _check(*check, PASS, "CLEAR", "No PEP or sanctions match")


def _check(id_: str, name: str, result: str, value: str | None, label: str) -> dict[str, str]:
    """One check; `id` names it for templates (which section explains it), `name` for people."""
    detail = f"{label}: {value}" if value else f"{label}: no result recorded"
    return {"id": id_, "name": name, "result": result, "detail": _text(detail) or ""}


def _score_check(id_: str, name: str, score: float | None, threshold: float) -> dict[str, str]:
    if score is None:
        return {"id": id_, "name": name, "result": NOT_RUN, "detail": "No score recorded"}
    result = PASS if score >= threshold else REFER if score >= REFER_FLOOR else FAIL
    detail = f"Score {score:g} (threshold {threshold:g})"
    return {"id": id_, "name": name, "result": result, "detail": detail}


def _is_hit(event: MonitoringEvent) -> bool:
    """Whether a screening result is a match: decided here, so templates never guess from words."""
    return _norm(event.status) in _HITS


def _status_result(value: str | None) -> str:
    status = _norm(value)
    if status is None:
        return NOT_RUN
    if status in _PASSING:
        return PASS
    return FAIL if status in _FAILING else REFER


def _verdict(checks: Sequence[dict[str, str]]) -> dict[str, str]:
    results = [check["result"] for check in checks]
    if FAIL in results:
        failed = ", ".join(c["name"] for c in checks if c["result"] == FAIL)
        return {"result": FAIL, "summary": f"Failed: {failed}. Do not rely on this identity."}
    if REFER in results or NOT_RUN in results:
        return {"result": REFER, "summary": "Some checks need manual review before relying."}
    return {"result": PASS, "summary": "All identity checks passed."}


def _current_flags(history: Sequence[MonitoringEvent]) -> list[MonitoringEvent]:
    """The newest event of each kind, in a fixed order (history is newest first)."""
    latest: dict[str, MonitoringEvent] = {}
    for event in history:
        latest.setdefault(event.kind, event)
    return [latest[kind] for kind in MONITORING_KINDS if kind in latest]


def _full_name(first: str | None, middle: str | None, last: str | None) -> str | None:
    """Given names first, with spaces; a name written in CJK characters family name first, unspaced
    (王 + 小明 is 王小明), as it is written in Chinese, Japanese and Korean."""
    if all(part is None or _CJK_NAME.fullmatch(part) for part in (first, middle, last)):
        return "".join(part for part in (last, first, middle) if part) or None
    return " ".join(part for part in (first, middle, last) if part) or None


def _norm(value: str | None) -> str | None:
    return value.strip().upper().replace(" ", "_").replace("-", "_") if value else None


def _text(value: str | None) -> str | None:
    """Long text is cut visibly, so no field can push the layout off the page.

    Lone UTF-16 surrogates (valid in JSON, invalid in UTF-8) would abort the render: replaced.
    """
    if value is None:
        return None
    value = _SURROGATES.sub("\ufffd", value)
    if len(value) <= MAX_TEXT:
        return value
    return value[:MAX_TEXT] + " … [truncated]"


def _score(value: float | None) -> float | None:
    """NaN and infinities are no score (JSON cannot carry them, and no threshold can judge them)."""
    return value if value is not None and math.isfinite(value) else None


def _date(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _timestamp(value: datetime | None) -> str | None:
    return isoformat_ms(value) if value else None
