"""Benchmark of one report render: Typst (the real render pool) against WeasyPrint, in one run.

Renders the same report N times through `TypstRenderer` and prints the median and p99 time per
report, the CPU time per report (steady on a busy machine, where wall times are not) and the
peak memory (VmHWM) of the render process; then renders the same report as HTML
with WeasyPrint (same sections, the shipped fonts, SVG gauges, PDF/A-3b with the data attached),
N times in a process of its own, and prints both side by side with the ratio. Speed targets
live here, not in the tests.

    .venv/bin/python bench/render.py [--renders 50] [--version v2] [--fixture sanctions_hit]

WeasyPrint needs Pango from the system. If it is missing the Typst half still runs and the
WeasyPrint half says what to install: on Debian/Ubuntu
`apt-get install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0`.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import math
import multiprocessing
import os
import resource
import statistics
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqr_reports.rendering.typst_process import FONTS_DIR
from sqr_reports.rendering.typst_renderer import TypstRenderer

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "report_data"
GENERATED = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def job_variants(data: dict[str, Any], renders: int) -> list[dict[str, Any]]:
    """The same report as `renders` jobs: only the report id differs, as between real jobs.

    Rendering byte-identical input again would measure Typst's memoisation, not a render.
    """
    variants = []
    for number in range(renders):
        meta = data["meta"] | {"report_id": str(uuid.uuid5(uuid.NAMESPACE_OID, str(number)))}
        variants.append(data | {"meta": meta})
    return variants


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process: steady even when other work shares the CPUs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set (VmHWM), read before it is stopped."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc status")


async def bench_typst(data: dict[str, Any], version: str, renders: int) -> dict[str, Any]:
    pool = TypstRenderer(
        processes=1, timeout_seconds=60, memory_limit_mib=2048, max_renders_per_process=renders + 2
    )
    try:
        await pool.start()
        started = time.perf_counter()
        first = await pool.render(version, data, GENERATED)  # builds Typst's caches
        first_ms = (time.perf_counter() - started) * 1000
        (pid,) = pool.process_ids()
        cpu_before = cpu_seconds(pid)
        times = []
        for report in job_variants(data, renders):
            started = time.perf_counter()
            await pool.render(version, report, GENERATED)
            times.append((time.perf_counter() - started) * 1000)
        cpu = (cpu_seconds(pid) - cpu_before) * 1000 / renders
        peak = peak_rss_mib(pid)
    finally:
        await pool.close()
    return {"first": first_ms, "times": times, "cpu": cpu, "peak": peak,
            "pages": first.page_count, "size": len(first.pdf)}  # fmt: skip


def bench_weasyprint(data: dict[str, Any], renders: int) -> dict[str, Any] | str:
    """Run in a process of its own, so its peak memory is its own (like the Typst process)."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        result: dict[str, Any] | str = pool.apply(_weasyprint_child, (data, renders))
    return result


def _weasyprint_child(data: dict[str, Any], renders: int) -> dict[str, Any] | str:
    try:
        from weasyprint import HTML, Attachment  # type: ignore[import-untyped]
    except OSError as exc:  # WeasyPrint loads Pango with ctypes at import
        return (
            f"WeasyPrint cannot load a system library ({exc}). On Debian/Ubuntu: apt-get install "
            "libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0"
        )

    def render(report: dict[str, Any]) -> tuple[bytes, int]:
        document = HTML(string=report_html(report), base_url=str(FONTS_DIR)).render()
        pdf: bytes = document.write_pdf(
            pdf_variant="pdf/a-3b",
            attachments=[
                Attachment(string=json.dumps(report, ensure_ascii=False), name="report-data.json")
            ],
        )
        return pdf, len(document.pages)

    started = time.perf_counter()
    first, pages = render(data)
    first_ms = (time.perf_counter() - started) * 1000
    times = []
    cpu_before = time.process_time()
    for report in job_variants(data, renders):
        started = time.perf_counter()
        render(report)
        times.append((time.perf_counter() - started) * 1000)
    cpu = (time.process_time() - cpu_before) * 1000 / renders
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"first": first_ms, "times": times, "cpu": cpu, "peak": peak, "pages": pages,
            "size": len(first)}  # fmt: skip


# --- the same report as HTML ---------------------------------------------------------------------

