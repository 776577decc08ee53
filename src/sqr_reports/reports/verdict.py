"""Judging a subject: every check's outcome, the flags page 1 raises, and the overall verdict.

Word results go through the decision table (`decisions.py`); scores, age and the age of the
verification are judged against the org's verdict policy. The overall verdict is FAIL when any
check fails; otherwise REFER when any check is referred or a required check did not run;
otherwise PASS. Nothing that is missing, unrecognised, erroring or a hit can make it PASS.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqr_reports.clock import isoformat_ms
from sqr_reports.config import VerdictPolicy
from sqr_reports.reports import decisions
from sqr_reports.reports.decisions import Decision, Outcome, Table, worst
from sqr_reports.users.models import MonitoringEvent
from sqr_reports.users.service import Subject

#: A date of birth that gives an age beyond this is taken as a recording error.
OLDEST_PLAUSIBLE_AGE = 130
#: How many drivers the verdict sentence names before it says "and N more".
SENTENCE_DRIVERS = 3
#: Checks the verdict sentence names before any other of the same outcome.
SCREENING_FIRST = frozenset({"sanctions", "id3_screening", "pep", "adverse_media"})
CONFIRM_DATE = "confirm the verification date with SQR before relying"


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    name: str
    result: Outcome
    reason: str
    action: str | None
    performed_at: datetime | None
    #: A required check that did not run makes the verdict REFER; an optional one does not.
    required: bool = True
    #: The reasons of its inputs that the decision table did not recognise (named on page 1).
    unrecognised: tuple[str, ...] = ()

    def as_data(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "result": self.result.value,
            "detail": _sentence(self.reason),
            "reason": self.reason,
            "action": self.action,
            "performed_at": isoformat_ms(self.performed_at) if self.performed_at else None,
            "required": self.required,
        }

    @property
    def drives_verdict(self) -> bool:
        if self.result is Outcome.NOT_RUN:
            return self.required
        return self.result is not Outcome.PASS


@dataclass(frozen=True, slots=True)
class Judgement:
    checks: tuple[Check, ...]
    result: Outcome
    summary: str
    flags: tuple[dict[str, str], ...]

    def verdict_data(self) -> dict[str, Any]:
        return {
            "result": self.result.value,
            "summary": self.summary,
            "drivers": [
                {"check": c.id, "name": c.name, "result": c.result.value, "reason": c.reason,
                 "action": c.action}
                for c in self.drivers()
            ],
        }  # fmt: skip

    def drivers(self) -> list[Check]:
        return drivers(self.checks)


def judge(
    subject: Subject,
    current: Sequence[MonitoringEvent],
    policy: VerdictPolicy,
    as_of: datetime,
) -> Judgement:
    """Judge `subject` under `policy` at the report's time `as_of`."""
    user = subject.user
    verified_at = user.created_at
    monitored = {event.kind: event for event in current}

    def word_check(table: Table, name: str) -> Check:
        values = [getattr(user, field) for field in table.fields]
        return _from_decisions(table, name, _decisions(table, values), verified_at)

    def screening(kind: str, name: str) -> Check:
        table, event = decisions.MONITORING[kind], monitored.get(kind)
        decided = [table.decide(event.status if event else None)]
        return _from_decisions(table, name, decided, event.recorded_at if event else None)

    checks = (
        word_check(decisions.DOCUMENT, "Identity document"),
        _score_check("liveness", "Selfie liveness", "liveness score", user.selfie_liveness_score,
                     policy.liveness_threshold, policy.refer_floor, verified_at),
        _score_check("face_match", "Face match", "face-match score", user.fmc_score,
                     policy.face_match_threshold, policy.refer_floor, verified_at),
        word_check(decisions.DATABASE, "Database checks"),
        screening("SANCTION", "Sanctions"),
        screening("PEP", "PEP"),
        screening("ADVERSE_MEDIA", "Adverse media"),
        word_check(decisions.ONBOARDING_SCREENING, "Onboarding screening"),
        word_check(decisions.OVERALL, "Overall SQR result"),
        word_check(decisions.REGISTRATION, "SQR account"),
        _age_check(user.dob, user.guardian_name is not None, policy, as_of),
        _freshness_check(verified_at, policy, as_of),
    )  # fmt: skip
    result = _overall(checks)
    return Judgement(checks, result, _summary(result, drivers(checks)), _flags(checks, subject))


