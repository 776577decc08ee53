"""The render pool and the templates: data stays data, renders are isolated, limited and
reproducible, and the v2 report is archival (PDF/A-3b with its data attached) and accessible."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pypdfium2  # type: ignore[import-untyped]
import pytest
from pypdf import PdfReader

from sqr_reports.orgs.models import Org
from sqr_reports.rendering import RenderCrashed, RenderFailed, RenderTimeout, typst_process
from sqr_reports.rendering.typst_renderer import TypstRenderer
from sqr_reports.reports import document
from sqr_reports.reports.models import ReportJob
from sqr_reports.users.service import Subject
from tests.support import DEFAULT_POLICY, GENERATED, alive, make_subject, render_pool

VERSIONS = ["v1", "v2"]
HOSTILE = '#read("/etc/passwd") #import "lib.typ": * ] ) } $ \\ [unbalanced <x> @y'
_INVISIBLE = re.compile("[\u200b\u2068\u2069]")


def _data(version: str, subject: Subject | None = None, org: str = "Org Ltd") -> dict[str, Any]:
    job = ReportJob(id="3fa85f64-5717-4562-b3fc-2c963f66afa6", template_version=version)
    subject = subject or make_subject()
    owner = Org(id="org", name=org)
    return document.build(job, owner, subject, generated_at=GENERATED, policy=DEFAULT_POLICY)


def _every_text_field(value: str) -> Subject:
    names = ("first_name", "middle_name", "last_name", "email", "phone", "full_address",
             "address1", "address2", "city", "state", "country", "postcode", "guardian_name",
             "override_status", "override_notes", "registration_status",
             "mobile_registration_status", "high_level_result",
             "gbg_high_level_result")  # fmt: skip
    flags = tuple((kind, value, value) for kind in ("PEP", "SANCTION", "ADVERSE_MEDIA"))
    return make_subject(flags, **dict.fromkeys(names, value))


def _text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return _INVISIBLE.sub("", " ".join(page.extract_text() for page in reader.pages))


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    """A copy of the shipped templates, to add throwaway templates to."""
    copy = tmp_path / "templates"
    shutil.copytree(typst_process.TEMPLATES_DIR, copy)
    return copy


def _template(templates: Path, name: str, source: str) -> str:
    (templates / name).mkdir()
    (templates / name / "report.typ").write_text(source, encoding="utf-8")
    return name


# --- data is data ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_markup_in_every_field_renders_literally(
    renderer: TypstRenderer, version: str
) -> None:
    data = _data(version, _every_text_field(HOSTILE), org=HOSTILE)

    text = _text((await renderer.render(version, data, GENERATED)).pdf)

    assert text.count('#read("/etc/passwd")') >= 10
    assert '#import "lib.typ": *' in text
    assert "] ) } $ \\ [unbalanced" in text
    assert "root:x:0:0" not in text


@pytest.mark.parametrize("version", VERSIONS)
async def test_huge_fields_are_cut_visibly_and_everything_stays_inside_the_margins(
    renderer: TypstRenderer, version: str
) -> None:
    huge = "[" * 50 + "W" * 100_000
    data = _data(version, _every_text_field(huge), org=huge)

    rendered = await renderer.render(version, data, GENERATED)

    assert "[truncated]" in _pdfium_text(rendered.pdf)
    assert rendered.page_count < 100  # uncut, these fields would fill thousands of pages
    assert _chars_outside_margins(rendered.pdf, margin=40) == 0


async def test_extreme_scores_stay_inside_the_margins(renderer: TypstRenderer) -> None:
    data = _data("v2", make_subject(selfie_liveness_score=1e300, fmc_score=-1e300))

    rendered = await renderer.render("v2", data, GENERATED)

    assert _chars_outside_margins(rendered.pdf, margin=40) == 0


def _pdfium_text(pdf: bytes) -> str:
    """The text as pdfium reads it: a tenth of pypdf's time on a report of many pages."""
    document_ = pypdfium2.PdfDocument(pdf)
    try:
        text = " ".join(page.get_textpage().get_text_range() for page in document_)
    finally:
        document_.close()
    return _INVISIBLE.sub("", text)


def _chars_outside_margins(pdf: bytes, margin: float) -> int:
    """How many characters are drawn (partly) outside the page less `margin` points per side."""
    outside = 0
    document_ = pypdfium2.PdfDocument(pdf)
    for page in document_:
        width, height = page.get_size()
        text_page = page.get_textpage()
        for i in range(text_page.count_chars()):
            left, bottom, right, top = text_page.get_charbox(i)
            if left < margin or right > width - margin or bottom < 0 or top > height:
                outside += 1
    document_.close()
    return outside


