"""How report data reaches a template and how the page count is read: v2 reads its data from a
file in a root private to its render process, written for each render and gone after it; the
page count comes from the PDF's page tree, never from a search of the file."""

from __future__ import annotations

import fcntl
import io
import json
import os
import shutil
import stat
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader, PdfWriter

from sqr_reports.orgs.models import Org
from sqr_reports.rendering import RenderCrashed, RenderFailed, typst_process
from sqr_reports.rendering.typst_renderer import TypstRenderer
from sqr_reports.reports import document
from sqr_reports.reports.models import ReportJob
from tests.support import DEFAULT_POLICY, GENERATED, make_subject

FIXTURES = Path(__file__).parent / "fixtures" / "report_data"
#: What a naive reader would take for the PDF's structure (the subject id is the title, and so
#: part of the XMP metadata, which PDF/A keeps uncompressed).
LOOKALIKE = "/Type /Pages /Count 99 startxref 0 %%EOF"


def _data(report_id: str, **fields: Any) -> dict[str, Any]:
    job = ReportJob(id=report_id, template_version="v2")
    subject = make_subject(**fields)
    return document.build(job, Org(id="org", name="Org Ltd"), subject, generated_at=GENERATED,
                          policy=DEFAULT_POLICY)  # fmt: skip


def _attached(pdf: bytes) -> Any:
    return json.loads(PdfReader(io.BytesIO(pdf)).attachments["report-data.json"][0])


def _roots_of(pid: int) -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob(f"{typst_process.ROOT_PREFIX}{pid}-*"))


async def test_each_render_gets_its_own_data_and_leaves_none_on_disk() -> None:
    pool = TypstRenderer(
        processes=1, timeout_seconds=20, memory_limit_mib=2048, max_renders_per_process=50
    )
    try:
        reports = [_data(str(uuid.uuid4()), first_name=name) for name in ("Ada", "Bea", "Cy")]
        for data in [*reports, reports[0]]:
            assert _attached((await pool.render("v2", data, GENERATED)).pdf) == data
        (pid,) = pool.process_ids()

        (root,) = _roots_of(pid)
        assert stat.S_IMODE(root.stat().st_mode) == 0o700
        assert (root / "v2" / "report.typ").is_file()
        assert list((root / typst_process.DATA_FILE).parent.iterdir()) == []
    finally:
        await pool.close()


