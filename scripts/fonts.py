"""Build the report fonts in src/sqr_reports/rendering/fonts/ from Debian's font packages.

Run it from the repository root on Debian 12 (bookworm), as root, with fontTools in a scratch
virtualenv (fontTools is a tool here, never a dependency of the project):

    apt-get install fonts-noto-core fonts-noto-cjk fonts-dejavu-core
    python3 -m venv /tmp/fonttools && /tmp/fonttools/bin/pip install fonttools==4.68.0
    /tmp/fonttools/bin/python scripts/fonts.py

(about five minutes on one core: the two CJK subsets take most of it). It writes, into the fonts
folder:

* Noto Sans (4 styles), Noto Sans Arabic and DejaVu Sans Mono, copied byte for byte: template
  v1 uses them too, and its own charset.typ lists what they cover;
* one Noto Sans <Script> family per script of identity documents (Regular and Bold), subset
  with every code point and every OpenType layout feature kept (Indic, Thai, Khmer, Myanmar and
  Ethiopic shaping needs GSUB/GPOS) and hinting removed (a PDF is not rasterised by us);
* one face of the Noto Sans CJK collection (the SC face: every face covers every CJK code point;
  the face only chooses the default glyph shapes, and `locl` is kept so that `lang: "ja"`,
  `"ko"` or `"zh", region: "tw"` select the regional forms), subset to the CJK blocks;
* SQRMissingGlyph-Regular.ttf, a "last resort" font made here: it maps every code point (but
  controls and surrogates) to one visible marker glyph, so a character no real font has shows
  a box with a "?" instead of breaking the PDF/A export, while the PDF's text keeps the
  character. Templates list it last;
* coverage.txt, the code points the real fonts (not the marker) display in every style of
  their family, for sqr_reports.rendering.glyphs.

The output is reproducible: the same packages give the same bytes. The package versions it
was made from are checked (pass --any-version to build from others, then review the result).
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path

from fontTools.fontBuilder import FontBuilder
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.subset import Options, Subsetter
from fontTools.ttLib import TTCollection, TTFont
from fontTools.ttLib.tables._c_m_a_p import CmapSubtable

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "sqr_reports" / "rendering" / "fonts"
NOTO = Path("/usr/share/fonts/truetype/noto")
NOTO_CJK = Path("/usr/share/fonts/opentype/noto")
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")

#: The Debian packages the fonts come from, and the versions fonts/README.md documents.
PACKAGES = {
    "fonts-noto-core": "20201225-1",
    "fonts-noto-cjk": "1:20220127+repack1-1",
    "fonts-dejavu-core": "2.37-6",
}

#: Copied unchanged (template v1 renders with these and must not change).
COPIED = [
    *(NOTO / f"NotoSans-{style}.ttf" for style in ("Regular", "Bold", "Italic", "BoldItalic")),
    *(NOTO / f"NotoSansArabic-{weight}.ttf" for weight in ("Regular", "Bold")),
    DEJAVU / "DejaVuSansMono.ttf",
]

#: Noto Sans <Script> families, each as NotoSans<Script>-{Regular,Bold}.ttf from fonts-noto-core.
SCRIPTS = [
    "Hebrew", "Armenian", "Georgian",
    "Devanagari", "Bengali", "Gurmukhi", "Gujarati", "Oriya",
    "Tamil", "Telugu", "Kannada", "Malayalam", "Sinhala",
    "Thai", "Lao", "Khmer", "Myanmar", "Ethiopic",
]  # fmt: skip

#: Face 2 of NotoSansCJK-{Regular,Bold}.ttc: "Noto Sans CJK SC".
CJK_FACE = 2
CJK_FILE = "NotoSansCJKsc-{weight}.otf"
#: The CJK blocks kept (the font's own cmap decides which of these code points exist).
CJK_RANGES = [
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x2E80, 0x2FFF),  # CJK and Kangxi radicals, ideographic description characters
    (0x3000, 0x303F),  # CJK symbols and punctuation
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x312F),  # Bopomofo
    (0x3130, 0x318F),  # Hangul compatibility jamo
    (0x3190, 0x31FF),  # Kanbun, Bopomofo extended, CJK strokes, Katakana phonetic extensions
    (0x3200, 0x33FF),  # Enclosed CJK letters and months, CJK compatibility
    (0x3400, 0x4DBF),  # CJK Unified Ideographs Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xA960, 0xA97F),  # Hangul Jamo Extended-A
    (0xAC00, 0xD7AF),  # Hangul syllables (all 11,172)
    (0xD7B0, 0xD7FF),  # Hangul Jamo Extended-B
    (0xF900, 0xFAFF),  # CJK Compatibility Ideographs
    (0xFE00, 0xFE0F),  # variation selectors: keep the font's standardised variants
    (0xFE10, 0xFE1F),  # vertical forms
    (0xFE30, 0xFE4F),  # CJK compatibility forms
    (0xFF00, 0xFFEF),  # half-width and full-width forms (incl. half-width kana)
    (0x1B000, 0x1B16F),  # Kana supplement, Kana extended-A, small kana extension
    (0x1F200, 0x1F2FF),  # enclosed ideographic supplement
    (0x20000, 0x3FFFF),  # Extensions B to H and the compatibility supplement
    (0xE0100, 0xE01EF),  # ideographic variation selectors: keep the font's IVS glyphs
]
#: Vertical-writing features and tables: Typst sets text horizontally only.
CJK_DROPPED_FEATURES = {"vert", "vrt2", "vkrn", "vpal", "vhal", "valt"}
CJK_DROPPED_TABLES = ["vhea", "vmtx", "VORG"]

MARKER_FAMILY = "SQR Missing Glyph"
MARKER_FILE = "SQRMissingGlyph-Regular.ttf"
#: Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt, 15.1). Never drawn:
#: Typst removes them before shaping; the marker font maps them to an empty, zero-width glyph
#: in case a shaper does not. Keep in step with sqr_reports/rendering/glyphs.py.
DEFAULT_IGNORABLE = [
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
    (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
    (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
]  # fmt: skip
#: A fixed head.created/modified for the generated font (2026-01-01, seconds since 1904).
MARKER_TIMESTAMP = 3849984000

COVERAGE_FILE = "coverage.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="the fonts folder to write")
    parser.add_argument("--any-version", action="store_true", help="skip the version check")
    args = parser.parse_args()
    check_packages(PACKAGES, strict=not args.any_version)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("NotoSansCJKsc-Regular-GB2312.otf", "NotoSansCJKsc-Bold-GB2312.otf"):
        (out / stale).unlink(missing_ok=True)

    for source in COPIED:
        shutil.copyfile(source, out / source.name)
        print(f"copied  {source.name}")
    for script in SCRIPTS:
        for weight in ("Regular", "Bold"):
            name = f"NotoSans{script}-{weight}.ttf"
            font = TTFont(NOTO / name, recalcTimestamp=False)  # keep head.modified: same bytes
            subset_font(font, None, script_options(), out / name)
    for weight in ("Regular", "Bold"):
        collection = TTCollection(NOTO_CJK / f"NotoSansCJK-{weight}.ttc", recalcTimestamp=False)
        name = CJK_FILE.format(weight=weight)
        subset_font(collection.fonts[CJK_FACE], cjk_unicodes(), cjk_options(), out / name)
    build_marker_font(out / MARKER_FILE)
    write_coverage(out)


def check_packages(expected: dict[str, str], *, strict: bool) -> None:
    """Compare the installed package versions (from dpkg's database) with the documented ones."""
    installed: dict[str, str] = {}
    status = Path("/var/lib/dpkg/status").read_text(encoding="utf-8")
    for stanza in status.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in stanza.splitlines() if ": " in line and line[0] != " "
        )
        if fields.get("Package") in expected and "installed" in fields.get("Status", ""):
            installed[fields["Package"]] = fields.get("Version", "")
    for package, version in expected.items():
        found = installed.get(package)
        if found is None:
            sys.exit(f"{package} is not installed: apt-get install {' '.join(expected)}")
        if found != version:
            message = f"{package} is {found}, fonts/README.md documents {version}"
            if strict:
                sys.exit(message + " (pass --any-version to build anyway, then update README)")
            print("warning:", message)
        print(f"package {package} {found}")