# --- reproducible and versioned ---------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_same_data_version_and_time_give_identical_bytes_in_any_process(
    renderer: TypstRenderer, version: str
) -> None:
    data = _data(version, make_subject((("PEP", "HIT", "Regional assembly member"),)))

    first = await renderer.render(version, data, GENERATED)
    again = await renderer.render(version, data, GENERATED)
    async with render_pool() as fresh:
        elsewhere = await fresh.render(version, data, GENERATED)

    assert first.pdf == again.pdf == elsewhere.pdf
    assert first.template_version == version


def test_each_version_names_its_pdf_standard() -> None:
    templates = typst_process.TEMPLATES_DIR

    assert typst_process.pdf_standards(templates / "v1") == ["a-2b"]
    assert "a-3b" in typst_process.pdf_standards(templates / "v2")


async def test_both_versions_are_offered(renderer: TypstRenderer) -> None:
    assert {"v1", "v2"} <= set(renderer.template_versions())
    with pytest.raises(RenderFailed, match="unknown template version"):
        await renderer.render("v0", _data("v0"), GENERATED)


# --- v2: archival and accessible --------------------------------------------------------------


async def test_v2_is_pdf_a_3b_and_ua_1_with_its_data_attached(renderer: TypstRenderer) -> None:
    data = _data("v2")

    reader = PdfReader(io.BytesIO((await renderer.render("v2", data, GENERATED)).pdf))

    xmp = _at(reader.root_object, "/Metadata").get_data().decode()
    assert re.search(r"pdfaid:part[^0-9]{1,3}3\b", xmp)
    assert re.search(r"pdfaid:conformance[^A-Z]{1,3}B\b", xmp)
    assert re.search(r"pdfuaid:part[^0-9]{1,3}1\b", xmp)
    (spec,) = _at(reader.root_object, "/AF")
    assert _at(spec, "/UF") == "report-data.json"
    assert _at(spec, "/AFRelationship") == "/Data"
    assert _at(spec, "/EF", "/F", "/Subtype") == "/application/json"
    assert json.loads(reader.attachments["report-data.json"][0]) == data


async def test_the_attached_data_reproduces_the_input_digest(renderer: TypstRenderer) -> None:
    pdf = (await renderer.render("v2", _data("v2"), GENERATED)).pdf

    attached = json.loads(PdfReader(io.BytesIO(pdf)).attachments["report-data.json"][0])

    body = {key: attached[key] for key in document.DIGEST_KEYS}
    assert document.input_digest(body) == attached["meta"]["input_sha256"]


async def test_v2_is_tagged_and_carries_title_language_and_metadata(
    renderer: TypstRenderer,
) -> None:
    reader = PdfReader(io.BytesIO((await renderer.render("v2", _data("v2"), GENERATED)).pdf))

    root = reader.root_object
    assert bool(_at(root, "/MarkInfo", "/Marked"))
    assert "/StructTreeRoot" in root
    assert _at(root, "/Lang") == "en-GB"
    assert bool(_at(root, "/ViewerPreferences", "/DisplayDocTitle"))
    info = reader.metadata
    assert info is not None
    assert info.title == "Identity Verification Report \u2013 US1A2B3C4D5E6F78"
    assert info.author == "SQR"
    assert "KYC" in str(info["/Keywords"])


async def test_chinese_names_render_with_real_glyphs_in_v2(renderer: TypstRenderer) -> None:
    data = _data("v2", make_subject(first_name="小明", last_name="王", city="北京市"))

    pdf = (await renderer.render("v2", data, GENERATED)).pdf

    text = _text(pdf)
    assert "王小明" in text
    assert "北京市" in text
    assert "\ufffd" not in text
    assert any("NotoSansCJK" in name for name in _embedded_fonts(pdf))


async def test_v1_still_shows_unsupported_chinese_visibly(renderer: TypstRenderer) -> None:
    data = _data("v1", make_subject(first_name="小明", last_name="王"))

    text = _text((await renderer.render("v1", data, GENERATED)).pdf)

    assert "\ufffd\ufffd\ufffd" in text


async def test_arabic_is_set_right_to_left_with_the_arabic_font(renderer: TypstRenderer) -> None:
    data = _data("v2", make_subject(guardian_name="فاطمة الزهراء بنت محمد"))

    pdf = (await renderer.render("v2", data, GENERATED)).pdf

    # Text extraction reads left to right: the name's first word ends up last on the line.
    assert "محمد بنت الزهراء فاطمة" in _text(pdf)
    assert any("NotoSansArabic" in name for name in _embedded_fonts(pdf))


def _embedded_fonts(pdf: bytes) -> set[str]:
    return {
        str(_at(font, "/BaseFont"))
        for page in PdfReader(io.BytesIO(pdf)).pages
        for font in _at(page, "/Resources", "/Font").values()
    }


def _at(obj: Any, *keys: str) -> Any:
    """Follow keys through PDF dictionaries, resolving indirect objects on the way."""
    for key in keys:
        obj = obj.get_object()[key]
    return obj.get_object()