def drivers(checks: Sequence[Check]) -> list[Check]:
    """The checks behind a FAIL or REFER: worst first, screening first within an outcome
    (a sanctions match is what a reader must not miss), then in the report's order."""
    driving = [c for c in checks if c.drives_verdict]
    return sorted(
        driving, key=lambda c: (-decisions.SEVERITY[c.result], c.id not in SCREENING_FIRST)
    )


def age_on(dob: date, day: date) -> int:
    return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))


def _overall(checks: Sequence[Check]) -> Outcome:
    driving = [c.result for c in checks if c.drives_verdict]
    if not driving:
        return Outcome.PASS
    return Outcome.FAIL if Outcome.FAIL in driving else Outcome.REFER


def _decisions(table: Table, values: Sequence[str | None]) -> list[Decision]:
    """The decisions on the recorded values of a check's fields (the overall result has two);
    none recorded is the table's missing row."""
    decided = [table.decide(v) for v in values if decisions.normalise(v) is not None]
    return decided or [table.decide(None)]


def _from_decisions(
    table: Table, name: str, decided: Sequence[Decision], at: datetime | None
) -> Check:
    """The check takes the worst decision among its fields."""
    bad = worst(d.outcome for d in decided)
    decision = next(d for d in decided if d.outcome is bad)
    return Check(
        id=table.check, name=name, result=decision.outcome, reason=decision.reason,
        action=decision.action, performed_at=at, required=table.required,
        unrecognised=tuple(d.reason for d in decided if not d.recognised),
    )  # fmt: skip


def _score_check(
    id_: str, name: str, what: str, score: float | None, threshold: float, floor: float,
    at: datetime | None,
) -> Check:  # fmt: skip
    if score is None or not math.isfinite(score):
        return Check(id_, name, Outcome.NOT_RUN, f"no {what} is recorded",
                     "complete the verification before relying", at)  # fmt: skip
    if score >= threshold:
        return Check(id_, name, Outcome.PASS, f"{what} {score:g} meets the threshold of "
                     f"{threshold:g}", None, at)  # fmt: skip
    if score >= floor:
        return Check(id_, name, Outcome.REFER, f"{what} {score:g} is below the threshold of "
                     f"{threshold:g}", "review the selfie and document photo before relying",
                     at)  # fmt: skip
    return Check(id_, name, Outcome.FAIL, f"{what} {score:g} is below the refer floor of "
                 f"{floor:g}", "do not rely on this identity, and ask the subject to verify again",
                 at)  # fmt: skip


def _age_check(
    dob: date | None, has_guardian: bool, policy: VerdictPolicy, as_of: datetime
) -> Check:
    name, minimum = "Age", policy.minimum_age
    confirm = f"confirm the subject is at least {minimum} before relying"
    if dob is None:
        return Check("age", name, Outcome.NOT_RUN, "no date of birth is recorded", confirm, as_of)
    age = age_on(dob, as_of.date())
    if age < 0 or age > OLDEST_PLAUSIBLE_AGE:
        return Check("age", name, Outcome.REFER, f"the date of birth {dob.isoformat()} is not "
                     "plausible", confirm, as_of)  # fmt: skip
    if age >= minimum:
        return Check("age", name, Outcome.PASS, f"the subject is {age}, at least the minimum "
                     f"age of {minimum}", None, as_of)  # fmt: skip
    guardian = " (a guardian is recorded)" if has_guardian else ""
    outcome = Outcome(policy.minor_outcome)
    action = (
        "do not onboard a minor" if outcome is Outcome.FAIL
        else "confirm that the subject may be onboarded (guardian consent, local law)"
    )  # fmt: skip
    reason = f"the subject is {age}, under the minimum age of {minimum}{guardian}"
    return Check("age", name, outcome, reason, action, as_of)


