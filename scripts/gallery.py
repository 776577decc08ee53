"""Regenerate docs/gallery: PNG previews of the report for every demo user outcome.

The report is what users receive, so it is looked at, not guessed: this seeds the demo data
into a throwaway SQLite database with the project's own services, builds each subject's report
data as the worker does, renders it with the real render pool, and rasterises every page.
Demo users whose job fails (withdrawn consent) get no report, and the README says so. A
fixture shows what the demo users do not: hostile input.

    .venv/bin/python scripts/gallery.py [--version v2] [--dpi 70]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pypdfium2  # type: ignore[import-untyped]
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sqr_reports import demo
from sqr_reports.auth.credentials import SecretHasher
from sqr_reports.config import VerdictPolicy
from sqr_reports.db.clock import ProcessClock
from sqr_reports.db.engine import create_engine
from sqr_reports.db.migrate import upgrade
from sqr_reports.orgs import repository as orgs
from sqr_reports.policies.service import DEFAULT_VERSION, AppliedPolicy
from sqr_reports.rendering.typst_renderer import TypstRenderer
from sqr_reports.reports import document
from sqr_reports.reports.models import ReportJob
from sqr_reports.users.schemas import UserRecord
from sqr_reports.users.service import UserNotConnected, UserNotFound, load_subject, upsert_user

ROOT = Path(__file__).resolve().parent.parent
GALLERY = ROOT / "docs" / "gallery"
FIXTURES = ROOT / "tests" / "fixtures" / "report_data"
#: A fixed "now": the same demo data gives the same previews on every run.
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
EXTRA_FIXTURES = {
    "hostile": "Hostile input (fixture): markup, bidi overrides, emoji and 500-character fields",
}
DEFAULT_POLICY = AppliedPolicy(DEFAULT_VERSION, VerdictPolicy())
#: A demo subject judged under a strict org policy instead of the deployment default.
STRICT = (
    demo.USERS[0][1]["id"],
    "Strict org policy: the clean-pass subject under thresholds of 95, verifications at most "
    "365 days old and a minimum age of 21",
    AppliedPolicy(3, VerdictPolicy(liveness_threshold=95, face_match_threshold=95,
                                   refer_floor=60, max_verification_age_days=365,
                                   minimum_age=21, minor_outcome="FAIL")),
)  # fmt: skip


def _every_script() -> dict[str, Any]:
    """The names and addresses of the every-script fixture, as an SQR user record."""
    fixture = json.loads((FIXTURES / "every_script.json").read_text("utf-8"))["subject"]
    names = {key: fixture[key] for key in ("first_name", "middle_name", "last_name")}
    address = {key: fixture["address"][key][:limit] for key, limit in
               (("full_address", 500), ("address1", 200), ("address2", 200), ("city", 100),
                ("state", 100))}  # fmt: skip
    return {"id": "USSCRIPTS0000001", **names, **address, "postcode": "10110", "country": "ZZ"}


def _longest() -> dict[str, Any]:
    """Every field at the longest the import allows, and a long monitoring history."""
    history = [{"kind": ("PEP", "SANCTION", "ADVERSE_MEDIA")[i % 3],
                "status": ("CLEAR", "POTENTIAL_MATCH", "CLEAR")[i % 3],
                "recorded_at": f"2026-{1 + i % 10:02d}-{1 + i:02d}T06:00:00Z",
                "detail": "Reviewed by the screening provider. " * 20}
               for i in range(27)]  # fmt: skip
    return {
        "id": "USLONGEST0000001", "first_name": "Maximiliana-Wilhelmina " * 8 + "Anne",
        "middle_name": "Bartholomew-Alexander " * 9, "last_name": "Featherstonehaugh-" * 11,
        "email": ("a" * 64) + "@" + ("very-long-subdomain." * 12) + "example.com",
        "full_address": ("Apartment 1234, The Very Long Building Name, " * 11)[:500],
        "override_status": "MANUALLY_APPROVED_AFTER_REVIEW", "override_notes": "Note. " * 800,
        "monitoring": sorted(history, key=lambda e: e["recorded_at"], reverse=True),
    }  # fmt: skip


#: Subjects only the gallery shows (the demo users cover the everyday outcomes).
GALLERY_USERS: list[tuple[str, dict[str, Any]]] = [
    ("Every script: names and addresses in every script on identity documents", _every_script()),
    ("Unknown and unsettled states: a document word no table knows, a possible PEP match, "
     "adverse media pending, no sanctions screening", {
        "id": "USUNKNOWN0000001", "first_name": "Ines", "last_name": "Duarte",
        "document_overall_validation": "LOOKS_OK", "id3_pep_sanction_result": None,
        "monitoring": [
            {"kind": "PEP", "status": "Possible match", "recorded_at": "2026-11-01T06:00:00Z"},
            {"kind": "ADVERSE_MEDIA", "status": "pending", "recorded_at": "2026-11-01T06:00:00Z"},
        ],
    }),
    ("Longest fields: every field at its maximum length, 27 monitoring events", _longest()),
]  # fmt: skip


async def _seed_gallery_users(session: AsyncSession) -> list[demo.DemoUser]:
    base = dict(demo.USERS[0][1])
    users = []
    for outcome, fields in GALLERY_USERS:
        record = UserRecord.model_validate(base | {"middle_name": None, **fields})
        await upsert_user(session, ProcessClock(FixedClock()), record)
        users.append(demo.DemoUser(record.id, "", outcome))
    return users


class FixedClock:
    def now(self) -> datetime:
        return NOW


@dataclass(frozen=True)
class Entry:
    slug: str
    outcome: str
    pages: int  # 0: no report is produced for this outcome
    note: str = ""


def slug(outcome: str) -> str:
    """'Clean pass: every check passes' -> 'clean-pass'."""
    head = re.sub(r"\(.*?\)", "", outcome.split(":")[0])
    return re.sub(r"[^a-z0-9]+", "-", head.lower()).strip("-")


async def demo_reports(version: str) -> list[tuple[str, str, dict[str, Any] | None, str]]:
    """(slug, outcome, report data or None, note) for every demo user, via the real services."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite+aiosqlite:///{Path(tmp) / 'gallery.db'}")
        await upgrade(engine)
        sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
        hasher = SecretHasher(time_cost=1, memory_kib=1024, parallelism=1)
        try:
            async with sessions.begin() as session:
                credentials = await demo.seed(session, hasher, ProcessClock(FixedClock()))
                extra = await _seed_gallery_users(session)
            async with sessions() as session:
                org = await orgs.get(session, credentials.org_id)
                assert org is not None
                reports = [
                    await _one(session, org, user, version, DEFAULT_POLICY)
                    for user in [*credentials.users, *extra]
                ]
                user_id, outcome, policy = STRICT
                strict = demo.DemoUser(user_id, "", outcome)
                return [*reports, await _one(session, org, strict, version, policy)]
        finally:
            await engine.dispose()


