"""Which characters of a text the report fonts cannot display.

A report never fails on such a character: the last font of template v2's lists ("SQR Missing
Glyph") draws it as a box with a question mark, and the PDF's text keeps the character. This
module says which characters will be drawn so, e.g. to flag a name whose report will not show
it in full. The set of displayable code points is fonts/coverage.txt, written by
scripts/fonts.py together with the fonts (see fonts/README.md).
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_right
from functools import cache
from pathlib import Path

COVERAGE_FILE = Path(__file__).parent / "fonts" / "coverage.txt"

#: Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt, 15.1): format characters
#: (ZWSP, ZWJ, bidi controls, variation selectors, tags, ...) that are never drawn, so never
#: missing. Keep in step with DEFAULT_IGNORABLE in scripts/fonts.py.
_DEFAULT_IGNORABLE: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
    (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
    (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)  # fmt: skip
#: Control characters (and the line/paragraph separators the templates turn into spaces):
#: the caller strips them, so they are neither displayable nor reported.
_CONTROL_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})

_Ranges = tuple[tuple[int, ...], tuple[int, ...]]


def undisplayable(text: str) -> list[str]:
    """The distinct characters of `text`, in order of first appearance, that no font displays.

    Control characters and default-ignorable format characters are never reported.
    """
    covered, ignorable = _coverage(), _ranges(_DEFAULT_IGNORABLE)
    missing: dict[str, None] = {}
    for char in text:
        if char in missing:
            continue
        point = ord(char)
        if _contains(covered, point) or _contains(ignorable, point):
            continue
        if unicodedata.category(char) in _CONTROL_CATEGORIES:
            continue
        missing[char] = None
    return list(missing)


def coverage() -> list[tuple[int, int]]:
    """The code points the report fonts display, as (first, last) ranges in the order
    `undisplayable` looks them up in: sorted and disjoint."""
    firsts, lasts = _coverage()
    return list(zip(firsts, lasts, strict=True))


@cache
def _coverage() -> _Ranges:
    """The coverage table's ranges, read once (lines "XXXX-YYYY" in hex; "#" starts a comment)."""
    pairs = []
    for line in COVERAGE_FILE.read_text(encoding="ascii").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            first, _, last = line.partition("-")
            pairs.append((int(first, 16), int(last or first, 16)))
    return _ranges(tuple(sorted(pairs)))


@cache
def _ranges(pairs: tuple[tuple[int, int], ...]) -> _Ranges:
    return tuple(first for first, _ in pairs), tuple(last for _, last in pairs)


def _contains(ranges: _Ranges, point: int) -> bool:
    firsts, lasts = ranges
    index = bisect_right(firsts, point) - 1
    return index >= 0 and point <= lasts[index]
