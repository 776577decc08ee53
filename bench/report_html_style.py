"""The stylesheet of the v2 report's HTML twin: the shipped fonts and the Typst report's look.

One static stylesheet (parsed once by WeasyPrint, inlined by Chromium) plus a few per-report
page rules (the identifiers in the header, the organisation in the footer) from `page_rules`.
Sizes, colours and spacings are those of `templates/v2/{report,lib}.typ`.
"""

from __future__ import annotations

from report_html_parts import ACCENT, ACCENT_SOFT, FAIL, INK, MUTED, PANEL, RULE, lighten

from sqr_reports.rendering.typst_process import FONTS_DIR

#: The scripts of `script-fonts` in lib.typ, in that order (each has -Regular and -Bold).
SCRIPTS = (
    "Arabic",
    "Hebrew",
    "Armenian",
    "Georgian",
    "Devanagari",
    "Bengali",
    "Gurmukhi",
    "Gujarati",
    "Oriya",
    "Tamil",
    "Telugu",
    "Kannada",
    "Malayalam",
    "Sinhala",
    "Thai",
    "Lao",
    "Khmer",
    "Myanmar",
    "Ethiopic",
)


def _face(family: str, file: str, weight: str = "normal", style: str = "normal") -> str:
    url = (FONTS_DIR / file).as_uri()
    return (
        f'@font-face {{ font-family: "{family}"; src: url("{url}"); '
        f"font-weight: {weight}; font-style: {style}; }}\n"
    )


def font_faces() -> str:
    """Every shipped font, under family names no system font has (so none sneaks in)."""
    faces = [
        _face("SQR Sans", "NotoSans-Regular.ttf"),
        _face("SQR Sans", "NotoSans-Bold.ttf", "bold"),
        _face("SQR Sans", "NotoSans-Italic.ttf", style="italic"),
        _face("SQR Sans", "NotoSans-BoldItalic.ttf", "bold", "italic"),
        _face("SQR Mono", "DejaVuSansMono.ttf"),
        _face("SQR CJK", "NotoSansCJKsc-Regular.otf"),
        _face("SQR CJK", "NotoSansCJKsc-Bold.otf", "bold"),
    ]
    for script in SCRIPTS:
        faces.append(_face(f"SQR {script}", f"NotoSans{script}-Regular.ttf"))
        faces.append(_face(f"SQR {script}", f"NotoSans{script}-Bold.ttf", "bold"))
    faces.append(_face("SQR Missing", "SQRMissingGlyph-Regular.ttf"))
    return "".join(faces)


_SCRIPT_FAMILIES = ", ".join(f'"SQR {script}"' for script in SCRIPTS)
BODY_FONTS = f'"SQR Sans", "SQR Mono", "SQR CJK", {_SCRIPT_FAMILIES}, "SQR Missing"'
MONO_FONTS = f'"SQR Mono", "SQR Sans", "SQR CJK", {_SCRIPT_FAMILIES}, "SQR Missing"'

_MARGIN_BOX = f"font-family: {BODY_FONTS}; color: {MUTED}; white-space: pre;"
_HEADER = f"vertical-align: bottom; margin-bottom: 7.4mm; padding-bottom: 2.5pt; \
border-bottom: 0.6pt solid {RULE}; font-size: 7.4pt; {_MARGIN_BOX}"
_FOOTER = f"vertical-align: top; margin-top: 5.6mm; padding-top: 3pt; \
border-top: 0.6pt solid {RULE}; font-size: 6.8pt; {_MARGIN_BOX}"