async def test_a_render_process_whose_root_was_removed_is_replaced_not_failing_jobs() -> None:
    """A temp-directory cleaner may remove a long-idle process's root: its render must end in
    RenderCrashed (retried by the queue, on a new process), never in RenderFailed (final)."""
    pool = TypstRenderer(
        processes=1, timeout_seconds=20, memory_limit_mib=2048, max_renders_per_process=50
    )
    try:
        data = _data(str(uuid.uuid4()))
        await pool.render("v2", data, GENERATED)
        (pid,) = pool.process_ids()
        (root,) = _roots_of(pid)
        shutil.rmtree(root)

        with pytest.raises(RenderCrashed):
            await pool.render("v2", data, GENERATED)
        assert _attached((await pool.render("v2", data, GENERATED)).pdf) == data
        assert pool.process_ids() != [pid]
    finally:
        await pool.close()


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    """The shipped templates and two that print what they find at the data file's path."""
    copy = tmp_path / "templates"
    shutil.copytree(typst_process.TEMPLATES_DIR, copy)
    probe = f'#str(read("/{typst_process.DATA_FILE}"))\n'
    manifests = {"probe-file": {"pdf_standards": ["a-2b"], "data": "file"}, "probe-inputs": None}
    for name, manifest in manifests.items():
        (copy / name).mkdir()
        (copy / name / "report.typ").write_text(probe, encoding="utf-8")
        if manifest:
            (copy / name / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return copy


async def test_only_a_template_that_asks_for_the_data_file_finds_it(templates: Path) -> None:
    pool = TypstRenderer(
        processes=1, timeout_seconds=20, memory_limit_mib=2048, max_renders_per_process=50,
        templates_dir=templates,
    )  # fmt: skip
    try:
        shown = await pool.render("probe-file", {"mine": "Ada"}, GENERATED)
        assert "Ada" in PdfReader(io.BytesIO(shown.pdf)).pages[0].extract_text()

        with pytest.raises(RenderFailed, match=r"(?i)not found"):
            await pool.render("probe-inputs", {"mine": "Bea"}, GENERATED)
    finally:
        await pool.close()


@pytest.mark.parametrize(
    "fixture", ["clean_pass", "hostile", "every_script", "sanctions_hit", "non_latin"]
)
async def test_the_page_count_is_the_page_trees_count(
    renderer: TypstRenderer, fixture: str
) -> None:
    data = json.loads((FIXTURES / f"{fixture}.json").read_text(encoding="utf-8"))

    rendered = await renderer.render("v2", data, GENERATED)

    assert rendered.page_count == len(PdfReader(io.BytesIO(rendered.pdf)).pages)
    assert typst_process.page_tree_count(rendered.pdf) == rendered.page_count


async def test_data_that_looks_like_pdf_structure_does_not_change_the_page_count(
    renderer: TypstRenderer,
) -> None:
    names = ("id", "first_name", "last_name", "email", "full_address", "override_notes")
    data = _data(str(uuid.uuid4()), **dict.fromkeys(names, LOOKALIKE))

    rendered = await renderer.render("v2", data, GENERATED)

    assert LOOKALIKE.encode() in rendered.pdf
    assert rendered.page_count == len(PdfReader(io.BytesIO(rendered.pdf)).pages)


def test_a_pdf_laid_out_otherwise_is_counted_by_pypdf() -> None:
    plain = _written(PdfWriter(), pages=3)
    # An incremental update: a cross-reference stream that points back at the first table.
    updated = _written(PdfWriter(io.BytesIO(plain), incremental=True), pages=1)

    assert typst_process.page_tree_count(plain) == 3
    assert typst_process.page_tree_count(updated) is None
    assert typst_process.page_tree_count(b"not a PDF") is None
    assert typst_process._page_count(updated) == 4


def _written(writer: PdfWriter, pages: int) -> bytes:
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    written = io.BytesIO()
    writer.write(written)
    return written.getvalue()


@pytest.fixture
def private_roots() -> Iterator[list[Path]]:
    """Folders named like private roots of render processes, removed after the test."""
    made: list[Path] = []
    yield made
    for root in made:
        shutil.rmtree(root, ignore_errors=True)


def _fake_root(made: list[Path], age_seconds: float) -> Path:
    root = Path(tempfile.mkdtemp(prefix=f"{typst_process.ROOT_PREFIX}999999999-"))
    (root / "input").mkdir()
    (root / typst_process.DATA_FILE).write_text('{"left": "by a killed render"}')
    then = time.time() - age_seconds
    os.utime(root, (then, then))
    made.append(root)
    return root


async def test_a_new_render_process_removes_the_roots_of_killed_ones(
    private_roots: list[Path],
) -> None:
    abandoned = _fake_root(private_roots, age_seconds=600)
    starting = _fake_root(private_roots, age_seconds=0)  # its process has yet to lock it
    held = _fake_root(private_roots, age_seconds=600)
    lock = os.open(held, os.O_RDONLY)
    fcntl.flock(lock, fcntl.LOCK_EX)  # as its live render process does
    pool = TypstRenderer(
        processes=1, timeout_seconds=20, memory_limit_mib=2048, max_renders_per_process=50
    )
    try:
        await pool.render("v2", _data(str(uuid.uuid4())), GENERATED)
    finally:
        await pool.close()
        os.close(lock)

    assert not abandoned.exists()
    assert starting.exists()
    assert (held / typst_process.DATA_FILE).exists()
