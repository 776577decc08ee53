"""The v2 report as HTML + CSS: the twin the HTML engines render in bench/render.py.

Same report data in, same document out as `templates/v2/report.typ`, as far as CSS paged media
allows: page 1 (verdict, flags, subject, the check tiles with the page of the section that
explains each, consent and monitoring, and the contents pinned to the bottom of the page), then
the numbered sections with the same text, tables, pills, result icons (inline SVG), gauges and
timeline, the running header and footer with "Page n of N", and an outline of the sections.

Page numbers inside the document ("p. 2" on the tiles, the contents): WeasyPrint computes them
(`target-counter`); Chromium cannot, so it is given them (`pages`, taken from the Typst PDF's
outline by the benchmark), which spares it a second layout pass it would otherwise need.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from report_html_data import Report
from report_html_parts import (
    INK,
    darken,
    fmt_day,
    fmt_dob,
    fmt_ts,
    fmt_ts_str,
    grid,
    icon,
    kind_label,
    lighten,
    mono,
    norm,
    outcome_colour,
    present,
    result_style,
    sentence,
    short,
    txt,
)
from report_html_sections import sections
from report_html_style import page_rules

_LEGEND = (
    ("PASS", "PASS: requirement met"),
    ("REFER", "REFER: manual review needed"),
    ("FAIL", "FAIL: requirement not met"),
    ("NOT_RUN", "NOT RUN: check not performed"),
)


def report_html(
    data: Mapping[str, Any], pages: Mapping[str, int] | None = None, inline_css: str = ""
) -> str:
    """The whole document. `pages` (section anchor -> page) for engines without
    `target-counter`, None to let the engine compute them; `inline_css` goes into the document
    (for engines that cannot share a parsed stylesheet between documents)."""
    report = Report(data, pages)
    meta, subject, org = report.meta, report.subject, report.org
    title = "Identity Verification Report" + (
        f" \u2013 {subject['id']}" if subject.get("id") else ""
    )
    description = "Identity verification report" + (
        f" generated for {org['name']}" if org.get("name") else ""
    )
    rules = page_rules(
        str(subject.get("id") or ""), str(meta.get("report_id") or ""), str(org.get("name") or "")
    )
    return (
        '<!doctype html><html lang="en-GB"><head><meta charset="utf-8">'
        f"<title>{txt(title)}</title><meta name=author content=SQR>"
        f'<meta name="description" content="{txt(description)}">'
        '<meta name="keywords" content="identity verification, KYC, SQR, report-data.json">'
        f"<style>{inline_css}{rules}</style></head><body>"
        f'<div class="page1">{summary_page(report)}</div>{sections(report)}</body></html>'
    )


def summary_page(report: Report) -> str:
    """Page 1: the answer at a glance, and the contents at the bottom of the page."""
    generated = report.meta.get("generated_at")
    return (
        '<div class="title">Identity Verification Report</div>'
        f'<div class="prepared">Prepared for <b style="color:{INK}">'
        f"{txt(short(report.org.get('name'), 90))}</b> &nbsp;·&nbsp; "
        f"{fmt_ts(generated)}</div>"
        '<h1 class="summary">Summary</h1>'
        f"{verdict_panel(report)}{flags_panel(report)}{who_panel(report)}"
        f"<h2>Key checks</h2>{tiles(report)}{legend(report)}{consent_and_monitoring(report)}"
        f"{contents(report)}"
    )


def verdict_panel(report: Report) -> str:
    result = report.verdict.get("result")
    colour, label = result_style(result)
    counts = [
        (sum(norm(c.get("result")) == key for c in report.checks), word)
        for key, word in (
            ("PASS", "passed"),
            ("REFER", "referred"),
            ("FAIL", "failed"),
            ("NOT_RUN", "not run"),
        )
    ]
    facts = []
    if report.checks:
        parts = " · ".join(f"{n} {word}" for n, word in counts if n)
        noun = "check" if len(report.checks) == 1 else "checks"
        facts.append(f"{len(report.checks)} {noun}: {parts}")
    if report.policy_label:
        facts.append(f"judged under {txt(report.policy_label)}")
    facts_html = f'<div class="facts">{" · ".join(facts)}</div>' if facts else ""
    return (
        f'<div class="verdict" style="background:{lighten(colour, 0.92)};'
        f'border:0.6pt solid {lighten(colour, 0.55)};border-left:5pt solid {colour}">'
        '<table><tr><td style="width:1%;white-space:nowrap;padding-right:16pt">'
        f'{icon(result, 30)}<div style="display:inline-block;vertical-align:middle;'
        'margin-left:9pt"><div class="caption">Overall verdict</div>'
        f'<div class="word" style="color:{darken(colour, 0.08)}">{label}</div></div></td>'
        f'<td><div class="summary-text">{txt(report.verdict.get("summary"))}</div>'
        f"{facts_html}</td></tr></table></div>"
    )


def flags_panel(report: Report) -> str:
    if not report.flags:
        return ""
    rows = []
    for flag in report.flags:
        severity = (
            flag.get("severity") if norm(flag.get("severity")) in ("FAIL", "REFER") else "INFO"
        )
        colour = darken(outcome_colour(severity) or "#6b7480", 0.1)
        action = flag.get("action")
        then = (
            f' <b style="color:{colour}">→ {txt(sentence(short(action, 200)))}</b>'
            if present(action)
            else ""
        )
        rows.append(
            f'<div class="row"><span class="lead">{icon(severity, 10.5)}</span><div class="text">'
            f'<span class="caption" style="color:{colour}">{result_style(severity)[1]}</span> '
            f"{txt(sentence(short(flag.get('text'), 300)))}{then}</div></div>"
        )
    caption = "Flag" if len(report.flags) == 1 else "Flags"
    return f'<div class="flags"><div class="caption">{caption}</div>{"".join(rows)}</div>'


def who_panel(report: Report) -> str:
    def fact(label: str, body: str) -> str:
        return f'<div><div class="caption">{label}</div><div class="fact">{body}</div></div>'

    subject, meta = report.subject, report.meta
    who = (
        '<div class="caption">Subject</div>'
        f'<div class="name">{txt(short(report.subject_name, 90))}</div>'
        f'<div class="muted" style="font-size:8.4pt">Born '
        f"{fmt_dob(subject.get('dob'), meta.get('generated_at'))}</div>"
    )
    gap = '<td style="width:16pt"></td>'
    return (
        '<div class="who"><table class="grid"><colgroup><col style="width:33%"><col '
        'style="width:16pt"><col style="width:24.4%"><col style="width:16pt"><col></colgroup>'
        f'<tr><td rowspan="3">{who}</td>{gap}'
        f"<td>{fact('Subject ID', mono(subject.get('id'), 8.6))}</td>{gap}"
        f"<td>{fact('Report ID', mono(meta.get('report_id'), 7.6))}</td></tr>"
        '<tr><td colspan="4" style="height:7pt"></td></tr>'
        f"<tr>{gap}<td>{fact('Organisation', txt(short(report.org.get('name'), 90)))}</td>"
        f"{gap}<td>{fact('Generated', fmt_ts(meta.get('generated_at')))}</td></tr>"
        "</table></div>"
    )


def tiles(report: Report) -> str:
    if not report.checks:
        return '<div class="muted">No checks recorded.</div>'
    cells = []
    for check in report.checks:
        colour, label = result_style(check.get("result"))
        day = fmt_day(check.get("performed_at"))
        when = f'<span class="muted" style="font-weight:normal"> · {day}</span>' if day else ""
        detail = check.get("detail")
        text = txt(short(detail, 100)) if present(detail) else "No detail recorded."
        ref = report.page_ref(report.check_id(check))
        cells.append(
            (
                f'class="tile" style="border-left-color:{colour}"',
                f'<div class="top"><span class="lead">{icon(check.get("result"), 14)}</span>'
                f'<div class="text"><div class="name">{txt(check.get("name"))}</div>'
                f'<div class="label" style="color:{darken(colour, 0.1)}">{label}{when}</div>'
                f'</div></div><div class="detail">{text}{" " + ref if ref else ""}</div>',
            )
        )
    return grid(cells, 4, gap=6, row_gap=6)


def legend(report: Report) -> str:
    entries = list(_LEGEND)
    if any(norm(f.get("severity")) not in ("FAIL", "REFER") for f in report.flags):
        entries.append(("INFO", "INFO: for information"))
    items = "".join(f"<span>{icon(key, 8)} {text}</span>" for key, text in entries)
    return f'<div class="legend">{items}</div>'


def consent_and_monitoring(report: Report) -> str:
    agreed = report.connection.get("data_sharing_agreed")
    connected = fmt_ts_str(report.connection.get("connected_at"))
    consent = (
        f"Data sharing agreed{'; connected ' + connected if connected else ''}"
        if agreed is True
        else "Data sharing <b>not</b> agreed"
    )
    if report.current:
        lines = "".join(
            f'<div class="line">{kind_label(c.get("kind"), True)} {report.state_pill(c)}'
            + (f' <span class="muted">since {since}</span>' if (since := report.since(c)) else "")
            + "</div>"
            for c in report.current
        )
    else:
        lines = '<div class="line muted">No monitoring results recorded.</div>'
    mark = icon("PASS" if agreed is True else "FAIL", 12)
    panels = [
        (
            'class="panel"',
            '<div class="caption">Consent</div><div style="margin-top:4pt">'
            f'<span class="lead">{mark}</span><div class="text">{consent}</div></div>',
        ),
        ('class="panel"', f'<div class="caption">Ongoing monitoring</div>{lines}'),
    ]
    return grid(panels, 2, gap=8, cls="grid panels")


def contents(report: Report) -> str:
    cells = []
    for number, (anchor, title) in enumerate(report.section_titles(), start=1):
        if report.pages is None:
            page = f'<span class="toc-auto" href="#{anchor}"></span>'
        else:
            page = str(report.pages.get(anchor, ""))
        cells.append(
            f'<td class="n">{number}</td><td><a href="#{anchor}">{title}</a></td>'
            f'<td class="dots"></td><td class="pg">{page}</td>'
        )
    half = (len(cells) + 1) // 2
    left, right = cells[:half], [*cells[half:], '<td colspan="4"></td>']
    rows = "".join(
        f'<tr>{a}<td style="width:28pt"></td>{b}</tr>' for a, b in zip(left, right, strict=False)
    )
    return (
        '<div class="contents"><div class="caption">Contents of this report</div>'
        f'<table class="toc">{rows}</table></div>'
    )