_CSS = """
@font-face { font-family: Body; src: url(NotoSans-Regular.ttf); }
@font-face { font-family: Body; src: url(NotoSans-Bold.ttf); font-weight: bold; }
@font-face { font-family: Body; src: url(NotoSansArabic-Regular.ttf); }
@font-face { font-family: Body; src: url(NotoSansCJKsc-Regular.otf); }
@font-face { font-family: Mono; src: url(DejaVuSansMono.ttf); }
@page { size: A4; margin: 22mm 17mm 21mm;
  @top-left { content: "SQR  Identity Verification Report"; font: 7.4pt Body; color: #5b6777; }
  @top-right { content: "CONFIDENTIAL"; font: bold 7.4pt Body; color: #b3261e; }
  @bottom-left { content: "Confidential: contains personal data. Do not share it further.";
                 font: 6.8pt Body; color: #5b6777; }
  @bottom-right { content: "Page " counter(page) " of " counter(pages); font: bold 7.4pt Body; } }
body { font: 9pt/1.35 Body; color: #1d2733; }
h1 { font-size: 20pt; color: #16365c; margin: 0 0 4pt; }
h2 { font-size: 12.5pt; color: #16365c; border-bottom: 1pt solid #16365c; margin: 16pt 0 8pt; }
h3 { font-size: 8pt; text-transform: uppercase; letter-spacing: .07em; color: #16365c; }
.verdict { border-left: 5pt solid; padding: 10pt 14pt; background: #f5f7fa; font-size: 11pt; }
.tiles { display: grid; grid-template-columns: 1fr 1fr 1fr; gap: 7pt; }
.tile { border: .6pt solid #d6dde6; border-left: 3pt solid; padding: 8pt; }
.PASS { border-color: #1f7a45; } .REFER { border-color: #a35200; } .FAIL { border-color: #b3261e; }
table { width: 100%; border-collapse: collapse; }
td, th { text-align: left; padding: 4pt 5pt; border-bottom: .5pt solid #d6dde6;
         overflow-wrap: anywhere; }
th { background: #e8eef5; color: #16365c; font-size: 7.4pt; text-transform: uppercase; }
td.k { color: #5b6777; font-size: 7.8pt; width: 3.4cm; }
.mono { font-family: Mono; font-size: 8pt; }
.gauges { display: flex; gap: 10pt; } .gauge { flex: 1; background: #f5f7fa; padding: 10pt; }
"""


def _e(value: Any) -> str:
    return "—" if value is None or value == "" else html.escape(str(value))


def _kv(rows: list[tuple[str, Any]]) -> str:
    cells = "".join(f'<tr><td class="k">{_e(k)}</td><td>{_e(v)}</td></tr>' for k, v in rows)
    return f"<table>{cells}</table>"


def _gauge(name: str, score: Any, threshold: Any) -> str:
    value = float(score) if isinstance(score, int | float) else 0.0
    end = 180 - 1.8 * max(0.0, min(100.0, value))
    x, y = 60 + 50 * math.cos(math.radians(end)), 60 - 50 * math.sin(math.radians(end))
    return (
        f'<div class="gauge"><b>{_e(name)}</b><svg width="120" height="70" viewBox="0 0 120 70">'
        '<path d="M10 60 A50 50 0 0 1 110 60" fill="none" stroke="#e6eaf0" stroke-width="10"/>'
        f'<path d="M10 60 A50 50 0 0 1 {x:.1f} {y:.1f}" fill="none" stroke="#1f7a45" '
        f'stroke-width="10"/><text x="60" y="55" text-anchor="middle" font-size="15" '
        f'font-weight="bold">{_e(score)}</text></svg> Threshold {_e(threshold)}</div>'
    )


