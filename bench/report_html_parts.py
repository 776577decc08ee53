"""The small pieces of the v2 report's HTML twin: values, colours, pills, icons and gauges.

Each mirrors a function of `templates/v2/lib.typ` (same words, colours and sizes), so the HTML
engines draw what Typst draws. Values are escaped; nothing from the data is markup.
"""

from __future__ import annotations

import html
import math
import re
from typing import Any

ACCENT, ACCENT_SOFT, INK, MUTED = "#16365c", "#e8eef5", "#1d2733", "#5b6777"
RULE, PANEL = "#d6dde6", "#f5f7fa"
PASS, REFER, FAIL, NEUTRAL = "#1f7a45", "#a35200", "#b3261e", "#6b7480"
DASH = '<span class="muted">—</span>'
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_GOOD = {
    "PASS",
    "PASSED",
    "MATCH",
    "MATCHED",
    "FULL_MATCH",
    "CLEAR",
    "CLEARED",
    "VERIFIED",
    "VALID",
    "APPROVED",
    "OK",
    "NO_HIT",
    "NO_MATCH_FOUND",
    "ACTIVE",
    "CONNECTED",
}
_WARN = {
    "REFER",
    "REFERRED",
    "PARTIAL",
    "PARTIAL_MATCH",
    "PENDING",
    "PENDING_REVIEW",
    "REVIEW",
    "MANUAL_REVIEW",
    "POTENTIAL_MATCH",
    "POSSIBLE_MATCH",
    "INCONCLUSIVE",
    "UNKNOWN",
    "ERROR",
    "TIMEOUT",
    "INACTIVE",
    "PEP_MATCH",
    "PEP_HIT",
}
_BAD = {
    "FAIL",
    "FAILED",
    "NO_MATCH",
    "NOMATCH",
    "MISMATCH",
    "HIT",
    "MATCH_FOUND",
    "INVALID",
    "REJECTED",
    "DECLINED",
    "EXPIRED",
    "FRAUD",
    "SUSPENDED",
    "SANCTION_HIT",
    "SANCTION_MATCH",
    "DISCONNECTED",
    "REVOKED",
}
_TS = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?(?:[Zz]|[+]00:?00)$"
)
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


# --- colours (Typst's lighten/darken: a mix towards white or black) ------------------------------


def lighten(colour: str, amount: float) -> str:
    rgb = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(c + (255 - c) * amount):02x}" for c in rgb)


def darken(colour: str, amount: float) -> str:
    rgb = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(c * (1 - amount)):02x}" for c in rgb)