def _freshness_check(verified_at: datetime | None, policy: VerdictPolicy, as_of: datetime) -> Check:
    name, limit = "Verification age", policy.max_verification_age_days
    if verified_at is None:
        return Check("verification_age", name, Outcome.NOT_RUN,
                     "the date of the identity verification is not recorded",
                     "ask the subject to verify again before relying", None)  # fmt: skip
    days = (as_of.date() - verified_at.date()).days
    if days < 0:
        return Check("verification_age", name, Outcome.REFER,
                     "the identity verification is dated after this report",
                     CONFIRM_DATE, verified_at)  # fmt: skip
    if days > limit:
        return Check("verification_age", name, Outcome.REFER,
                     f"the identity was verified {days} days ago, more than the {limit} allowed",
                     "ask the subject to refresh their verification in the SQR app",
                     verified_at)  # fmt: skip
    return Check("verification_age", name, Outcome.PASS,
                 f"the identity was verified {days} days ago, within the {limit} allowed", None,
                 verified_at)  # fmt: skip


def _summary(result: Outcome, drivers: Sequence[Check]) -> str:
    """'Refer: sanctions screening returned ERROR; re-screen before relying.'"""
    if result is Outcome.PASS:
        return "Pass: every required check passed; no action is needed."
    named = [f"{c.reason}; {c.action}." if c.action else f"{c.reason}." for c in drivers]
    more = len(named) - SENTENCE_DRIVERS
    # Reasons are written in lower case (but for names like PEP): the first follows the colon.
    text = " ".join([named[0], *(_capitalised(n) for n in named[1:SENTENCE_DRIVERS])])
    if more > 0:
        text += f" And {more} more: see the checks below."
    return f"{result.value.title()}: {text}"


def _flags(checks: Sequence[Check], subject: Subject) -> tuple[dict[str, str], ...]:
    """What page 1 must say beyond the tiles: a minor, a guardian, an old verification,
    checks that did not run and values the table did not recognise."""
    by_id = {c.id: c for c in checks}
    flags: list[dict[str, str]] = []
    age = by_id["age"]
    if age.result in (Outcome.REFER, Outcome.FAIL):  # NOT_RUN is among the missing checks
        flags.append(_flag("age", age.result, age.reason, age.action))
    user = subject.user
    if user.guardian_name or user.guardian_dob:
        who = decisions.quote(user.guardian_name) if user.guardian_name else "a guardian"
        born = f", born {user.guardian_dob.isoformat()}" if user.guardian_dob else ""
        flags.append(_flag("guardian", Outcome.REFER if age.result is not Outcome.PASS else None,
                           f"guardianship is recorded: {who}{born}", None))  # fmt: skip
    fresh = by_id["verification_age"]
    if fresh.result in (Outcome.REFER, Outcome.FAIL):
        flags.append(_flag("verification_age", fresh.result, fresh.reason, fresh.action))
    missing = [c.name for c in checks if c.result is Outcome.NOT_RUN and c.required]
    if missing:
        flags.append(_flag("missing_checks", Outcome.REFER,
                           "not performed: " + ", ".join(missing),
                           "complete the missing checks before relying"))  # fmt: skip
    for check in checks:
        for reason in check.unrecognised:
            flags.append(_flag("unrecognised", Outcome.REFER, reason, decisions.CONFIRM))
    return tuple(flags)


def _flag(kind: str, severity: Outcome | None, text: str, action: str | None) -> dict[str, str]:
    level = severity.value if severity else "INFO"
    flag = {"kind": kind, "severity": level, "text": _sentence(text)}
    if action:
        flag["action"] = _sentence(action)
    return flag


def _sentence(text: str) -> str:
    text = _capitalised(text)
    return text if text.endswith(".") else text + "."


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]