# --- isolated, limited, recycled --------------------------------------------------------------


async def test_a_render_over_its_time_limit_is_killed(templates: Path) -> None:
    # About 10^10 loop steps: hours of work, unless the process is killed.
    slow = "#let n = 0\n#for i in range(100000) { for j in range(100000) { n += 1 } }\n#n\n"
    version = _template(templates, "slow", slow)
    quick = _template(templates, "quick", "A page.\n")
    async with render_pool(templates, timeout_seconds=1.0) as pool:
        await pool.start()
        (before,) = pool.process_ids()
        (spare,) = [process.pid for process in pool.processes() if process.spare]
        started = time.monotonic()

        with pytest.raises(RenderTimeout):
            await pool.render(version, {}, GENERATED)

        assert time.monotonic() - started < 10
        assert not alive(before)
        assert pool.process_ids() == [spare]  # started before the render, not after the kill
        assert (await pool.render(quick, {}, GENERATED)).page_count == 1
        assert pool.stats().renders_that_waited == 0


async def test_the_memory_limit_is_the_render_process_address_space_limit() -> None:
    async with render_pool(memory_limit_mib=1536) as pool:
        await pool.start()
        (pid,) = pool.process_ids()

        soft, hard = _address_space_limit(pid)

    assert soft == hard == str(1536 * 1024 * 1024)


def _address_space_limit(pid: int) -> tuple[str, str]:
    limits = Path(f"/proc/{pid}/limits").read_text().splitlines()
    line = next(line for line in limits if line.startswith("Max address space"))
    soft, hard = line.split()[3:5]
    return soft, hard


async def test_an_absurdly_low_memory_limit_fails_the_render_instead_of_hanging() -> None:
    async with render_pool(memory_limit_mib=64, timeout_seconds=30.0) as pool:
        started = time.monotonic()

        with pytest.raises((RenderCrashed, RenderFailed)):
            await pool.render("v2", _data("v2"), GENERATED)

        assert time.monotonic() - started < 20


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "../../config.py", "../fonts/OFL.txt", "/../../etc/hostname"]
)
async def test_a_template_can_read_nothing_outside_the_templates(
    templates: Path, path: str
) -> None:
    escape = _template(templates, "escape", f'#read("{path}")\n')
    control = _template(templates, "control", '#read("/v2/manifest.json")\n')
    async with render_pool(templates) as pool:
        assert (await pool.render(control, {}, GENERATED)).page_count == 1

        with pytest.raises(RenderFailed, match=r"(?i)not found|denied|escape"):
            await pool.render(escape, {}, GENERATED)


def test_the_shipped_templates_contain_no_links_out() -> None:
    # Typst's root check does not follow symbolic links: one here could read anything.
    root = typst_process.TEMPLATES_DIR
    assert [path for path in root.rglob("*") if path.is_symlink()] == []


@pytest.mark.parametrize("package", ["@preview/cetz:0.3.4", "@local/anything:0.1.0"])
async def test_package_imports_fail_at_once_and_download_nothing(
    templates: Path, package: str
) -> None:
    version = _template(templates, "packaged", f'#import "{package}": *\nhello\n')
    async with render_pool(templates) as pool:
        started = time.monotonic()

        with pytest.raises(RenderFailed, match="package"):
            await pool.render(version, {}, GENERATED)

        assert time.monotonic() - started < 10
        assert list(pool.packages_dir.iterdir()) == []


async def test_the_render_process_has_no_network() -> None:
    if not _namespaces_allowed():
        pytest.skip("this host forbids unprivileged network namespaces (the proxy block applies)")
    async with render_pool() as pool:
        await pool.start()
        (pid,) = pool.process_ids()

        theirs = os.readlink(f"/proc/{pid}/ns/net")

    assert theirs != os.readlink("/proc/self/ns/net")


def test_an_isolated_process_sees_only_a_loopback_that_is_down() -> None:
    if not _namespaces_allowed():
        pytest.skip("this host forbids unprivileged network namespaces (the proxy block applies)")

    isolated = subprocess.run(
        [sys.executable, "-c", _LIST_INTERFACES], capture_output=True, text=True, check=True
    )

    assert isolated.stdout.split() == ["lo", "unreachable"]


# Run in a fresh process isolated the way a render process isolates itself.
_LIST_INTERFACES = """
import socket
from sqr_reports.rendering.typst_process import isolate_network
assert isolate_network()
print(*(name for _, name in socket.if_nameindex()))
try:
    socket.create_connection(("127.0.0.1", 9), timeout=5)
except OSError as exc:
    print("unreachable" if exc.errno == 101 else exc)
"""


def _namespaces_allowed() -> bool:
    probe = "import ctypes,sys; sys.exit(ctypes.CDLL(None).unshare(0x10000000 | 0x40000000))"
    return subprocess.run([sys.executable, "-c", probe], check=False).returncode == 0