def script_options() -> Options:
    options = Options()
    options.layout_features = ["*"]  # every shaping feature of every script in the font
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.hinting = False
    options.notdef_outline = True
    return options


def cjk_options() -> Options:
    options = Options()
    # pyftsubset's default features (they include ccmp, locl and the Hangul jamo features
    # ljmo/vjmo/tjmo) but not the vertical ones. 'locl' carries the JP/KR/TC/HK forms.
    options.layout_features = [f for f in options.layout_features if f not in CJK_DROPPED_FEATURES]
    options.drop_tables = [*options.drop_tables, *CJK_DROPPED_TABLES]
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.hinting = False
    options.notdef_outline = True
    return options


def cjk_unicodes() -> list[int]:
    return [cp for first, last in CJK_RANGES for cp in range(first, last + 1)]


def subset_font(font: TTFont, unicodes: list[int] | None, options: Options, path: Path) -> None:
    """Subset `font` to `unicodes` (None: every code point it maps) and save it to `path`."""
    if unicodes is None:
        unicodes = sorted(font.getBestCmap())
    subsetter = Subsetter(options=options)
    subsetter.populate(unicodes=unicodes)
    subsetter.subset(font)
    font.save(path)
    size = path.stat().st_size / 1024
    print(f"subset  {path.name}: {font['maxp'].numGlyphs} glyphs, {size:,.0f} KiB")