def report_html(data: dict[str, Any]) -> str:
    """The v2 report's content and structure as HTML + CSS (a fair, not a pixel-equal, twin)."""
    meta, subject, verification = data["meta"], data["subject"], data["verification"]
    screening, connection = data["screening"], data["connection"]
    tiles = "".join(
        f'<div class="tile {_e(c["result"])}"><b>{_e(c["name"])}</b><br>{_e(c["result"])}'
        f"<br><small>{_e(c['detail'])}</small></div>"
        for c in data["checks"]
    )
    history = "".join(
        f"<tr><td>{_e(e['recorded_at'])}</td><td>{_e(e['kind'])}</td><td>{_e(e['status'])}</td>"
        f"<td>{_e(e.get('detail'))}</td></tr>"
        for e in screening["history"]
    )
    address = subject["address"]
    guardian = data.get("guardian") or {}
    return f"""<!doctype html><html lang="en-GB"><head><meta charset="utf-8">
<title>Identity Verification Report - {_e(subject["id"])}</title><style>{_CSS}</style></head>
<body><h1>Identity Verification Report</h1>
<p>Prepared for <b>{_e(meta["org"]["name"])}</b> · {_e(meta["generated_at"])}</p>
<div class="verdict {_e(data["verdict"]["result"])}"><b>{_e(data["verdict"]["result"])}</b>
{_e(data["verdict"]["summary"])}</div>
{_kv([("Subject", subject["full_name"]), ("Subject ID", subject["id"]),
      ("Report ID", meta["report_id"])])}
<h3>Key checks</h3><div class="tiles">{tiles}</div>
<h2 style="break-before: page">1 Subject details</h2>
{_kv([("Full name", subject["full_name"]), ("Date of birth", subject["dob"]),
      ("Email", subject["email"]), ("Phone", subject["phone"]),
      ("Address", address["full_address"]), ("Country", address["country"])])}
<h2>2 Identity document verification</h2>
{_kv([("Document validation", verification["document_overall_validation"]),
      ("High-level result", verification["high_level_result"])])}
<h2>3 Biometrics</h2><div class="gauges">
{_gauge("Selfie liveness", verification["selfie_liveness_score"],
        verification["liveness_threshold"])}
{_gauge("Face match", verification["fmc_score"], verification["face_match_threshold"])}</div>
<h2>4 Database checks</h2>{_kv([("ID3 match status", verification["id3_match_status"])])}
<h2>5 Screening</h2>{_kv([("ID3 PEP & sanctions", screening["id3_pep_sanction_result"])])}
<h2>6 Ongoing monitoring</h2><table><tr><th>Recorded</th><th>Category</th><th>Status</th>
<th>Detail</th></tr>{history}</table>
<h2>7 Consent &amp; connection</h2>
{_kv([("Status", connection["status"]), ("Data sharing agreed", connection["data_sharing_agreed"]),
      ("Connected at", connection["connected_at"])])}
<h2>8 Guardian</h2>{_kv([("Name", guardian.get("name")), ("Date of birth", guardian.get("dob"))])}
<h2>9 Report integrity</h2>
{_kv([("Report ID", meta["report_id"]), ("Template", meta["template_version"]),
      ("Input SHA-256", meta["input_sha256"])])}
</body></html>"""  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description="Typst vs WeasyPrint: one report, N renders.")
    parser.add_argument("--renders", type=int, default=50, help="Typst renders")
    parser.add_argument("--weasyprint-renders", type=int, default=20, help="WeasyPrint renders")
    parser.add_argument("--version", default="v2", help="Typst template version")
    parser.add_argument(
        "--fixture", default="sanctions_hit",
        help="a name in tests/fixtures/report_data, or a report-data JSON file "
        "(`scripts/gallery.py --data-out DIR` writes today's reports' data)",
    )  # fmt: skip
    args = parser.parse_args()
    path = Path(args.fixture)
    path = path if path.suffix == ".json" else FIXTURES / f"{args.fixture}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["meta"]["template_version"] = args.version

    results: dict[str, dict[str, Any]] = {
        f"Typst {args.version}": asyncio.run(bench_typst(data, args.version, args.renders))
    }
    outcome = bench_weasyprint(data, args.weasyprint_renders)
    if isinstance(outcome, str):
        print(f"WeasyPrint skipped: {outcome}\n")
    else:
        results["WeasyPrint"] = outcome
    print_table(results, args)


def print_table(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    names = list(results)
    base = results[names[0]]
    print(f"Report {args.fixture!r}: Typst {args.renders} renders, WeasyPrint "
          f"{args.weasyprint_renders}, each after one warm-up render")  # fmt: skip
    print(f"{'':18}" + "".join(f"{name:>14}" for name in names) + "   ratio(s) to Typst")
    stats: list[tuple[str, Any]] = [
        ("median ms", lambda r: statistics.median(r["times"])),
        ("p99 ms", lambda r: percentile(r["times"], 0.99)),
        ("CPU ms / render", lambda r: r["cpu"]),
        ("first render ms", lambda r: r["first"]),
        ("peak RSS MiB", lambda r: r["peak"]),
        ("pages", lambda r: r["pages"]),
        ("PDF KiB", lambda r: r["size"] / 1024),
    ]
    for label, stat in stats:
        values = [stat(results[name]) for name in names]
        ratios = " ".join(f"{v / stat(base):.1f}x" for v in values[1:] if stat(base))
        print(f"{label:18}" + "".join(f"{v:>14.1f}" for v in values) + f"   {ratios}")
    print("\nTypst times include the pipe round trip to the render process and its page count;")
    print("WeasyPrint times are measured inside its own process. Both use the shipped fonts and")
    print("write PDF/A-3b with the report data attached; each render is a new report id.")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"Load average at the end: {load} on {os.cpu_count()} CPUs (compare quiet runs only).")


if __name__ == "__main__":
    main()
