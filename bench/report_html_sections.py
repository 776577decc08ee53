"""The numbered sections of the v2 report's HTML twin (pages 2 on of `report.typ`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from report_html_data import Report
from report_html_parts import (
    ACCENT,
    DASH,
    FAIL,
    INK,
    PASS,
    badge,
    darken,
    fmt_day,
    fmt_dob,
    fmt_num,
    fmt_ts,
    fmt_ts_str,
    gauge,
    grid,
    icon,
    kind_label,
    lighten,
    mono,
    norm,
    pill,
    present,
    result_style,
    sentence,
    txt,
)

Row = tuple[str, str] | tuple[str, str, str]


def heading(report: Report, anchor: str) -> str:
    titles = report.section_titles()
    number = next(i for i, (a, _) in enumerate(titles, start=1) if a == anchor)
    first = " first" if number == 1 else ""
    return (
        f'<h1 class="sec{first}" id="{anchor}"><span class="num">{number}</span> '
        f"{titles[number - 1][1]}</h1>"
    )


def kv_grid(entries: Sequence[Row], label_width: str = "3.1cm") -> str:
    """Label/value pairs two to a row; ("label", value, "full") spans the row."""
    rows: list[list[str]] = []
    cells: list[str] = []
    for entry in entries:
        full = len(entry) > 2
        if full and cells:
            rows.append([*cells, "<td></td><td></td>"])
            cells = []
        cell = f'<td class="k">{entry[0]}</td><td{" colspan=3" if full else ""}>{entry[1]}</td>'
        cells.append(cell)
        if full or len(cells) == 2:
            rows.append(cells)
            cells = []
    if cells:
        rows.append([*cells, "<td></td><td></td>"])
    body = "".join(f"<tr>{''.join(r)}</tr>" for r in rows)
    cols = f'<col style="width:{label_width}"><col>' * 2
    return f'<table class="kv"><colgroup>{cols}</colgroup>{body}</table>'


def kv_table(entries: Iterable[tuple[str, str]], label_width: str = "3.6cm") -> str:
    body = "".join(f'<tr><td class="k">{k}</td><td>{v}</td></tr>' for k, v in entries)
    cols = f'<col style="width:{label_width}"><col>'
    return f'<table class="kv"><colgroup>{cols}</colgroup>{body}</table>'


def data_table(
    widths: Sequence[str],
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    shade: Sequence[bool] = (),
) -> str:
    cols = "".join(f'<col style="width:{w}">' if w else "<col>" for w in widths)
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join(
        f"<tr{f' style=background:{lighten(FAIL, 0.94)}' if i < len(shade) and shade[i] else ''}>"
        + "".join(f"<td>{c}</td>" for c in row)
        + "</tr>"
        for i, row in enumerate(rows)
    )
    return (
        f'<table class="data"><colgroup>{cols}</colgroup><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def note(body: str) -> str:
    return f'<div class="note">{body}</div>'


def callout(colour: str, body: str) -> str:
    return (
        f'<div class="callout" style="background:{lighten(colour, 0.92)};'
        f'border-left-color:{colour}">{body}</div>'
    )


def banners(report: Report, *ids: str) -> str:
    """The result of the checks a section explains, as slim banners."""
    out = []
    for check in report.checks_for(*ids):
        colour, label = result_style(check.get("result"))
        action, when = check.get("action"), fmt_day(check.get("performed_at"))
        then = (
            f'<div class="action" style="color:{darken(colour, 0.1)}">'
            f"{txt('→ ' + str(sentence(action)))}</div>"
            if present(action)
            else ""
        )
        performed = f'<div class="when">Performed<br><span style="color:{INK}">{when}</span></div>'
        out.append(
            f'<table class="banner" style="background:{lighten(colour, 0.93)};'
            f'border-left-color:{colour}"><tr><td class="ic">{icon(check.get("result"), 13)}</td>'
            f'<td style="width:3.6cm"><b>{txt(check.get("name"))}</b><div class="label" '
            f'style="color:{darken(colour, 0.1)};margin-top:2pt">{label}</div></td>'
            f'<td><div class="detail">{txt(check.get("detail"))}</div>{then}</td>'
            f'<td class="last">{performed if when else ""}</td></tr></table>'
        )
    return "".join(out)


def sections(report: Report) -> str:
    parts = (
        subject_details,
        document,
        biometrics,
        database,
        screening,
        monitoring,
        consent,
        guardian,
        verdict_and_policy,
        integrity,
    )
    return "".join(part(report) for part in parts)


def subject_details(report: Report) -> str:
    s, a, generated = report.subject, report.address, report.meta.get("generated_at")
    contact: list[Row] = [
        ("Email", txt(s.get("email")), "full"),
        ("Phone", txt(s.get("phone")), "full"),
    ]
    if present(a.get("full_address")):
        contact += [("Address", txt(a["full_address"]), "full"), ("Country", txt(a.get("country")))]
    else:
        contact += [
            (label, txt(a.get(key)))
            for label, key in (
                ("Address line 1", "address1"),
                ("Address line 2", "address2"),
                ("City", "city"),
                ("State / region", "state"),
                ("Postcode", "postcode"),
                ("Country", "country"),
            )
        ]
    return (
        f"{heading(report, 'sec-subject')}<h2>Personal details</h2>{banners(report, 'age')}"
        + kv_grid(
            [
                ("Full name", f"<b>{txt(report.subject_name)}</b>", "full"),
                ("Date of birth", fmt_dob(s.get("dob"), generated)),
                ("Subject ID", mono(s.get("id"))),
            ]
        )
        + f"<h2>Contact &amp; address</h2>{kv_grid(contact)}<h2>Registration</h2>"
        + banners(report, "registration", "verification_age")
        + kv_grid(
            [
                (
                    "Registration status",
                    pill(s.get("registration_status"), outcome=report.result_of("registration")),
                ),
                ("Submitted", fmt_ts(s.get("registration_submitted"))),
                ("Mobile registration", pill(s.get("mobile_registration_status"))),
                ("Record created", fmt_ts(s.get("created_at"))),
            ]
        )
    )


def document(report: Report) -> str:
    v = report.verification
    grid = kv_grid(
        [
            (
                "Document validation",
                pill(v.get("document_overall_validation"), outcome=report.result_of("document")),
            ),
            ("High-level result", pill(v.get("high_level_result"))),
            ("GBG high-level result", pill(v.get("gbg_high_level_result"))),
        ]
    )
    status, notes = v.get("override_status"), v.get("override_notes")
    if present(status) or present(notes):
        extra = callout(
            ACCENT,
            '<div class="caption">Manual override</div>'
            + kv_table([("Override status", pill(status)), ("Override notes", txt(notes))]),
        )
    else:
        extra = note("No manual override has been recorded.")
    return (
        f"{heading(report, 'sec-document')}{banners(report, 'document', 'overall')}"
        f'<div class="keep">{grid}{extra}</div>'
    )


def biometrics(report: Report) -> str:
    v = report.verification
    floor = v.get("score_refer_floor")

    def card(check_id: str, name: str, score: Any, threshold: Any, what: str) -> str:
        found = report.checks_for(check_id)
        check = found[0] if found else None
        numeric = isinstance(score, int | float) and isinstance(threshold, int | float)
        verdict = (
            ("Meets the threshold" if score >= threshold else "Below the threshold")
            if numeric
            else "No threshold configured"
            if isinstance(score, int | float)
            else "Not available"
        )
        result = None if check is None else check.get("result")
        colour, label = result_style(result)
        badge_html = (
            ""
            if check is None
            else (
                f'{icon(result, 11)} <b style="font-size:7.4pt;letter-spacing:.05em;'
                f'color:{darken(colour, 0.1)}">{label}</b>'
            )
        )
        when = None if check is None else fmt_day(check.get("performed_at"))
        score_line = (
            f"Score <b>{fmt_num(score)}</b> of 100"
            if isinstance(score, int | float)
            else f"Score {txt(score)}"
        )
        performed = f'<div class="muted" style="font-size:7.4pt">Performed {when}</div>'
        return (
            f'<div class="top"><span class="badge-right">{badge_html}</span>'
            f'<span class="name">{name}</span></div>{gauge(score, threshold, floor)}'
            f'<div class="facts-text"><div>{score_line}</div><div style="font-size:8pt">'
            f'Threshold {fmt_num(threshold)}</div><div style="font-size:8pt"><b>{verdict}</b>'
            f'</div><div class="muted" style="font-size:7.4pt">{what}</div>'
            f"{performed if when else ''}</div>"
        )

    zones = (
        f", a score from {fmt_num(floor)} up to the threshold is referred for review, "
        "and a lower score fails"
        if isinstance(floor, int | float)
        else ""
    )
    cards = grid(
        [
            (
                'class="card"',
                card(
                    "liveness",
                    "Selfie liveness",
                    v.get("selfie_liveness_score"),
                    v.get("liveness_threshold"),
                    "Confidence that the selfie was taken of a live person.",
                ),
            ),
            (
                'class="card"',
                card(
                    "face_match",
                    "Face match",
                    v.get("fmc_score"),
                    v.get("face_match_threshold"),
                    "How closely the selfie matches the photo on the identity document.",
                ),
            ),
        ],
        2,
        gap=10,
    )
    return (
        f'{heading(report, "sec-biometrics")}<div class="keep">{cards}'
        + note(
            "Scores range from 0 to 100. The dark tick marks the threshold: a score at or "
            f"above it passes{zones}. The outer band shows those zones. No selfie or document "
            "image is included in this report."
        )
        + "</div>"
    )


def database(report: Report) -> str:
    v = report.verification
    grid = kv_grid(
        [
            (
                "ID3 match status",
                pill(v.get("id3_match_status"), outcome=report.result_of("database")),
            ),
            ("High-level result", pill(v.get("high_level_result"))),
        ]
    )
    return (
        f"{heading(report, 'sec-database')}{banners(report, 'database')}"
        f'<div class="keep">{grid}'
        + note(
            "The subject's name, date of birth and address are matched against independent "
            "data sources (credit, electoral and public records)."
        )
        + "</div>"
    )


def events_table(report: Report, events: list[dict[str, Any]], shade: bool) -> str:
    rows = [
        [
            fmt_ts(e.get("recorded_at")),
            kind_label(e.get("kind"), True),
            report.state_pill(e),
            txt(e.get("detail")),
        ]
        for e in events
    ]
    return data_table(
        ("3.9cm", "2.65cm", "2.6cm", ""),
        ("Recorded", "Category", "Status", "Detail"),
        rows,
        [report.is_hit(e) for e in events] if shade else (),
    )


def screening(report: Report) -> str:
    result = pill(
        report.screening.get("id3_pep_sanction_result"), outcome=report.result_of("id3_screening")
    )
    hits = [e for e in report.history if report.is_hit(e)]
    if hits:
        body = note(
            "Every hit ever recorded, newest first; section 6 shows whether each category "
            "is still flagged."
        ) + events_table(report, hits, shade=False)
    else:
        body = callout(
            PASS,
            f"{icon('PASS', 9)}&nbsp; No PEP, sanctions or adverse-media hits are "
            "recorded for this subject.",
        )
    return (
        heading(report, "sec-screening")
        + banners(report, "sanctions", "pep", "adverse_media", "id3_screening", "pep_sanctions")
        + kv_table([("ID3 PEP &amp; sanctions result", result)], "4.6cm")
        + f"<h2>Hits</h2>{body}"
    )


def monitoring(report: Report) -> str:
    if report.current:
        cells = []
        for event in report.current:
            colour, since = report.flag_colour(event), report.since(event)
            checked = fmt_ts_str(event.get("recorded_at"))
            cells.append(
                (
                    f'class="flagcell" style="background:{lighten(colour, 0.93)};border-color:'
                    f'{lighten(colour, 0.6)};border-left-color:{colour}"',
                    f"<b>{kind_label(event.get('kind'))}</b>"
                    f'<div class="meta">{report.state_pill(event)}'
                    + (f' since <span style="color:{INK}">{since}</span>' if since else "")
                    + (f" · last checked {checked}" if checked else "")
                    + "</div>",
                )
            )
        current = grid(cells, min(len(report.current), 3), gap=7, row_gap=7)
    else:
        current = '<div class="muted">No monitoring results recorded.</div>'
    if report.history:
        history = (
            f'<div class="keep">{events_table(report, report.history, shade=True)}'
            + note("Newest first. Rows with a hit are shaded.")
            + "</div>"
        )
    else:
        history = '<div class="muted">No monitoring events recorded.</div>'
    return (
        f"{heading(report, 'sec-monitoring')}<h2>Current flags</h2>{current}"
        f"<h2>History</h2>{history}"
    )


def timeline(events: list[tuple[str, str]]) -> str:
    rows, light = [], lighten(ACCENT, 0.6)
    for i, (when, what) in enumerate(events):
        up = f'<path d="M5 0V8.5" stroke="{light}" stroke-width="1.2"/>' if i else ""
        down = (
            f'<path d="M5 8.5V17" stroke="{light}" stroke-width="1.2"/>'
            if i < len(events) - 1
            else ""
        )
        rows.append(
            '<tr><td style="width:10pt"><svg aria-hidden="true" width="10pt" '
            f'height="17pt" viewBox="0 0 10 17">{up}{down}<circle cx="5" cy="8.5" r="3.2" '
            f'fill="{ACCENT}"/></svg></td><td style="width:4.2cm">{when}</td><td>{what}</td></tr>'
        )
    return f'<table class="timeline keep">{"".join(rows)}</table>'


def consent(report: Report) -> str:
    c, org = report.connection, f"<b>{txt(report.org.get('name'))}</b>"
    agreed, connected = c.get("data_sharing_agreed"), fmt_ts_str(c.get("connected_at"))
    if agreed is True:
        statement = callout(
            PASS,
            f"{icon('PASS', 9)}&nbsp; The subject connected to {org}"
            f"{' on ' + connected if connected else ''} and agreed to share "
            "their identity data with it.",
        )
    else:
        statement = callout(
            FAIL,
            f"{icon('FAIL', 9)}&nbsp; The subject has not agreed (or no "
            f"longer agrees) to share their identity data with {org}.",
        )
    shown = "<b>Yes</b>" if agreed is True else "<b>No</b>" if agreed is False else txt(agreed)
    facts = kv_grid(
        [
            ("Connection status", pill(c.get("status"))),
            ("Data sharing agreed", shown),
            ("Connected at", fmt_ts(c.get("connected_at"))),
            ("Status updated", fmt_ts(c.get("status_updated_at"))),
        ]
    )
    events = [
        (fmt_ts_str(when) or "", what)
        for what, when in (
            ("Account created", report.subject.get("created_at")),
            ("Connected to the organisation", c.get("connected_at")),
            ("Connection status last updated", c.get("status_updated_at")),
            ("This report generated", report.meta.get("generated_at")),
        )
        if fmt_ts_str(when)
    ]
    dates = timeline(events) if events else '<div class="muted">No dates recorded.</div>'
    return (
        f'{heading(report, "sec-consent")}<div class="keep">{statement}{facts}</div>'
        f"<h2>Timeline</h2>{dates}"
    )


def guardian(report: Report) -> str:
    if report.guardian is None:
        return ""
    g = report.guardian if isinstance(report.guardian, dict) else {}
    grid = kv_grid(
        [
            ("Guardian name", f"<b>{txt(g.get('name'))}</b>", "full"),
            ("Date of birth", fmt_dob(g.get("dob"), report.meta.get("generated_at")), "full"),
        ]
    )
    return (
        f'{heading(report, "sec-guardian")}<div class="keep">{grid}'
        + note(
            "Guardian details as recorded with the subject's SQR registration (for example, for a "
            "minor)."
        )
        + "</div>"
    )


def verdict_and_policy(report: Report) -> str:
    result, summary = report.verdict.get("result"), report.verdict.get("summary")
    colour, label = result_style(result)
    said = (
        txt(summary)
        if present(summary)
        else f"The verdict is <b>{label}</b>."
        if present(result)
        else "No verdict is recorded with this report's data."
    )
    out = (
        heading(report, "sec-verdict")
        + callout(colour, f"{icon(result, 9)}&nbsp; {said}")
        + note(
            "The verdict is FAIL when any check fails; otherwise REFER when any check is "
            "referred or a required check was not performed; otherwise PASS. A result that is not "
            "positively recognised as clear (missing, unknown, pending, erroring or a match) is "
            "never PASS."
        )
    )
    if report.checks:
        rows = []
        for c in report.checks:
            reason = c.get("reason") if present(c.get("reason")) else c.get("detail")
            optional = (
                '<div class="muted" style="font-size:7pt;margin-top:3pt">optional</div>'
                if c.get("required") is False
                else ""
            )
            action = c.get("action")
            rows.append(
                [
                    f"<b>{txt(c.get('name'))}</b>{optional}",
                    badge(c.get("result")),
                    f'<span style="font-size:8.2pt">{txt(sentence(reason))}</span>',
                    f'<span style="font-size:8.2pt">{txt(sentence(action))}</span>'
                    if present(action)
                    else DASH,
                    f'<span style="font-size:8pt">{fmt_ts(c.get("performed_at"))}</span>',
                ]
            )
        table = data_table(
            ("3.1cm", "1.75cm", "", "", "2.4cm"),
            ("Check", "Result", "Reason", "Next action", "Performed"),
            rows,
        )
        checks = (
            f'<div class="keep">{table}'
            + note(
                "An optional check that was not performed does not refer the verdict; any other "
                "result of it counts like a required check's."
            )
            + "</div>"
        )
    else:
        checks = '<div class="muted">No checks recorded.</div>'
    return out + f"<h2>Checks</h2>{checks}<h2>Policy applied</h2>{policy(report)}"


def policy(report: Report) -> str:
    p = report.policy
    if not p:
        return '<div class="muted">No verdict policy was recorded with this report\'s data.</div>'
    org, label = txt(report.org.get("name")), report.policy_label
    who = (
        f"{org} has not set a verdict policy of its own, so SQR's default values apply."
        if label == "Deployment default"
        else f"the verdict policy set by {org}."
    )
    floor, minor = fmt_num(p.get("refer_floor")), p.get("minor_outcome")
    minor_note = (
        "(not onboarded)" if norm(minor) == "FAIL" else "(reviewed: guardian consent, local law)"
    )
    rows = [
        (
            "Selfie liveness",
            f"passes at a score of {fmt_num(p.get('liveness_threshold'))} or more (of 100)",
        ),
        (
            "Face match",
            f"passes at a score of {fmt_num(p.get('face_match_threshold'))} or more (of 100)",
        ),
        (
            "Lower scores",
            f"from {floor} up to the threshold are referred for review; below {floor} they fail",
        ),
        (
            "Verification valid for",
            f"{fmt_num(p.get('max_verification_age_days'))} days; "
            "an older verification is referred",
        ),
        ("Minimum age", f"{fmt_num(p.get('minimum_age'))} years"),
        ("A younger subject", f'is {badge(minor)} <span class="muted">{minor_note}</span>'),
    ]
    head = f"<b>{txt(label or p.get('source'))}</b>: {who}"
    head = f'<div style="font-size:8.6pt;margin-bottom:6pt">{head}</div>'
    return f'<div class="keep">{head}{kv_table(rows, "3.8cm")}</div>'


def integrity(report: Report) -> str:
    m, generated = report.meta, report.meta.get("generated_at")
    stamp = fmt_ts_str(generated, seconds=True)
    when = (
        f'{stamp} &nbsp;<span class="mono muted" style="font-size:7.6pt">{txt(generated)}</span>'
        if stamp
        else txt(generated)
    )
    rows = [
        ("Report / job ID", mono(m.get("report_id"))),
        ("Template version", mono(m.get("template_version"))),
        ("Generated at", when),
        ("Organisation", txt(report.org.get("name"))),
        ("Organisation ID", mono(report.org.get("id"))),
        ("Input SHA-256", mono(m.get("input_sha256"))),
        ("Format", "PDF/A-3b, PDF/UA-1, tagged for screen readers"),
        (
            "Embedded data",
            '<span class="mono" style="font-size:8.2pt">report-data.json</span> (application/json)',
        ),
    ]
    return (
        f'{heading(report, "sec-integrity")}<div class="keep">{kv_table(rows, "3.4cm")}'
        + note(
            "This report was generated automatically by SQR. The PDF carries the exact data it "
            "was rendered from as the attachment report-data.json. The input SHA-256 is computed "
            "over the “subject”, “verification”, “screening”, “connection” and “guardian” members "
            "of that data, serialised as JSON with sorted keys, no whitespace and UTF-8 text; any "
            "change to that data produces a different digest. The same data and template version "
            "always produce the same PDF, byte for byte. All times are UTC. Identity-document "
            "numbers and images, selfies and biometric templates are not included."
        )
        + '<div class="end">END OF REPORT</div></div>'
    )