# Typst measures a line from the cap height to the baseline, CSS from the top to the bottom of
# its line box: the paddings below are Typst's insets less that difference, so that rows and
# panels come out as tall as in the Typst report.
STYLE = f"""
@page {{ size: A4; margin: 22mm 17mm 21mm;
  @top-left {{ content: "SQR   Identity Verification Report"; width: 43mm; {_HEADER} }}
  @top-center {{ content: ""; width: 90mm; text-align: center; {_HEADER} font-size: 6.8pt; }}
  @top-right {{ content: "CONFIDENTIAL"; width: 43mm; text-align: right; {_HEADER}
    color: {FAIL}; font-weight: bold; letter-spacing: 0.1em; }}
  @bottom-left {{ content: ""; width: 146mm; {_FOOTER} }}
  @bottom-right {{ content: "Page " counter(page) " of " counter(pages); width: 30mm;
    text-align: right; {_FOOTER} font-size: 7.4pt; color: {INK}; font-weight: bold; }} }}
html {{ font-family: {BODY_FONTS}; font-size: 9pt; line-height: 1.3; color: {INK};
  -webkit-print-color-adjust: exact; print-color-adjust: exact; }}
body {{ margin: 0; }}
a {{ color: inherit; text-decoration: none; }}
.muted {{ color: {MUTED}; }}
.mono {{ font-family: {MONO_FONTS}; overflow-wrap: anywhere; }}
.icon {{ display: inline-block; }}
h1, h2, .caption {{ break-after: avoid; bookmark-level: none; }}
.title {{ font-size: 20pt; font-weight: bold; color: {ACCENT}; margin: -4pt 0 2pt;
  line-height: 1.2; }}
.prepared {{ font-size: 9.5pt; color: {MUTED}; margin-bottom: 6pt; }}
h1.summary, h2 {{ font-size: 8pt; font-weight: bold; color: {ACCENT}; letter-spacing: 0.07em;
  text-transform: uppercase; margin: 9pt 0 3pt; line-height: 1.2; }}
h1.summary {{ margin: 0 0 4pt; }}
h1.sec {{ bookmark-level: 1; font-size: 12.5pt; color: {ACCENT}; margin: 15pt 0 8pt;
  padding-bottom: 2.5pt; border-bottom: 1pt solid {ACCENT}; line-height: 1.25; }}
h1.sec.first {{ margin-top: 0; }}
h1.sec .num {{ color: {lighten(ACCENT, 0.35)}; margin-right: 4.5pt; }}
.caption {{ font-size: 6.8pt; color: {MUTED}; font-weight: bold; letter-spacing: 0.08em;
  text-transform: uppercase; white-space: nowrap; line-height: 1.2; }}
.page1 {{ height: 252mm; position: relative; break-after: page; }}
table {{ width: 100%; border-collapse: collapse; }}
td, th {{ text-align: left; vertical-align: middle; padding: 0; overflow-wrap: anywhere; }}
tr {{ break-inside: avoid; }}
table.grid {{ table-layout: fixed; border-collapse: separate; border-spacing: 0; }}
table.grid > tr > td, table.grid > tbody > tr > td {{ vertical-align: top; }}
.lead {{ float: left; margin-right: 6pt; }}
.verdict {{ border-radius: 3pt; padding: 8pt 13pt 8pt 9pt; }}
.verdict td {{ vertical-align: middle; }}
.verdict .word {{ font-size: 20pt; font-weight: bold; letter-spacing: 0.06em; line-height: 1.1; }}
.verdict .summary-text {{ font-size: 10.5pt; line-height: 1.25; }}
.facts {{ font-size: 7.8pt; color: {MUTED}; margin-top: 3pt; }}
.flags {{ border: 0.6pt solid {RULE}; border-radius: 3pt; padding: 5pt 14pt; margin-top: 6pt;
  break-inside: avoid; font-size: 8.4pt; }}
.flags .row {{ margin-top: 4pt; }}
.flags .row .text {{ margin-left: 17pt; }}
.who {{ background: {PANEL}; border-radius: 3pt; padding: 7pt 14pt; margin-top: 8pt; }}
.who .name {{ font-size: 13pt; font-weight: bold; margin: 2pt 0 1pt; line-height: 1.2; }}
.who .fact {{ font-size: 9.2pt; margin-top: 1pt; line-height: 1.2; }}
.tile {{ background: #fff; border: 0.6pt solid {RULE}; border-left: 3pt solid;
  padding: 4.5pt 6.4pt 5pt 5pt; line-height: 1.2; }}
.tile .name {{ font-size: 8.8pt; font-weight: bold; }}
.tile .label, .banner .label {{ font-size: 6.8pt; font-weight: bold; letter-spacing: 0.06em; }}
.tile .top {{ margin-bottom: 3pt; }}
.tile .top .text {{ margin-left: 20pt; }}
.tile .top .lead {{ margin-top: 3pt; }}
.tile .detail {{ font-size: 7.6pt; color: {MUTED}; }}
.pref {{ color: {ACCENT}; white-space: nowrap; }}
.pref-auto::after {{ content: "p.\\a0" target-counter(attr(href url), page); }}
.legend {{ font-size: 7.4pt; color: {MUTED}; margin-top: 5pt; }}
.legend span {{ margin-right: 7pt; white-space: nowrap; }}
table.panels {{ margin-top: 9pt; }}
.panel {{ background: {PANEL}; border-radius: 3pt; padding: 6.5pt 12pt; font-size: 8.6pt;
  line-height: 1.25; }}
.panel .line {{ margin-top: 3pt; font-size: 8.4pt; }}
.panel .text {{ margin-left: 18pt; }}
.contents {{ position: absolute; bottom: 0; left: 0; right: 0; border-top: 0.6pt solid {RULE};
  padding-top: 7pt; break-inside: avoid; }}
table.toc {{ margin-top: 3pt; font-size: 8.2pt; line-height: 1.2; }}
table.toc td {{ vertical-align: baseline; padding: 1pt 0; white-space: nowrap; }}
table.toc td.n {{ color: {MUTED}; width: 9pt; }}
table.toc td.dots {{ border-bottom: 1.1pt dotted {RULE}; }}
table.toc td.pg {{ text-align: right; width: 12pt; }}
.toc-auto::after {{ content: target-counter(attr(href url), page); }}
table.kv, table.data {{ table-layout: fixed; }}
table.kv td, table.data td, table.data th {{ border-bottom: 0.5pt solid {RULE}; line-height: 1.25;
  padding: 2.9pt 5pt; }}
table.kv td.k {{ font-size: 7.8pt; color: {MUTED}; }}
table.data th {{ background: {ACCENT_SOFT}; color: {ACCENT}; font-size: 7.4pt; font-weight: bold;
  letter-spacing: 0.04em; text-transform: uppercase; border-bottom: 0.8pt solid {ACCENT};
  padding: 3.2pt 5pt; }}
table.data td {{ padding: 2.6pt 5pt; }}
table.timeline td {{ padding: 0 8pt 0 0; height: 17pt; }}
table.timeline svg {{ display: block; }}
.pill {{ display: inline-block; border: 0.5pt solid; border-radius: 2.5pt; padding: 0.3em 0.55em;
  font-size: 7.6pt; font-weight: bold; letter-spacing: 0.03em; line-height: 1; }}
.badge {{ display: inline-block; border-radius: 2.5pt; padding: 0.42em 0.75em; color: #fff;
  font-size: 7.4pt; font-weight: bold; letter-spacing: 0.06em; line-height: 1; }}
table.banner {{ border-left: 3pt solid; margin: 6pt 0 7pt; break-inside: avoid;
  line-height: 1.2; border-collapse: separate; }}
table.banner td {{ padding: 4pt 0 4pt 8pt; vertical-align: middle; }}
table.banner td.ic {{ padding-left: 6pt; width: 13pt; }}
table.banner td.last {{ padding-right: 9pt; width: 1%; white-space: nowrap; }}
.banner .detail {{ font-size: 8.4pt; }}
.banner .action {{ font-size: 8pt; font-weight: bold; margin-top: 3pt; }}
.banner .when {{ font-size: 7pt; color: {MUTED}; }}
.note {{ font-size: 7.6pt; color: {MUTED}; margin: 5pt 0 3pt; line-height: 1.25; }}
.keep {{ break-inside: avoid; }}
.callout {{ border-left: 3pt solid; border-radius: 0 2pt 2pt 0; padding: 5.5pt 10pt 5.5pt 7pt;
  margin: 7pt 0 5pt; font-size: 8.4pt; line-height: 1.25; }}
.card {{ background: {PANEL}; border-radius: 3pt; padding: 8pt 12pt 9pt; }}
.card .top {{ margin-bottom: 8pt; }}
.card .top .badge-right {{ float: right; }}
.card .name {{ font-size: 10pt; font-weight: bold; }}
.card .gauge {{ float: left; margin-right: 10pt; }}
.card .facts-text {{ padding-top: 3pt; line-height: 1.2; }}
.card .facts-text div {{ margin-bottom: 2pt; }}
.flagcell {{ border: 0.6pt solid; border-left: 3pt solid; padding: 5.5pt 9pt 5.5pt 6pt;
  line-height: 1.45; }}
.flagcell .meta {{ font-size: 7.4pt; color: {MUTED}; }}
.end {{ text-align: center; font-size: 7.4pt; color: {MUTED}; letter-spacing: 0.1em;
  margin-top: 10pt; }}
"""


def page_rules(subject_id: str, report_id: str, org_name: str) -> str:
    """The per-report margin boxes: the identifiers in the header (from page 2), the organisation
    in the footer. CSS strings, escaped as such."""

    def css(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'

    ids = "   ".join(
        part
        for part in (
            f"Subject {subject_id[:18]}" if subject_id else "",
            f"Report {report_id[:36]}" if report_id else "",
        )
        if part
    )
    org = org_name[:60] or "the requesting organisation"
    footer = (
        f"Confidential: contains personal data. Prepared by SQR for {org} only; "
        "do not share it further."
    )
    return (
        f"@page {{ @top-center {{ content: {css(ids)}; }} "
        f"@bottom-left {{ content: {css(footer)}; }} }}\n"
        '@page :first { @top-center { content: ""; } }\n'
    )
