"""What the report says: the checks and verdict, and data rendered as data."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from sqr_reports.orgs.models import Org
from sqr_reports.rendering.typst_renderer import TypstRenderer
from sqr_reports.reports import document
from sqr_reports.reports.models import ReportJob
from sqr_reports.users.service import Subject
from tests.support import ALL_CLEAR, DEFAULT_POLICY, GENERATED, make_subject

FIXTURES = Path(__file__).parent / "fixtures" / "report_data"


def _build(subject: Subject) -> dict[str, Any]:
    job = ReportJob(id="3fa85f64-5717-4562-b3fc-2c963f66afa6", template_version="v1")
    org = Org(id="org", name="Org Ltd")
    return document.build(job, org, subject, generated_at=GENERATED, policy=DEFAULT_POLICY)


def _results(data: dict[str, Any]) -> dict[str, str]:
    return {check["name"]: check["result"] for check in data["checks"]}


def test_everything_passing_is_a_pass() -> None:
    data = _build(make_subject(ALL_CLEAR))

    assert data["verdict"]["result"] == "PASS"
    assert set(_results(data).values()) == {"PASS"}


@pytest.mark.parametrize(
    ("monitoring", "fields", "check", "result", "verdict"),
    [
        ([("SANCTION", "HIT")], {}, "Sanctions", "FAIL", "FAIL"),
        ([("PEP", "HIT")], {}, "PEP", "REFER", "REFER"),
        ([("ADVERSE_MEDIA", "hit")], {}, "Adverse media", "REFER", "REFER"),
        ([], {"fmc_score": 41.5}, "Face match", "FAIL", "FAIL"),
        ([], {"fmc_score": 71.0}, "Face match", "REFER", "REFER"),
        ([], {"selfie_liveness_score": None}, "Selfie liveness", "NOT_RUN", "REFER"),
        ([], {"document_overall_validation": "FAILED"}, "Identity document", "FAIL", "FAIL"),
        ([], {"id3_match_status": "PARTIAL"}, "Database checks", "REFER", "REFER"),
    ],
)
def test_each_finding_sets_its_check_and_the_verdict(
    monitoring: list[tuple[str, str]], fields: dict[str, Any], check: str, result: str,
    verdict: str,
) -> None:  # fmt: skip
    kinds = {kind for kind, _ in monitoring}
    others = [spec for spec in ALL_CLEAR if spec[0] not in kinds]
    data = _build(make_subject([*monitoring, *others], **fields))

    assert _results(data)[check] == result
    assert data["verdict"]["result"] == verdict


def test_the_newest_monitoring_event_of_a_kind_is_current() -> None:
    subject = make_subject([("SANCTION", "CLEAR"), ("SANCTION", "HIT")])  # newest first

    data = _build(subject)

    assert data["screening"]["current"] == [
        {
            "kind": "SANCTION",
            "status": "CLEAR",
            "hit": False,
            "outcome": "PASS",
            "recorded_at": "2026-11-28T12:00:00.000Z",
            "since": "2026-11-28T12:00:00.000Z",
        }
    ]
    assert len(data["screening"]["history"]) == 2


def test_input_digest_covers_the_subject_data_only() -> None:
    one = _build(make_subject())
    other_time = document.build(
        ReportJob(id="another", template_version="v1"), Org(id="o", name="O"), make_subject(),
        generated_at=datetime(2030, 1, 1, tzinfo=UTC), policy=DEFAULT_POLICY,
    )  # fmt: skip
    changed = _build(make_subject(last_name="Byron"))

    assert one["meta"]["input_sha256"] == other_time["meta"]["input_sha256"]
    assert one["meta"]["input_sha256"] != changed["meta"]["input_sha256"]


def test_long_text_is_truncated_visibly_and_lone_surrogates_replaced() -> None:
    data = _build(make_subject(email="a" * 10_000 + "@example.com", first_name="bad\ud800name"))

    assert data["subject"]["email"].endswith("… [truncated]")
    assert len(data["subject"]["email"]) < 600
    assert data["subject"]["first_name"] == "bad\ufffdname"


async def _render(renderer: TypstRenderer, data: dict[str, Any]) -> tuple[bytes, str]:
    rendered = await renderer.render("v1", data, GENERATED)
    reader = PdfReader(io.BytesIO(rendered.pdf))
    text = " ".join(page.extract_text() for page in reader.pages)
    return rendered.pdf, text


async def test_typst_markup_in_data_renders_literally(renderer: TypstRenderer) -> None:
    hostile = _build(
        make_subject(
            first_name='#read("/etc/passwd")',
            last_name='#import "lib.typ": *',
            override_notes="] ) } $ \\ #let x = 1 [unbalanced",
        )
    )

    _, text = await _render(renderer, hostile)

    flat = text.replace("\u200b", "").replace("\u2068", "").replace("\u2069", "")
    assert '#read("/etc/passwd")' in flat
    assert '#import "lib.typ": *' in flat
    assert "root:x:0:0" not in text


async def test_hostile_fixture_renders(renderer: TypstRenderer) -> None:
    data = json.loads((FIXTURES / "hostile.json").read_text(encoding="utf-8"))

    pdf, _ = await _render(renderer, data)

    assert pdf.startswith(b"%PDF-")


async def test_same_input_and_version_give_identical_bytes(renderer: TypstRenderer) -> None:
    data = _build(make_subject([("PEP", "HIT")]))

    first, _ = await _render(renderer, data)
    second, _ = await _render(renderer, data)

    assert first == second


@pytest.mark.parametrize(
    ("first", "middle", "last", "full"),
    [
        ("Ada", None, "Lovelace", "Ada Lovelace"),
        ("Amelia", "Jane", "Clarke", "Amelia Jane Clarke"),
        ("小明", None, "王", "王小明"),
        ("Анастасия", "Ελένη", "Смирнова", "Анастасия Ελένη Смирнова"),
        (None, None, None, None),
    ],
)
def test_full_name_follows_the_scripts_own_order(
    first: str | None, middle: str | None, last: str | None, full: str | None
) -> None:
    data = _build(make_subject(first_name=first, middle_name=middle, last_name=last))

    assert data["subject"]["full_name"] == full


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_hand_written_fixtures_carry_the_digest_of_their_data(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))

    body = {key: data.get(key) for key in document.DIGEST_KEYS}

    assert data["meta"]["input_sha256"] == document.input_digest(body), (
        "run scripts/fixture_digests.py after editing a fixture"
    )


def test_characters_no_font_has_are_listed_for_the_integrity_block() -> None:
    data = _build(make_subject(first_name="Zoë 😀", last_name="\ue000 한국 \u200d"))

    assert data["meta"]["undisplayable"] == ["U+1F600", "U+E000"]