# --- the marker ("last resort") font -------------------------------------------------------------

UPM = 1000
ADVANCE = 600  # like a Latin capital
SPACE_ADVANCE = 260  # like Noto Sans's space


def build_marker_font(path: Path) -> None:
    """A font whose one visible glyph, a rounded box around a "?", stands for every code point.

    The cmap is one format 13 subtable (platform 0, encoding 6: many code points to one glyph,
    stored as ranges, a few hundred bytes for all of Unicode). Spaces get an empty glyph of a
    space's width, default ignorables an empty zero-width one, controls and surrogates nothing.
    """
    glyph_order = [".notdef", "space", "ignorable", "marker"]
    fb = FontBuilder(UPM, isTTF=True)
    fb.setupGlyphOrder(glyph_order)
    fb.setupCharacterMap({})  # replaced below by the format 13 subtable
    fb.setupGlyf(
        {
            ".notdef": draw([rectangle(80, 0, 520, 700), rectangle(130, 50, 470, 650)]),
            "space": draw([]),
            "ignorable": draw([]),
            "marker": draw(marker_contours()),
        }
    )
    glyf = fb.font["glyf"]
    for name in glyph_order:
        glyf[name].recalcBounds(glyf)
    metrics = {".notdef": ADVANCE, "space": SPACE_ADVANCE, "ignorable": 0, "marker": ADVANCE}
    fb.setupHorizontalMetrics(
        {name: (advance, getattr(glyf[name], "xMin", 0)) for name, advance in metrics.items()}
    )
    ascent, descent = 1069, -293  # Noto Sans's, so a marker does not change line heights
    fb.setupHorizontalHeader(ascent=ascent, descent=descent)
    fb.setupNameTable(
        {
            "copyright": "Copyright 2026 SQR. Outlines drawn by scripts/fonts.py.",
            "familyName": MARKER_FAMILY,
            "styleName": "Regular",
            "uniqueFontIdentifier": "SQR Missing Glyph Regular 1.000",
            "fullName": "SQR Missing Glyph Regular",
            "version": "Version 1.000",
            "psName": "SQRMissingGlyph-Regular",
            "description": "Last-resort font of the SQR reports: a visible box with a question "
            "mark for every character that no other report font can display.",
            "licenseDescription": "This Font Software is licensed under the SIL Open Font "
            "License, Version 1.1.",
            "licenseInfoURL": "https://openfontlicense.org",
        }
    )
    fb.setupOS2(
        sTypoAscender=ascent,
        sTypoDescender=descent,
        sTypoLineGap=0,
        usWinAscent=ascent,
        usWinDescent=-descent,
        sxHeight=536,
        sCapHeight=714,
        achVendID="NONE",
        fsType=0,  # installable embedding
        usFirstCharIndex=0x20,
        usLastCharIndex=0xFFFF,
    )
    fb.setupPost(keepGlyphNames=False)
    font = fb.font
    font["head"].created = font["head"].modified = MARKER_TIMESTAMP
    font.recalcTimestamp = False

    subtable = CmapSubtable.newSubtable(13)
    subtable.platformID, subtable.platEncID, subtable.language = 0, 6, 0
    subtable.cmap = marker_cmap()
    font["cmap"].tables = [subtable]
    font.save(path)
    print(f"built   {path.name}: {len(subtable.cmap):,} code points -> 1 marker glyph")


