"""The verdict is fail-safe: nothing that is not positively clear can make a report PASS.

The property tests judge arbitrary subjects (any strings, scores, dates and monitoring
histories, under any valid policy) and compare the verdict with an oracle written from the
rule itself: PASS exactly when every check's input is one its table lists under PASS.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqr_reports.config import VerdictPolicy
from sqr_reports.reports import decision_doc, decisions, verdict
from sqr_reports.reports.decisions import Outcome, Row, Table
from sqr_reports.users.models import MONITORING_KINDS
from sqr_reports.users.service import Subject
from tests.support import ALL_CLEAR, GENERATED, MonitoringSpec, make_subject

ROOT = Path(__file__).parent.parent
_WORDS = sorted({word for table in decisions.TABLES for row in table.rows for word in row.words})


def _judge(
    subject: Subject, policy: VerdictPolicy | None = None, at: datetime = GENERATED
) -> verdict.Judgement:
    latest: dict[str, Any] = {}
    for event in subject.monitoring:  # newest first, as the repository returns them
        latest.setdefault(event.kind, event)
    current = [latest[kind] for kind in MONITORING_KINDS if kind in latest]
    return verdict.judge(subject, current, policy or VerdictPolicy(), at)


def _results(judgement: verdict.Judgement) -> dict[str, Outcome]:
    return {check.id: check.result for check in judgement.checks}


def _clear_but(kind: str, status: str) -> list[MonitoringSpec]:
    return [(spec[0], status if spec[0] == kind else spec[1]) for spec in ALL_CLEAR]


# -- the cases a compliance reviewer found ------------------------------------------------------


@pytest.mark.parametrize(
    ("monitoring", "fields", "verdict_result", "sentence"),
    [
        (_clear_but("SANCTION", "ERROR"), {}, "REFER",
         "Refer: sanctions screening returned ERROR; re-screen before relying."),
        (_clear_but("PEP", "POSSIBLE_MATCH"), {}, "REFER",
         "Refer: PEP screening returned POSSIBLE_MATCH, a possible match; resolve the possible "
         "match before relying."),
        (_clear_but("ADVERSE_MEDIA", "pending"), {}, "REFER",
         "Refer: adverse-media screening is still PENDING; wait for the result and request a "
         "new report."),
        (_clear_but("SANCTION", "HIT"), {}, "FAIL",
         "Fail: sanctions screening returned HIT, a sanctions list match; do not onboard, and "
         "escalate to your compliance officer."),
        (ALL_CLEAR, {"dob": date(2009, 5, 14)}, "REFER",
         "Refer: the subject is 17, under the minimum age of 18; confirm that the subject may "
         "be onboarded (guardian consent, local law)."),
        (ALL_CLEAR, {"created_at": GENERATED - timedelta(days=900)}, "REFER",
         "Refer: the identity was verified 900 days ago, more than the 730 allowed; ask the "
         "subject to refresh their verification in the SQR app."),
        (ALL_CLEAR, {"document_overall_validation": "Looks fine"}, "REFER",
         "Refer: document validation returned an unrecognised result “Looks fine”; confirm the "
         "result with SQR before relying."),
    ],
)  # fmt: skip
def test_the_verdict_sentence_names_the_check_and_the_next_action(
    monitoring: list[MonitoringSpec], fields: dict[str, Any], verdict_result: str, sentence: str
) -> None:
    judgement = _judge(make_subject(monitoring, **fields))

    assert judgement.result == verdict_result
    assert judgement.summary == sentence


def test_a_pass_says_so_and_has_no_drivers() -> None:
    judgement = _judge(make_subject(ALL_CLEAR))

    assert judgement.result is Outcome.PASS
    assert judgement.drivers() == []
    assert judgement.flags == ()


def test_sanctions_and_pep_are_separate_checks() -> None:
    results = _results(_judge(make_subject(_clear_but("SANCTION", "HIT"))))

    assert (results["sanctions"], results["pep"]) == (Outcome.FAIL, Outcome.PASS)


def test_a_minor_is_flagged_with_the_guardian_and_fails_where_the_org_says_so() -> None:
    subject = make_subject(ALL_CLEAR, dob=date(2009, 5, 14), guardian_name="Karim Haddad")
    strict = VerdictPolicy(minor_outcome="FAIL")

    default = _judge(subject)
    failing = _judge(subject, strict)

    assert default.result is Outcome.REFER
    assert [f["kind"] for f in default.flags] == ["age", "guardian"]
    assert "17" in default.flags[0]["text"]
    assert "Karim Haddad" in default.flags[1]["text"]
    assert failing.result is Outcome.FAIL
    assert _results(failing)["age"] is Outcome.FAIL


def test_a_birthday_counts_on_the_day() -> None:
    turns_18 = make_subject(ALL_CLEAR, dob=date(2008, 11, 28))
    turns_18_tomorrow = make_subject(ALL_CLEAR, dob=date(2008, 11, 29))

    assert _results(_judge(turns_18))["age"] is Outcome.PASS
    assert _results(_judge(turns_18_tomorrow))["age"] is Outcome.REFER


def test_policy_thresholds_decide_scores() -> None:
    subject = make_subject(ALL_CLEAR, selfie_liveness_score=85.0, fmc_score=70.0)
    strict = VerdictPolicy(liveness_threshold=90, face_match_threshold=95, refer_floor=75)

    default, judged = _results(_judge(subject)), _results(_judge(subject, strict))

    assert (default["liveness"], default["face_match"]) == (Outcome.PASS, Outcome.REFER)
    assert (judged["liveness"], judged["face_match"]) == (Outcome.REFER, Outcome.FAIL)


def test_missing_required_checks_are_flagged_on_page_one() -> None:
    subject = make_subject(ALL_CLEAR[:1], fmc_score=None)

    judgement = _judge(subject)

    assert judgement.result is Outcome.REFER
    missing = next(f for f in judgement.flags if f["kind"] == "missing_checks")
    assert missing["text"] == "Not performed: Face match, Sanctions, Adverse media."


def test_every_check_says_when_it_was_performed() -> None:
    subject = make_subject(ALL_CLEAR)

    checks = {c.id: c.performed_at for c in _judge(subject).checks}

    assert checks["document"] == subject.user.created_at
    assert checks["sanctions"] == subject.monitoring[1].recorded_at
    assert checks["age"] == GENERATED


def test_an_unrecognised_value_is_named_and_quoted_short() -> None:
    subject = make_subject(ALL_CLEAR, id3_match_status="x" * 300)

    judgement = _judge(subject)

    flag = next(f for f in judgement.flags if f["kind"] == "unrecognised")
    assert "“" + "x" * 39 + "…”" in flag["text"]
    assert judgement.result is Outcome.REFER


# -- the table itself ------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["ERROR", "POSSIBLE_MATCH", "PENDING", "UNKNOWN", "HIT",
                                  "MATCH_FOUND", "POTENTIAL_MATCH", "NOT_RUN"])  # fmt: skip
@pytest.mark.parametrize("table", decisions.MONITORING.values(), ids=lambda t: t.check)
def test_screening_words_that_are_not_clear_never_pass(table: Table, word: str) -> None:
    assert table.decide(word).outcome is not Outcome.PASS


def test_a_table_that_would_pass_a_missing_value_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="never pass"):
        Table("t", ("f",), "t", (), Row(frozenset(), Outcome.PASS, "x"),
              Row(frozenset(), Outcome.REFER, "x"))  # fmt: skip


def test_a_word_in_two_rows_cannot_be_built() -> None:
    twice = frozenset({"CLEAR"})
    rows = (Row(twice, Outcome.PASS, "x"), Row(twice, Outcome.FAIL, "x"))
    with pytest.raises(ValueError, match="two rows"):
        Table("t", ("f",), "t", rows, Row(frozenset(), Outcome.NOT_RUN, "x"),
              Row(frozenset(), Outcome.REFER, "x"))  # fmt: skip


def test_the_published_decision_table_is_the_one_in_code() -> None:
    published = (ROOT / "docs" / "verdict.md").read_text(encoding="utf-8")

    assert published == decision_doc.render(), "run `make docs` to regenerate docs/verdict.md"


# -- properties --------------------------------------------------------------------------------


def _variants(word: str) -> st.SearchStrategy[str]:
    """How a known word may arrive: any case, spaces or hyphens, padding."""
    forms = [
        word,
        word.lower(),
        word.replace("_", " "),
        f"  {word.title()} ",
        word.replace("_", "-"),
    ]
    return st.sampled_from(forms)


_WORD = st.one_of(
    st.none(),
    st.just(""),
    st.sampled_from(_WORDS).flatmap(_variants),
    st.text(max_size=30),
)
_SCORE = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.floats(0, 100))
_DATE = st.one_of(st.none(), st.dates(date(1880, 1, 1), date(2035, 1, 1)))
_WHEN = st.one_of(
    st.none(),
    st.integers(-400, 4000).map(lambda days: GENERATED - timedelta(days=days, hours=3)),
)
_POLICY = st.builds(
    VerdictPolicy,
    liveness_threshold=st.floats(50, 100),
    face_match_threshold=st.floats(50, 100),
    refer_floor=st.floats(0, 50),
    max_verification_age_days=st.integers(1, 3000),
    minimum_age=st.integers(0, 25),
    minor_outcome=st.sampled_from(["REFER", "FAIL"]),
)
_HISTORY = st.lists(
    st.tuples(st.sampled_from(MONITORING_KINDS), _WORD.map(lambda w: w if w is not None else "")),
    max_size=6,
)
_FIELDS = st.fixed_dictionaries(
    {
        "document_overall_validation": _WORD,
        "id3_match_status": _WORD,
        "id3_pep_sanction_result": _WORD,
        "high_level_result": _WORD,
        "gbg_high_level_result": _WORD,
        "registration_status": _WORD,
        "selfie_liveness_score": _SCORE,
        "fmc_score": _SCORE,
        "dob": _DATE,
        "created_at": _WHEN,
    }
)


def _passing_words(table: Table) -> frozenset[str]:
    return frozenset(w for row in table.rows if row.outcome is Outcome.PASS for w in row.words)


def _clear(table: Table, value: str | None, *, required: bool) -> bool:
    word = decisions.normalise(value)
    return (word is None and not required) or word in _passing_words(table)


def _oracle_passes(
    fields: dict[str, Any], history: list[tuple[str, str]], p: VerdictPolicy
) -> bool:
    """Everything positively clear, written from the rule rather than from the judge."""
    current: dict[str, str] = {}
    for kind, status in history:  # newest first
        current.setdefault(kind, status)
    age = verdict.age_on(fields["dob"], GENERATED.date()) if fields["dob"] else None
    verified = fields["created_at"]
    return all((
        _clear(decisions.DOCUMENT, fields["document_overall_validation"], required=True),
        _clear(decisions.DATABASE, fields["id3_match_status"], required=True),
        _clear(decisions.ONBOARDING_SCREENING, fields["id3_pep_sanction_result"], required=False),
        _clear(decisions.OVERALL, fields["high_level_result"], required=False),
        _clear(decisions.OVERALL, fields["gbg_high_level_result"], required=False),
        _clear(decisions.REGISTRATION, fields["registration_status"], required=False),
        *(kind in current and _clear(decisions.MONITORING[kind], current[kind], required=True)
          for kind in MONITORING_KINDS),
        _score_passes(fields["selfie_liveness_score"], p.liveness_threshold),
        _score_passes(fields["fmc_score"], p.face_match_threshold),
        age is not None and p.minimum_age <= age <= verdict.OLDEST_PLAUSIBLE_AGE,
        verified is not None
        and 0 <= (GENERATED.date() - verified.date()).days <= p.max_verification_age_days,
    ))  # fmt: skip


def _score_passes(score: float | None, threshold: float) -> bool:
    return score is not None and score == score and abs(score) != float("inf") and (
        score >= threshold
    )  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=_FIELDS, history=_HISTORY, policy=_POLICY)
def test_pass_exactly_when_every_input_is_positively_clear(
    fields: dict[str, Any], history: list[tuple[str, str]], policy: VerdictPolicy
) -> None:
    judgement = _judge(make_subject(history, **fields), policy)

    assert (judgement.result is Outcome.PASS) == _oracle_passes(fields, history, policy)


_WORD_FIELDS = sorted({field for table in decisions.TABLES for field in table.fields
                       if not field.startswith("monitoring")})  # fmt: skip
_KNOWN = frozenset(_WORDS)


@settings(max_examples=300, deadline=None)
@given(
    fields=_FIELDS, history=_HISTORY, policy=_POLICY, target=st.sampled_from(_WORD_FIELDS),
    junk=st.text(min_size=1, max_size=40).filter(
        lambda s: decisions.normalise(s) is not None and decisions.normalise(s) not in _KNOWN
    ),
)  # fmt: skip
def test_an_unrecognised_word_anywhere_is_never_pass_and_is_named(
    fields: dict[str, Any], history: list[tuple[str, str]], policy: VerdictPolicy, target: str,
    junk: str,
) -> None:  # fmt: skip
    judgement = _judge(make_subject(history, **(fields | {target: junk})), policy)

    assert judgement.result is not Outcome.PASS
    assert any(f["kind"] == "unrecognised" and decisions.quote(junk) in f["text"]
               for f in judgement.flags)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(fields=_FIELDS, history=_HISTORY, policy=_POLICY, hit=st.sampled_from(sorted(decisions.HIT)))
def test_a_current_sanctions_hit_always_fails(
    fields: dict[str, Any], history: list[tuple[str, str]], policy: VerdictPolicy, hit: str
) -> None:
    newest_first = [("SANCTION", hit), *history]

    judgement = _judge(make_subject(newest_first, **fields), policy)

    assert judgement.result is Outcome.FAIL
    assert "sanctions" in judgement.summary


@settings(max_examples=200, deadline=None)
@given(policy=_POLICY, at=st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1)))
def test_the_summary_always_names_every_driver_up_to_three(
    policy: VerdictPolicy, at: datetime
) -> None:
    subject = make_subject(_clear_but("PEP", "ERROR"), fmc_score=None, dob=None)

    judgement = _judge(subject, policy, at.replace(tzinfo=UTC))

    drivers = judgement.drivers()
    assert judgement.result is not Outcome.PASS
    for check in drivers[: verdict.SENTENCE_DRIVERS]:
        assert check.reason[1:] in judgement.summary  # the first letter may be capitalised


def test_a_check_that_did_not_run_is_flagged_once_as_missing() -> None:
    judgement = _judge(make_subject(ALL_CLEAR, dob=None))

    assert [f["kind"] for f in judgement.flags] == ["missing_checks"]
    assert judgement.flags[0]["text"] == "Not performed: Age."


def test_a_quoted_value_never_carries_a_lone_surrogate_into_the_render() -> None:
    judgement = _judge(make_subject(ALL_CLEAR, id3_match_status="bad\ud800value"))

    flag = next(f for f in judgement.flags if f["kind"] == "unrecognised")
    assert "“bad\ufffdvalue”" in flag["text"]
    flag["text"].encode("utf-8")  # raises on a surrogate