async def _one(
    session: AsyncSession, org: Any, user: demo.DemoUser, version: str, policy: AppliedPolicy
) -> tuple[str, str, dict[str, Any] | None, str]:
    try:
        subject = await load_subject(session, user.id, org.id)
    except (UserNotConnected, UserNotFound) as exc:
        code = "USER_NOT_CONNECTED" if isinstance(exc, UserNotConnected) else "USER_NOT_FOUND"
        return slug(user.outcome), user.outcome, None, f"No report: the job fails with {code}."
    job = ReportJob(id=str(uuid.uuid5(uuid.NAMESPACE_URL, user.id)), template_version=version)
    data = document.build(job, org, subject, generated_at=NOW, policy=policy)
    return slug(user.outcome), user.outcome, data, ""


def fixture_reports(version: str) -> list[tuple[str, str, dict[str, Any] | None, str]]:
    reports = []
    for name, outcome in EXTRA_FIXTURES.items():
        data = json.loads((FIXTURES / f"{name.replace('-', '_')}.json").read_text("utf-8"))
        data["meta"]["template_version"] = version
        reports.append((name, outcome, data, ""))
    return reports


def save_pages(pdf: bytes, stem: str, dpi: int) -> int:
    """Rasterise every page to `<stem>-page-<n>.png` (palette PNGs keep the gallery small)."""
    document_ = pypdfium2.PdfDocument(pdf)
    try:
        for number, page in enumerate(document_, start=1):
            image = page.render(scale=dpi / 72).to_pil().convert("RGB")
            small = image.quantize(colors=128, method=Image.Quantize.MEDIANCUT)
            buffer = io.BytesIO()
            small.save(buffer, format="PNG", optimize=True)
            (GALLERY / f"{stem}-page-{number}.png").write_bytes(buffer.getvalue())
        return len(document_)
    finally:
        document_.close()


def readme(entries: list[Entry], version: str, dpi: int) -> str:
    lines = [
        "# Report gallery",
        "",
        f"Every page of the identity report (template `{version}`) for each demo user outcome,",
        "for subjects only the gallery has (every script, unknown states, the longest fields), for",
        "a strict org policy and for hostile input, rasterised at "
        f"{dpi} dpi. Regenerate with `make gallery`;",
        "the data and the report time are fixed, so a change here is a change in the report.",
        "",
    ]
    for entry in entries:
        lines.append(f"## {entry.outcome}")
        lines.append("")
        if entry.pages == 0:
            lines.append(entry.note)
        else:
            pages = (f"{entry.slug}-page-{n}.png" for n in range(1, entry.pages + 1))
            lines.append(" ".join(f"[![{page}]({page})]({page})" for page in pages))
        lines.append("")
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", default="v2", help="template version (default v2)")
    parser.add_argument("--dpi", type=int, default=70)
    parser.add_argument("--data-out", type=Path, help="also write each report's data here")
    args = parser.parse_args()
    reports = await demo_reports(args.version) + fixture_reports(args.version)
    shutil.rmtree(GALLERY, ignore_errors=True)
    GALLERY.mkdir(parents=True)
    renderer = TypstRenderer(
        processes=1, timeout_seconds=60, memory_limit_mib=2048, max_renders_per_process=200
    )
    entries = []
    try:
        for stem, outcome, data, note in reports:
            if data is None:
                entries.append(Entry(stem, outcome, 0, note))
                continue
            if args.data_out:
                args.data_out.mkdir(parents=True, exist_ok=True)
                (args.data_out / f"{stem}.json").write_text(json.dumps(data, ensure_ascii=False))
            rendered = await renderer.render(args.version, data, NOW)
            entries.append(Entry(stem, outcome, save_pages(rendered.pdf, stem, args.dpi)))
            print(f"{stem}: {rendered.page_count} pages")
    finally:
        await renderer.close()
    (GALLERY / "README.md").write_text(readme(entries, args.version, args.dpi), "utf-8")
    size = sum(path.stat().st_size for path in GALLERY.iterdir())
    print(f"{GALLERY.relative_to(ROOT)}: {len(list(GALLERY.iterdir()))} files, {size // 1024} KiB")


if __name__ == "__main__":
    asyncio.run(main())