def marker_cmap() -> dict[int, str]:
    ignorable = {cp for first, last in DEFAULT_IGNORABLE for cp in range(first, last + 1)}
    cmap: dict[int, str] = {}
    for cp in range(0x20, 0x110000):
        if 0x7F <= cp <= 0x9F or 0xD800 <= cp <= 0xDFFF:
            continue  # C1 controls, surrogates (C0 controls are below 0x20)
        if cp in ignorable:
            cmap[cp] = "ignorable"
        elif cp in (0x20, 0xA0):
            cmap[cp] = "space"
        else:
            cmap[cp] = "marker"
    return cmap


Point = tuple[float, float]


def marker_contours() -> list[list[Point]]:
    """A rounded box outline with a question mark inside (filled contours run clockwise)."""
    left, right, bottom, top, stroke = 50, 550, -40, 720, 44
    contours = [
        clockwise(rounded_rectangle(left, bottom, right, top, 90)),
        counter_clockwise(
            rounded_rectangle(left + stroke, bottom + stroke, right - stroke, top - stroke, 46)
        ),
    ]
    # The question mark: a hook (an arc stroked 60 units wide), a stem and a dot.
    cx, cy, radius, width = 300, 465, 120, 70
    centre = [
        (cx + radius * math.cos(math.radians(a)), cy + radius * math.sin(math.radians(a)))
        for a in range(160, -91, -10)
    ]
    contours.append(clockwise(stroke_polyline(centre, width)))
    contours.append(clockwise(rectangle(cx - width / 2, 275, cx + width / 2, cy - radius + 10)))
    contours.append(clockwise(circle(cx, 150, 46)))
    return contours


def rectangle(x0: float, y0: float, x1: float, y1: float) -> list[Point]:
    return [(x0, y0), (x0, y1), (x1, y1), (x1, y0)]


def rounded_rectangle(x0: float, y0: float, x1: float, y1: float, r: float) -> list[Point]:
    corners = [
        (x1 - r, y1 - r, 0),
        (x0 + r, y1 - r, 90),
        (x0 + r, y0 + r, 180),
        (x1 - r, y0 + r, 270),
    ]
    points: list[Point] = []
    for cx, cy, start in corners:
        points += arc(cx, cy, r, start, start + 90, steps=8)
    return points


def circle(cx: float, cy: float, r: float) -> list[Point]:
    return arc(cx, cy, r, 0, 360, steps=32)[:-1]


def arc(cx: float, cy: float, r: float, start: float, end: float, steps: int) -> list[Point]:
    return [
        (
            cx + r * math.cos(math.radians(start + (end - start) * i / steps)),
            cy + r * math.sin(math.radians(start + (end - start) * i / steps)),
        )
        for i in range(steps + 1)
    ]


