"""The report's content: what a subject's data means, as data for the template.

The judgement lives in Python (`verdict.py`, `decisions.py`), so it is tested as code;
templates only lay it out. The data carries the verdict, the checks with their reasons, next
actions and dates, the flags page 1 raises and the policy applied.
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
from sqr_reports.policies.service import AppliedPolicy
from sqr_reports.rendering import glyphs
from sqr_reports.reports import decisions, verdict
from sqr_reports.reports.models import ReportJob
from sqr_reports.users.models import MONITORING_KINDS, MonitoringEvent
from sqr_reports.users.service import Subject

MAX_TEXT = 500
#: The members of the report data that `meta.input_sha256` covers (everything about the subject).
DIGEST_KEYS = ("subject", "verification", "screening", "connection", "guardian")

_CJK_NAME = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af·・]+")


def build(
    job: ReportJob, org: Org, subject: Subject, *, generated_at: datetime, policy: AppliedPolicy
) -> dict[str, Any]:
    """The template's input: the subject's data, judged under `policy` at `generated_at`."""
    user, connection = subject.user, subject.connection
    current = _current_flags(subject.monitoring)
    judgement = verdict.judge(subject, current, policy.values, generated_at)
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
            "liveness_threshold": policy.values.liveness_threshold,
            "fmc_score": _score(user.fmc_score),
            "face_match_threshold": policy.values.face_match_threshold,
            "score_refer_floor": policy.values.refer_floor,
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
                    "outcome": _outcome(e),
                    "recorded_at": _timestamp(e.recorded_at),
                    "since": _timestamp(_held_since(e, subject.monitoring)),
                }
                for e in current
            ],
            "history": [
                {
                    "kind": e.kind,
                    "status": _text(e.status),
                    "hit": _is_hit(e),
                    "outcome": _outcome(e),
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
    return {
        "meta": {
            "report_id": job.id,
            "template_version": job.template_version,
            "generated_at": isoformat_ms(generated_at),
            "org": {"id": org.id, "name": _text(org.name)},
            "input_sha256": input_digest(body),
            "undisplayable": _undisplayable([body, org.name]),
        },
        "verdict": judgement.verdict_data(),
        "flags": list(judgement.flags),
        "policy": policy.as_data(),
        "checks": [check.as_data() for check in judgement.checks],
        **body,
    }


def input_digest(body: dict[str, Any]) -> str:
    """SHA-256 of the subject data as canonical JSON: proves what the report was made from."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _outcome(event: MonitoringEvent) -> str:
    """What the decision table makes of a monitoring result (templates colour it by this)."""
    return decisions.MONITORING[event.kind].decide(event.status).outcome.value


def _is_hit(event: MonitoringEvent) -> bool:
    """Whether a screening result is a match, by the decision table: templates never guess."""
    return decisions.normalise(event.status) in decisions.HIT


def _undisplayable(value: Any) -> list[str]:
    """The characters no report font has ("U+1F600"), which the report draws as a marker box
    while its text layer keeps them: the integrity block says so."""
    texts: list[str] = []

    def collect(item: Any) -> None:
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, dict):
            for member in item.values():
                collect(member)
        elif isinstance(item, list):
            for member in item:
                collect(member)

    collect(value)
    return [f"U+{ord(char):04X}" for char in glyphs.undisplayable("\n".join(texts))]


def _current_flags(history: Sequence[MonitoringEvent]) -> list[MonitoringEvent]:
    """The newest event of each kind, in a fixed order (history is newest first)."""
    latest: dict[str, MonitoringEvent] = {}
    for event in history:
        latest.setdefault(event.kind, event)
    return [latest[kind] for kind in MONITORING_KINDS if kind in latest]


def _held_since(current: MonitoringEvent, history: Sequence[MonitoringEvent]) -> datetime:
    """Since when the current status of its kind has held: the oldest event of the newest
    unbroken run of that status ("CLEAR since 3 Apr 2025"). History is newest first."""
    status = decisions.normalise(current.status)
    since = current.recorded_at
    for event in (e for e in history if e.kind == current.kind):
        if decisions.normalise(event.status) != status:
            break
        since = min(since, event.recorded_at)
    return since


def _full_name(first: str | None, middle: str | None, last: str | None) -> str | None:
    """Given names first, with spaces; a name written in CJK characters family name first, unspaced
    (王 + 小明 is 王小明), as it is written in Chinese, Japanese and Korean."""
    if all(part is None or _CJK_NAME.fullmatch(part) for part in (first, middle, last)):
        return "".join(part for part in (last, first, middle) if part) or None
    return " ".join(part for part in (first, middle, last) if part) or None


def _text(value: str | None) -> str | None:
    """Long text is cut visibly, so no field can push the layout off the page.

    Lone UTF-16 surrogates (valid in JSON, invalid in UTF-8) would abort the render: replaced.
    """
    if value is None:
        return None
    value = decisions.without_surrogates(value)
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
