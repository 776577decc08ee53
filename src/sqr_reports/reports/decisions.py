"""The decision table: what each recorded result word means for its check.

One table per check, each row a set of words and the outcome they lead to, with the reason and
the next action the report prints. The rule that matters most is the last one of every table:
**a value that is not positively recognised is never PASS** (it is REFER, and the report names
the value). `docs/verdict.md` is generated from these tables (`python -m
sqr_reports.reports.decision_doc`), and a test keeps the two equal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    PASS = "PASS"  # noqa: S105 (a result word, not a password)
    REFER = "REFER"
    FAIL = "FAIL"
    NOT_RUN = "NOT_RUN"


#: How bad an outcome is, for "the worst of" several results.
SEVERITY = {Outcome.PASS: 0, Outcome.NOT_RUN: 1, Outcome.REFER: 2, Outcome.FAIL: 3}
_SURROGATES = re.compile("[\ud800-\udfff]")
#: Longest piece of a recorded value that a reason quotes.
QUOTE_MAX = 40

# Words as they are compared: upper case, spaces and hyphens as underscores (`normalise`).
CLEAR = frozenset({"CLEAR", "CLEARED", "NO_HIT", "NO_HITS", "NO_MATCH", "NO_MATCH_FOUND",
                   "NOT_LISTED", "NEGATIVE", "PASS", "PASSED"})  # fmt: skip
HIT = frozenset({"HIT", "MATCH", "MATCHED", "MATCH_FOUND", "TRUE_MATCH", "POSITIVE", "CONFIRMED",
                 "CONFIRMED_MATCH", "LISTED", "FAIL", "FAILED"})  # fmt: skip
POSSIBLE = frozenset({"POSSIBLE_MATCH", "POTENTIAL_MATCH", "PARTIAL_MATCH", "PARTIAL",
                      "REVIEW", "MANUAL_REVIEW", "PENDING_REVIEW", "REFER", "REFERRED",
                      "INCONCLUSIVE"})  # fmt: skip
UNFINISHED = frozenset({"PENDING", "IN_PROGRESS", "PROCESSING", "QUEUED", "AWAITING_RESULT"})
ERRORED = frozenset({"ERROR", "ERRORED", "TIMEOUT", "TIMED_OUT", "UNAVAILABLE", "UNKNOWN"})
NOT_PERFORMED = frozenset({"NOT_RUN", "NOT_PERFORMED", "NOT_CHECKED", "SKIPPED",
                           "NOT_APPLICABLE"})  # fmt: skip
UNSETTLED = POSSIBLE | UNFINISHED | ERRORED

CONFIRM = "confirm the result with SQR before relying"
ESCALATE = "do not onboard, and escalate to your compliance officer"
DUE_DILIGENCE = "apply enhanced due diligence before relying"


@dataclass(frozen=True, slots=True)
class Row:
    """Words that lead to one outcome. `reason` may use {subject} and {value}."""

    words: frozenset[str]
    outcome: Outcome
    reason: str
    action: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    reason: str
    action: str | None
    #: Whether the value was one the table knows (an unrecognised one is named in the report).
    recognised: bool


@dataclass(frozen=True, slots=True)
class Table:
    """The decision table of one check: its rows, then what a missing value and an
    unrecognised value mean. Both of those are never PASS."""

    check: str
    fields: tuple[str, ...]
    subject: str
    rows: tuple[Row, ...]
    missing: Row
    unrecognised: Row
    #: A required check that did not run refers the verdict; an optional one does not.
    required: bool = True

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for row in self.rows:
            if seen & row.words:
                raise ValueError(f"{self.check}: {sorted(seen & row.words)} in two rows")
            seen |= row.words
        if Outcome.PASS in (self.missing.outcome, self.unrecognised.outcome):
            raise ValueError(f"{self.check}: a missing or unrecognised value must never pass")

    def decide(self, value: str | None) -> Decision:
        word = normalise(value)
        if word is None:
            return self._decision(self.missing, "", recognised=True)
        for row in self.rows:
            if word in row.words:
                return self._decision(row, word, recognised=True)
        return self._decision(self.unrecognised, quote(value or ""), recognised=False)

    def _decision(self, row: Row, value: str, *, recognised: bool) -> Decision:
        reason = row.reason.format(subject=self.subject, value=value)
        return Decision(row.outcome, reason, row.action, recognised)


def normalise(value: str | None) -> str | None:
    """'possible match' and 'Possible-Match' are POSSIBLE_MATCH; blank is no value."""
    if value is None:
        return None
    word = "_".join(value.strip().upper().replace("-", " ").split())
    return word or None


def without_surrogates(value: str) -> str:
    """Lone UTF-16 surrogates (valid in JSON, invalid in UTF-8) replaced with U+FFFD."""
    return _SURROGATES.sub("\ufffd", value)


def quote(value: str) -> str:
    """A recorded value as a reason quotes it: in quotes, cut short, and with lone UTF-16
    surrogates (valid in JSON, not in UTF-8: they would abort the render) replaced."""
    value = " ".join(without_surrogates(value).split())
    cut = value if len(value) <= QUOTE_MAX else value[: QUOTE_MAX - 1] + "…"
    return f"“{cut}”"


def worst(outcomes: Iterable[Outcome]) -> Outcome:
    return max(outcomes, key=SEVERITY.__getitem__, default=Outcome.PASS)


def _screening(check: str, subject: str, field: str, *, hit: Row) -> Table:
    return Table(
        check=check,
        fields=(field,),
        subject=subject,
        rows=(
            Row(CLEAR, Outcome.PASS, "{subject} is clear"),
            hit,
            Row(POSSIBLE, Outcome.REFER, "{subject} returned {value}, a possible match",
                "resolve the possible match before relying"),
            Row(UNFINISHED, Outcome.REFER, "{subject} is still {value}",
                "wait for the result and request a new report"),
            Row(ERRORED, Outcome.REFER, "{subject} returned {value}", "re-screen before relying"),
            Row(NOT_PERFORMED, Outcome.NOT_RUN, "{subject} was not performed ({value})",
                "screen the subject before relying"),
        ),
        missing=Row(frozenset(), Outcome.NOT_RUN, "no {subject} is recorded",
                    "screen the subject before relying"),
        unrecognised=Row(frozenset(), Outcome.REFER,
                         "{subject} returned an unrecognised result {value}", CONFIRM),
    )  # fmt: skip


def _result(
    check: str, fields: tuple[str, ...], subject: str, passing: Iterable[str],
    failing: Iterable[str], *, fail_action: str, refer_action: str, required: bool = True,
) -> Table:  # fmt: skip
    passing, failing = frozenset(passing), frozenset(failing)
    return Table(
        check=check,
        fields=fields,
        subject=subject,
        rows=(
            Row(passing, Outcome.PASS, "{subject}: {value}"),
            Row(failing, Outcome.FAIL, "{subject} returned {value}", fail_action),
            Row(UNSETTLED - passing - failing, Outcome.REFER, "{subject} returned {value}",
                refer_action),
            Row(NOT_PERFORMED, Outcome.NOT_RUN, "{subject} was not performed ({value})",
                "complete the verification before relying"),
        ),
        missing=Row(frozenset(), Outcome.NOT_RUN, "no {subject} is recorded",
                    "complete the verification before relying"),
        unrecognised=Row(frozenset(), Outcome.REFER,
                         "{subject} returned an unrecognised result {value}", CONFIRM),
        required=required,
    )  # fmt: skip


SANCTIONS = _screening(
    "sanctions", "sanctions screening", "monitoring: SANCTION",
    hit=Row(HIT, Outcome.FAIL, "{subject} returned {value}, a sanctions list match",
            ESCALATE),
)  # fmt: skip
PEP = _screening(
    "pep", "PEP screening", "monitoring: PEP",
    hit=Row(HIT, Outcome.REFER, "{subject} returned {value}, a politically exposed person",
            DUE_DILIGENCE),
)  # fmt: skip
ADVERSE_MEDIA = _screening(
    "adverse_media", "adverse-media screening", "monitoring: ADVERSE_MEDIA",
    hit=Row(HIT, Outcome.REFER, "{subject} returned {value}, adverse media found",
            "review the media findings before relying"),
)  # fmt: skip

SANCTION_HIT = frozenset({"SANCTION_HIT", "SANCTION_MATCH", "SANCTIONS_HIT", "SANCTIONS_MATCH"})
PEP_HIT = frozenset({"PEP_HIT", "PEP_MATCH"})
ONBOARDING_SCREENING = Table(
    check="id3_screening",
    fields=("id3_pep_sanction_result",),
    subject="PEP & sanctions screening at onboarding",
    rows=(
        *SANCTIONS.rows[:1],
        Row(SANCTION_HIT, Outcome.FAIL, "{subject} returned {value}",
            ESCALATE),
        Row(PEP_HIT, Outcome.REFER, "{subject} returned {value}",
            DUE_DILIGENCE),
        Row(HIT, Outcome.REFER, "{subject} returned {value}",
            "find out which list matched (a sanctions match fails) before relying"),
        *SANCTIONS.rows[2:],
    ),
    missing=SANCTIONS.missing,
    unrecognised=SANCTIONS.unrecognised,
    required=False,  # ongoing monitoring (the three checks above) is what must be present
)  # fmt: skip

DOCUMENT = _result(
    "document", ("document_overall_validation",), "document validation",
    {"PASS", "PASSED", "VALID", "VALIDATED", "VERIFIED", "APPROVED", "AUTHENTIC", "GENUINE"},
    {"FAIL", "FAILED", "INVALID", "REJECTED", "DECLINED", "EXPIRED", "FRAUD", "FRAUDULENT",
     "FORGED", "TAMPERED", "NOT_GENUINE"},
    fail_action="do not rely on this identity, and ask the subject to verify again",
    refer_action="review the document result before relying",
)  # fmt: skip
DATABASE = _result(
    "database", ("id3_match_status",), "database match",
    {"MATCH", "MATCHED", "FULL_MATCH", "PASS", "PASSED", "VERIFIED"},
    {"NO_MATCH", "NOMATCH", "NOT_MATCHED", "MISMATCH", "FAIL", "FAILED"},
    fail_action="do not rely on this identity, and verify it by other means",
    refer_action="verify name, date of birth and address by other means before relying",
)  # fmt: skip
OVERALL = _result(
    "overall", ("high_level_result", "gbg_high_level_result"), "SQR's overall result",
    {"PASS", "PASSED", "APPROVED", "ACCEPT", "ACCEPTED", "VERIFIED", "CLEAR"},
    {"FAIL", "FAILED", "REJECT", "REJECTED", "DECLINED"},
    fail_action="do not rely on this identity",
    refer_action="review the verification with SQR before relying",
    required=False,
)  # fmt: skip
REGISTRATION = Table(
    check="registration",
    fields=("registration_status",),
    subject="the SQR account",
    rows=(
        Row(frozenset({"ACTIVE"}), Outcome.PASS, "{subject} is active"),
        Row(frozenset({"PENDING"}), Outcome.REFER, "{subject} is still pending",
            "wait until the subject completes registration"),
        Row(frozenset({"INACTIVE"}), Outcome.REFER, "{subject} is inactive",
            "ask the subject to reactivate their SQR account"),
        Row(frozenset({"SUSPENDED"}), Outcome.FAIL, "{subject} is suspended",
            "do not rely on this identity, and ask SQR why the account is suspended"),
    ),
    missing=Row(frozenset(), Outcome.NOT_RUN, "no registration status is recorded", CONFIRM),
    unrecognised=Row(frozenset(), Outcome.REFER,
                     "{subject} has an unrecognised status {value}", CONFIRM),
    required=False,
)  # fmt: skip

#: The table of each kind of ongoing-monitoring result.
MONITORING = {"SANCTION": SANCTIONS, "PEP": PEP, "ADVERSE_MEDIA": ADVERSE_MEDIA}
#: Every word table, in the order the report lists their checks.
TABLES = (DOCUMENT, DATABASE, SANCTIONS, PEP, ADVERSE_MEDIA, ONBOARDING_SCREENING, OVERALL,
          REGISTRATION)  # fmt: skip