def stroke_polyline(points: list[Point], width: float) -> list[Point]:
    """The outline of a polyline stroked `width` wide (butt ends; smooth, gently bent lines)."""
    left: list[Point] = []
    right: list[Point] = []
    for i, (x, y) in enumerate(points):
        (ax, ay), (bx, by) = points[max(i - 1, 0)], points[min(i + 1, len(points) - 1)]
        length = math.hypot(bx - ax, by - ay)
        nx, ny = -(by - ay) / length * width / 2, (bx - ax) / length * width / 2
        left.append((x + nx, y + ny))
        right.append((x - nx, y - ny))
    return left + right[::-1]


def signed_area(points: list[Point]) -> float:
    return sum(
        x0 * y1 - x1 * y0
        for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True)
    )


def clockwise(points: list[Point]) -> list[Point]:
    return points if signed_area(points) < 0 else points[::-1]


def counter_clockwise(points: list[Point]) -> list[Point]:
    return points[::-1] if signed_area(points) < 0 else points


def draw(contours: list[list[Point]]) -> object:
    pen = TTGlyphPen(None)
    for contour in contours:
        pen.moveTo(rounded(contour[0]))
        for point in contour[1:]:
            pen.lineTo(rounded(point))
        pen.closePath()
    return pen.glyph()


def rounded(point: Point) -> tuple[int, int]:
    return round(point[0]), round(point[1])


# --- coverage ------------------------------------------------------------------------------------


def write_coverage(out: Path) -> None:
    """Write the code points the real fonts display in every style of their family.

    Per family (name ID 16, else 1) the intersection of its faces' cmaps: bold or italic text
    must not lose a glyph; then the union over families, without control characters. The marker
    font is left out: what it "displays" is the sign of a missing glyph.
    """
    families: dict[str, list[set[int]]] = {}
    for path in sorted(out.glob("*.[ot]tf")):
        if path.name == MARKER_FILE:
            continue
        font = TTFont(path, lazy=True)
        family = font["name"].getDebugName(16) or font["name"].getDebugName(1)
        families.setdefault(family, []).append(set(font.getBestCmap()))
    decompositions = canonical_decompositions()
    covered: set[int] = set()
    for family, cmaps in sorted(families.items()):
        points = set.intersection(*cmaps)
        # The shaper draws a character the font lacks from its canonical decomposition when
        # the font has every part (e.g. the CJK compatibility ideographs U+FA70-FAD9).
        composed = {cp for cp, parts in decompositions.items() if parts <= points} - points
        print(f"family  {family}: {len(cmaps)} face(s), {len(points):,} code points", end="")
        print(f" (+{len(composed)} by decomposition)" if composed else "")
        covered |= points | composed
    covered = {cp for cp in covered if unicodedata.category(chr(cp)) != "Cc"}
    ranges = list(merge(sorted(covered)))
    header = [
        "# Code points the report fonts display (every style of their family), for",
        "# sqr_reports.rendering.glyphs. GENERATED by scripts/fonts.py: do not edit.",
        f"# {len(covered)} code points in {len(ranges)} ranges; the marker font is not counted.",
    ]
    lines = [f"{first:04X}-{last:04X}" for first, last in ranges]
    (out / COVERAGE_FILE).write_text("\n".join(header + lines) + "\n", encoding="ascii")
    print(f"wrote   {COVERAGE_FILE}: {len(covered):,} code points, {len(ranges)} ranges")


def canonical_decompositions() -> dict[int, set[int]]:
    """Every code point with a canonical decomposition, and the code points of its NFD form."""
    decompositions = {}
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        nfd = unicodedata.normalize("NFD", chr(cp))
        if nfd != chr(cp):
            decompositions[cp] = {ord(part) for part in nfd}
    return decompositions


def merge(points: Iterable[int]) -> Iterator[tuple[int, int]]:
    first = last = None
    for cp in points:
        if last is not None and cp == last + 1:
            last = cp
            continue
        if first is not None and last is not None:
            yield first, last
        first = last = cp
    if first is not None and last is not None:
        yield first, last


if __name__ == "__main__":
    main()
