"""How alike the engines' PDFs are: pages, where each section starts, fonts, PDF/A, attachment.

bench/render.py prints these for one render of each engine before it measures anything, and
says loudly when a twin does not match the Typst report (another page count, sections on
other pages), since then the engines would not be doing the same work.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

from pypdf import PdfReader

_NUMBER = re.compile(r"^\s*\d+\s*")


@dataclass(frozen=True)
class PdfFacts:
    pages: int
    size: int
    #: (section title without its number, page), in document order.
    sections: list[tuple[str, int]]
    fonts: list[str]
    pdfa: str | None
    attachments: list[str]
    tagged: bool


def section_key(title: str) -> str:
    """A section title as the outlines of all three engines spell it."""
    text = _NUMBER.sub("", title).replace("&amp;", "&")
    return " ".join(text.split()).casefold()


def inspect_pdf(pdf: bytes, section_titles: list[str]) -> PdfFacts:
    """The facts of one PDF; `section_titles` picks the report's sections out of its outline
    (Chromium's also lists the sub-headings)."""
    reader = PdfReader(io.BytesIO(pdf))
    wanted = [section_key(t) for t in section_titles]
    sections = []
    for title, page in _outline(reader, reader.outline):
        # Chromium repeats a heading's text in the outline when the heading opens a page.
        found = next((key for key in wanted if key in section_key(title)), None)
        if found is not None:
            sections.append((found, page))
            wanted.remove(found)
    root: Any = reader.trailer["/Root"]
    mark = root.get("/MarkInfo")
    return PdfFacts(
        pages=len(reader.pages),
        size=len(pdf),
        sections=sections,
        fonts=_fonts(reader),
        pdfa=_pdfa(root),
        attachments=sorted(reader.attachments),
        tagged=bool(mark is not None and mark.get_object().get("/Marked")),
    )


def _outline(reader: PdfReader, items: Any) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    for item in items:
        if isinstance(item, list):
            found += _outline(reader, item)
        elif (page := reader.get_destination_page_number(item)) is not None:
            found.append((str(item.title), page + 1))
    return found


def _fonts(reader: PdfReader) -> list[str]:
    names = set()
    for page in reader.pages:
        resources: Any = page.get("/Resources") or {}
        fonts: Any = resources.get_object().get("/Font") or {}
        for font in fonts.get_object().values():
            name = str(font.get_object().get("/BaseFont", "?")).lstrip("/")
            names.add(name.split("+", 1)[-1])  # without the subset tag
    return sorted(names)


def _pdfa(root: Any) -> str | None:
    """The PDF/A part and conformance its XMP metadata claims ("3B"), or None."""
    metadata = root.get("/Metadata")
    if metadata is None:
        return None
    xmp = metadata.get_object().get_data().decode("utf-8", "replace")
    part = re.search(r"pdfaid:part[=>\"']+(\d)", xmp)
    conformance = re.search(r"pdfaid:conformance[=>\"']+([A-Za-z])", xmp)
    if part is None:
        return None
    return part.group(1) + (conformance.group(1).upper() if conformance else "")


def differences(facts: dict[str, PdfFacts], reference: str) -> list[str]:
    """What makes an engine's document unlike the reference's (empty when they match)."""
    ours = facts[reference]
    problems = []
    for name, other in facts.items():
        if name == reference:
            continue
        if other.pages != ours.pages:
            problems.append(
                f"{name} made {other.pages} pages where {reference} made {ours.pages}: "
                "not the same document, so not a like-for-like comparison"
            )
        if [p for _, p in other.sections] != [p for _, p in ours.sections]:
            problems.append(
                f"{name}'s sections start on pages {_pages(other)} where {reference}'s start on "
                f"{_pages(ours)}"
            )
    return problems


def _pages(facts: PdfFacts) -> str:
    return " ".join(str(p) for _, p in facts.sections) or "(no outline)"


def describe(facts: dict[str, PdfFacts]) -> list[tuple[str, list[str]]]:
    """Rows of the documents table: (label, one cell per engine)."""
    rows: list[tuple[str, list[str]]] = [
        ("pages", [str(f.pages) for f in facts.values()]),
        ("sections start on pages", [_pages(f) for f in facts.values()]),
        ("PDF/A", [f"PDF/A-{f.pdfa}" if f.pdfa else "no" for f in facts.values()]),
        ("attachment", [", ".join(f.attachments) or "none" for f in facts.values()]),
        ("tagged", ["yes" if f.tagged else "no" for f in facts.values()]),
    ]
    return rows