def norm(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip().upper().replace(" ", "_").replace("-", "_")


def result_style(value: Any) -> tuple[str, str]:
    """Colour and label of a check or verdict result."""
    styles = {
        "PASS": (PASS, "PASS"),
        "REFER": (REFER, "REFER"),
        "FAIL": (FAIL, "FAIL"),
        "NOT_RUN": (NEUTRAL, "NOT\u00a0RUN"),
        "INFO": (NEUTRAL, "INFO"),
    }
    key = norm(value)
    if key in styles:
        return styles[key]
    return (NEUTRAL, "—") if not key else (NEUTRAL, html.escape(str(value).strip()[:14]))


def outcome_colour(value: Any) -> str | None:
    return {"PASS": PASS, "REFER": REFER, "FAIL": FAIL, "NOT_RUN": NEUTRAL}.get(norm(value) or "")


def tone(value: Any) -> str | None:
    key = norm(value)
    return PASS if key in _GOOD else REFER if key in _WARN else FAIL if key in _BAD else None


# --- values --------------------------------------------------------------------------------------


def present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def txt(value: Any) -> str:
    """Any data value as escaped text; nothing becomes a dash, as in the Typst report."""
    if not present(value):
        return DASH
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return html.escape(str(value).strip())


def mono(value: Any, size: float = 8.2) -> str:
    return f'<span class="mono" style="font-size:{size}pt">{txt(value)}</span>'


def sentence(value: Any) -> Any:
    if not isinstance(value, str) or not value.strip():
        return value
    text = value.strip()
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!", "…")) else text + "."


def short(value: Any, length: int) -> Any:
    if isinstance(value, str) and len(value.strip()) > length:
        return value.strip()[:length] + "…"
    return value


def fmt_num(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return txt(value)
    if isinstance(value, int):
        return str(value)
    rounded = round(value, 1)
    return str(int(rounded)) if rounded == round(rounded) else str(rounded)


def parse_day(value: Any) -> tuple[int, int, int] | None:
    if not isinstance(value, str):
        return None
    match = _DATE.match(value.strip()) or _TS.match(value.strip())
    if match is None:
        return None
    year, month, day = (int(match.group(i)) for i in (1, 2, 3))
    return (year, month, day) if 1 <= month <= 12 and 1 <= day <= 31 else None


def fmt_day(value: Any) -> str | None:
    """A date or UTC timestamp as its day ("27 Feb 2025"), or None."""
    parsed = parse_day(value)
    return None if parsed is None else f"{parsed[2]} {MONTHS[parsed[1] - 1]} {parsed[0]}"


def fmt_ts_str(value: Any, seconds: bool = False) -> str | None:
    """ "2026-11-28T12:00:00.000Z" -> "28 Nov 2026, 12:00 UTC", or None."""
    match = _TS.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        return None
    year, month, day, hours, minutes, secs = match.groups()
    if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31):
        return None
    clock = f"{hours}:{minutes}" + (f":{secs}" if seconds and secs else "")
    return f"{int(day)} {MONTHS[int(month) - 1]} {year}, {clock} UTC"


def fmt_ts(value: Any, seconds: bool = False) -> str:
    return fmt_ts_str(value, seconds) or txt(value)


def fmt_dob(dob: Any, generated_at: Any) -> str:
    born, ref = parse_day(dob), parse_day(generated_at)
    if born is None or not _DATE.match(str(dob).strip()):
        return txt(dob)
    text = f"{born[2]} {MONTHS[born[1] - 1]} {born[0]}"
    if ref is None:
        return text
    age = ref[0] - born[0] - (1 if (ref[1], ref[2]) < (born[1], born[2]) else 0)
    return text if not 0 <= age <= 150 else f'{text} <span class="muted">(aged {age})</span>'


def kind_label(kind: Any, short_form: bool = False) -> str:
    key = norm(kind)
    if key == "PEP":
        return "PEP" if short_form else "Politically exposed person (PEP)"
    if key in ("SANCTION", "SANCTIONS"):
        return "Sanctions"
    return "Adverse media" if key == "ADVERSE_MEDIA" else txt(kind)


# --- pills, badges, icons ------------------------------------------------------------------------


def pill(value: Any, hit: bool | None = None, outcome: Any = None) -> str:
    """A status word as a tinted inline pill, coloured like the Typst report's `pill`."""
    if not present(value):
        return DASH
    colour = outcome_colour(outcome)
    if colour is None:
        good_word_hit = hit is False and tone(value) == FAIL
        colour = FAIL if hit is True else PASS if good_word_hit else tone(value)
    colour = colour or NEUTRAL
    label = html.escape(str(value).strip().replace("_", " ")[:40])
    return (
        f'<span class="pill" style="background:{lighten(colour, 0.88)};'
        f'border-color:{lighten(colour, 0.4)};color:{darken(colour, 0.1)}">{label}</span>'
    )


def badge(value: Any) -> str:
    colour, label = result_style(value)
    return f'<span class="badge" style="background:{colour}">{label}</span>'


_GLYPHS = {
    "PASS": '<path d="M27 52L43 68L73 35"/>',
    "FAIL": '<path d="M32 32L68 68M68 32L32 68"/>',
    "REFER": '<path d="M50 24V56"/><circle cx="50" cy="72" r="9.75" fill="#fff" stroke="none"/>',
    "INFO": '<circle cx="50" cy="28" r="9.75" fill="#fff" stroke="none"/><path d="M50 45V76"/>',
}


def icon(value: Any, size: float = 14) -> str:
    """The result icon: a filled circle with a check, "!", cross, "i" or bar (inline SVG)."""
    colour, _ = result_style(value)
    glyph = _GLYPHS.get(norm(value) or "", '<path d="M30 50H70"/>')
    return (
        f'<svg class="icon" aria-hidden="true" width="{size}pt" height="{size}pt" '
        f'viewBox="0 0 100 100" style="vertical-align:-{0.2 * size:.1f}pt">'
        f'<circle cx="50" cy="50" r="50" fill="{colour}"/><g stroke="#fff" stroke-width="13" '
        f'stroke-linecap="round" stroke-linejoin="round" fill="none">{glyph}</g></svg>'
    )


# --- the score gauge -----------------------------------------------------------------------------


def _arc(cx: float, cy: float, radius: float, v0: float, v1: float) -> str:
    """An SVG arc along a half-circle gauge from value v0 to v1 (0-100)."""

    def at(value: float) -> tuple[float, float]:
        angle = math.radians(180 - 1.8 * value)
        return cx + radius * math.cos(angle), cy - radius * math.sin(angle)

    (x0, y0), (x1, y1) = at(v0), at(v1)
    return f"M{x0:.2f} {y0:.2f}A{radius:.2f} {radius:.2f} 0 0 1 {x1:.2f} {y1:.2f}"


def _band(cx: float, cy: float, r_out: float, r_in: float, v0: float, v1: float, fill: str) -> str:
    if v1 <= v0:
        return ""
    middle, width = (r_out + r_in) / 2, r_out - r_in
    return (
        f'<path d="{_arc(cx, cy, middle, v0, v1)}" fill="none" stroke="{fill}" '
        f'stroke-width="{width:.2f}"/>'
    )


def gauge(score: Any, threshold: Any, floor: Any, width_pt: float = 113.4) -> str:
    """The 0-100 half-circle gauge of the Typst report: score arc over a grey track, the
    fail / refer / pass zones as a thin outer band, the threshold as a tick (sizes in pt)."""
    numeric = (int, float)
    has_score = isinstance(score, numeric) and not isinstance(score, bool)
    th = min(100.0, max(0.0, float(threshold))) if isinstance(threshold, numeric) else None
    fl = min(100.0, max(0.0, float(floor))) if isinstance(floor, numeric) else None
    sc = min(100.0, max(0.0, float(score))) if has_score else 0.0
    colour = (
        NEUTRAL
        if not has_score
        else ACCENT
        if th is None
        else PASS
        if sc >= th
        else REFER
        if fl is None or sc >= fl
        else FAIL
    )
    r = width_pt / 2 - 6
    band, cx, cy = 0.2 * r, width_pt / 2, r + 8
    parts = []
    if th is not None:
        low = 0.0 if fl is None else min(fl, th)
        zones = ((0.0, low, FAIL), (low, th, REFER), (th, 100.0, PASS))
        parts += [_band(cx, cy, r + 4.5, r + 1.5, a, b, lighten(c, 0.55)) for a, b, c in zones]
    parts.append(_band(cx, cy, r, r - band, 0, 100, "#e6eaf0"))
    if has_score and sc > 0:
        parts.append(_band(cx, cy, r, r - band, 0, sc, colour))
    if th is not None:
        angle = math.radians(180 - 1.8 * th)
        (x0, y0), (x1, y1) = (
            (cx + rr * math.cos(angle), cy - rr * math.sin(angle)) for rr in (r - band - 2, r + 6)
        )
        parts.append(
            f'<path d="M{x0:.2f} {y0:.2f}L{x1:.2f} {y1:.2f}" stroke="{INK}" stroke-width="1.4"/>'
        )
    label = (
        f'<text x="{cx}" y="{cy - 0.42 * r + 7:.1f}" font-size="15" font-weight="bold" '
        f'fill="{INK}">{fmt_num(score)}</text>'
        if has_score
        else f'<text x="{cx}" y="{cy - 0.42 * r + 3:.1f}" font-size="9" fill="{MUTED}">No score'
        "</text>"
    )
    ends = "".join(
        f'<text x="{x:.1f}" y="{cy + 8.5:.1f}" font-size="6.2" fill="{MUTED}">{v}</text>'
        for v, x in ((0, cx - r + band / 2), (100, cx + r - band / 2))
    )
    height = cy + 12
    return (
        f'<svg class="gauge" aria-hidden="true" width="{width_pt}pt" height="{height:.1f}pt" '
        f'viewBox="0 0 {width_pt} {height:.1f}" text-anchor="middle">{"".join(parts)}{label}'
        f"{ends}</svg>"
    )


def grid(
    cells: list[tuple[str, str]],
    columns: int,
    gap: float,
    row_gap: float = 0,
    widths: list[str] | None = None,
    cls: str = "grid",
) -> str:
    """Cells laid out `columns` to a row with gutters, as a table (WeasyPrint lays tables out
    in a fraction of the time of CSS grids, and every engine gives the cells of a row one
    height). Each cell is (attributes, content)."""
    spans = widths or [""] * columns
    cols = f'<col style="width:{gap}pt">'.join(
        f'<col style="width:{w}">' if w else "<col>" for w in spans
    )
    gutter = f'<td class="gap" style="width:{gap}pt"></td>'
    rows = []
    for start in range(0, len(cells), columns):
        row = cells[start : start + columns]
        row += [("", "")] * (columns - len(row))
        tds = gutter.join(
            f"<td {attrs}>{body}</td>" if attrs else f"<td>{body}</td>" for attrs, body in row
        )
        if start and row_gap:
            rows.append(
                f'<tr class="vgap"><td colspan="{2 * columns - 1}" '
                f'style="height:{row_gap}pt"></td></tr>'
            )
        rows.append(f"<tr>{tds}</tr>")
    return f'<table class="{cls}"><colgroup>{cols}</colgroup>{"".join(rows)}</table>'
