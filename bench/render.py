"""Benchmark of one report render: our Typst render pool against WeasyPrint and Chromium.

    .venv/bin/python bench/render.py [--rounds 30] [--fixture clean_pass] [--version v2]
        [--engines typst,weasyprint,chromium] [--vary subject|id|report] [--save-pdfs DIR]

One interleaved run: after warm-up rounds, each round renders one report with every engine in
turn, in an order rotated each round, so that a busy machine slows all of them alike; each
engine renders in processes of its own, so CPU and memory are attributed to it. Each round's
report is another job: another report id and, by default, another subject (see `job_variants`:
Typst reuses what did not change since its last render, so a new report id alone measures
mostly that reuse; `--vary id` shows it). Another subject keeps the report's shape (its checks,
flags and sections); `--vary report` makes each round another of the report-data fixtures as
well (clean pass, sanctions hit, failed face match, Chinese and other non-Latin names, every
script, hostile text), so consecutive documents share little but the template: the cost of a
workload of different reports, which Typst can reuse least of.

- Typst: the real `TypstRenderer` pool with one render process and template v2 (PDF/A-3b and
  PDF/UA-1, tagged, the report data attached as report-data.json). Times include the pipe round
  trip and the page count, as for a real job.
- WeasyPrint at its best, in a child process it keeps: libharfbuzz-subset0 (without it WeasyPrint
  embeds whole fonts and takes about twice as long; it then refuses to report), the stylesheet
  and the shipped fonts parsed once per process, PDF/A-3b, tagged, with the same attachment.
- Chromium: Debian's /usr/bin/chromium driven by Playwright, one browser kept warm (a new empty
  profile), a new page per document (set_content, then page.pdf, tagged, with an outline).
  Chromium refuses file:// fonts to an about:blank page, so each page first opens an empty
  file:// document (its time is printed). It cannot write PDF/A nor attach files.

WeasyPrint and Chromium render the HTML twin of the v2 report (bench/report_html.py: the same
sections, text, icons, gauges, tables, header, footer and contents, from the same report data).
Before measuring, one render of each is inspected: pages, where each section starts, fonts,
PDF/A, attachment; any difference from the Typst report is printed loudly.

Printed per engine: median and p90 ms per report, CPU ms per report from /proc (the Typst
render process; the WeasyPrint child; Chromium's whole browser tree: renderer, GPU and utility
processes and the ones that ended, plus building its HTML in Python), peak memory (VmHWM of the
one process; for Chromium the PSS of its tree, sampled after each PDF), pages, PDF size, and the
paired ratios against Typst (per round peer/ours, then the median) of wall and CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import random
import re
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

from measure import pct
from report_html_check import PdfFacts, describe, differences, inspect_pdf, section_key
from report_html_data import Report
from report_html_engines import (
    ChromiumEngine,
    Rendered,
    WeasyPrintEngine,
    cpu_seconds,
    describe_failure,
    peak_rss_mib,
)

from sqr_reports.rendering.typst_renderer import TypstRenderer

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "report_data"
GENERATED = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ENGINES = ("typst", "weasyprint", "chromium")
WARMUP_ROUNDS = 3
# --- the engines ---------------------------------------------------------------------------------


class Engine(Protocol):
    name: str
    version: str

    async def start(self) -> None: ...
    async def render(self, data: dict[str, Any]) -> Rendered: ...
    async def settle(self) -> None: ...
    def cpu(self) -> float: ...
    def peak_mib(self) -> tuple[float, str]: ...
    def side_cpu(self) -> float: ...
    async def close(self) -> None: ...


class TypstEngine:
    name = "Typst"

    def __init__(self, template_version: str, renders: int):
        self.template = template_version
        self.version = metadata.version("typst")
        self.pool = TypstRenderer(
            processes=1,
            timeout_seconds=60,
            memory_limit_mib=2048,
            max_renders_per_process=renders + 30,  # and the references
        )

    async def start(self) -> None:
        await self.pool.start()
        (self.pid,) = self.pool.process_ids()

    async def render(self, data: dict[str, Any]) -> Rendered:
        report = await self.pool.render(self.template, data, GENERATED)
        return Rendered(report.pdf, report.page_count)

    async def settle(self) -> None:
        return None

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def peak_mib(self) -> tuple[float, str]:
        return peak_rss_mib(self.pid), "VmHWM"

    def side_cpu(self) -> float:
        return 0.0

    async def close(self) -> None:
        await self.pool.close()


# --- the run -------------------------------------------------------------------------------------


_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Variant:
    """One round's report, and (for `--vary report`) where its sections start in the Typst
    report of its fixture: the page numbers Chromium is given for its contents."""

    data: dict[str, Any]
    pages_for: dict[str, int] | None = None


async def report_variants(
    typst: Engine, renders: int, version: str
) -> tuple[list[Variant], list[str]]:
    """Each round another fixture (in turn) with another subject: `--vary report`."""
    rng = random.Random(2026)
    paths = sorted(FIXTURES.glob("*.json"))
    fixtures = []
    for path in paths:
        data = json.loads(path.read_text(encoding="utf-8"))
        data["meta"]["template_version"] = version
        titles = [title for _, title in Report(data, None).section_titles()]
        facts = inspect_pdf((await typst.render(data)).pdf, titles)
        fixtures.append((data, chromium_pages(facts, data)))
    variants = []
    for number in range(renders):
        data, pages_for = fixtures[number % len(fixtures)]
        report = copy.deepcopy(data)
        report["meta"]["report_id"] = str(uuid.uuid5(uuid.NAMESPACE_OID, str(number)))
        other_subject(report, rng)
        variants.append(Variant(report, pages_for))
    return variants, [path.stem for path in paths]


def job_variants(data: dict[str, Any], renders: int, vary: str) -> list[dict[str, Any]]:
    """The report as `renders` jobs, each differing from the others as real jobs do.

    Byte-identical input would measure Typst's memoisation, not a render; and since the render
    process hands Typst the data so that it can reuse whatever did not change between renders,
    a new report id alone ("--vary id") leaves almost all of the report as it was. Real jobs are
    other people ("--vary subject", the default): each variant has another report id and digest,
    other dates and scores, and the subject's values (id, names, contact, address) scrambled
    word by word, so they keep their script and lengths, and the document its shape.
    """
    rng = random.Random(2026)
    variants = []
    for number in range(renders):
        report = copy.deepcopy(data)
        report["meta"]["report_id"] = str(uuid.uuid5(uuid.NAMESPACE_OID, str(number)))
        if vary == "subject":
            other_subject(report, rng)
        variants.append(report)
    return variants


def scrambled(value: Any, rng: random.Random) -> Any:
    if not isinstance(value, str):
        return value
    return " ".join("".join(rng.sample(word, len(word))) for word in value.split(" "))


def other_date(value: Any, rng: random.Random) -> Any:
    day = f"{rng.randint(1950, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(10, 28)}"
    if isinstance(value, str) and _DATE.match(value):
        return day
    if isinstance(value, str) and _TIMESTAMP.match(value):
        return f"{day}T{rng.randint(10, 23)}:{rng.randint(10, 59)}:{rng.randint(10, 59)}.000Z"
    return value


def other_subject(report: dict[str, Any], rng: random.Random) -> None:
    """Another person's values in place of the fixture's, where the fixture has them."""
    subject = report.get("subject") or {}
    for key in subject.keys() & {
        "id",
        "full_name",
        "first_name",
        "middle_name",
        "last_name",
        "email",
        "phone",
    }:
        subject[key] = scrambled(subject[key], rng)
    for key in subject.keys() & {"dob", "registration_submitted", "created_at"}:
        subject[key] = other_date(subject[key], rng)
    address = subject.get("address") or {}
    for key in address:
        address[key] = scrambled(address[key], rng)
    connection = report.get("connection") or {}
    for key in connection.keys() & {"connected_at", "status_updated_at"}:
        connection[key] = other_date(connection[key], rng)
    report["meta"]["input_sha256"] = uuid.uuid4().hex + uuid.uuid4().hex
    verification, scores = report.get("verification") or {}, {}
    for key, check in (("selfie_liveness_score", "Selfie liveness"), ("fmc_score", "Face match")):
        if isinstance(verification.get(key), int | float):
            verification[key] = scores[check] = round(verification[key] + rng.uniform(-3, 2), 1)
    for check in report.get("checks") or []:
        if check.get("name") in scores and isinstance(check.get("detail"), str):
            check["detail"] = re.sub(
                r"Score [\d.]+", f"Score {scores[check['name']]:g}", check["detail"]
            )


@dataclass
class Result:
    engine: Engine
    #: round -> (wall ms, CPU ms)
    samples: dict[int, tuple[float, float]] = field(default_factory=dict)
    facts: PdfFacts | None = None
    failure: str | None = None
    #: CPU seconds spent for the engine outside its processes, over the measured rounds.
    side_cpu: float = 0.0
    #: round -> the page count of its document (for the engines that count them themselves).
    round_pages: dict[int, int] = field(default_factory=dict)


async def start_engines(names: list[str], version: str, rounds: int) -> dict[str, Result]:
    engines: dict[str, Callable[[], Engine]] = {
        "typst": lambda: TypstEngine(version, rounds + WARMUP_ROUNDS),
        "weasyprint": WeasyPrintEngine,
        "chromium": ChromiumEngine,
    }
    results = {}
    for name in ENGINES:
        if name not in names and name != "typst":  # Typst's report is the reference
            continue
        engine = engines[name]()
        result = results[name] = Result(engine)
        try:
            await engine.start()
        except Exception as exc:
            result.failure = describe_failure(exc)
    return results


async def check_documents(
    results: dict[str, Result], data: dict[str, Any], save: Path | None
) -> None:
    """One render each of the fixture itself: the facts of each PDF, for the documents table."""
    titles = [title for _, title in Report(data, None).section_titles()]
    for name, result in results.items():
        if result.failure:
            continue
        if isinstance(result.engine, ChromiumEngine):
            result.engine.pages_for = section_pages(results, data)
        try:
            rendered = await result.engine.render(data)
            await result.engine.settle()
        except Exception as exc:
            result.failure = describe_failure(exc)
            continue
        result.facts = inspect_pdf(rendered.pdf, titles)
        if save is not None:
            await asyncio.to_thread(save_pdf, save / f"{name}.pdf", rendered.pdf)


def save_pdf(path: Path, pdf: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pdf)


def section_pages(results: dict[str, Result], data: dict[str, Any]) -> dict[str, int] | None:
    """Where each section starts in the Typst report: the page numbers Chromium is given."""
    facts = results["typst"].facts
    return None if facts is None else chromium_pages(facts, data)


def chromium_pages(facts: PdfFacts, data: dict[str, Any]) -> dict[str, int]:
    """The page each section of `data` starts on, as the Typst report's outline says."""
    starts = dict(facts.sections)
    anchors = Report(data, None).section_titles()
    return {a: starts[section_key(t)] for a, t in anchors if section_key(t) in starts}


async def run_rounds(results: dict[str, Result], variants: list[Variant]) -> None:
    for index, variant in enumerate(variants):
        report = variant.data
        live = [r for r in results.values() if r.failure is None]
        if index == WARMUP_ROUNDS:
            for result in live:
                result.side_cpu = -result.engine.side_cpu()
        shift = index % max(1, len(live))
        for result in live[shift:] + live[:shift]:
            engine = result.engine
            if variant.pages_for is not None and isinstance(engine, ChromiumEngine):
                engine.pages_for = variant.pages_for
            try:
                cpu = engine.cpu()
                started = time.perf_counter()
                rendered = await engine.render(report)
                wall = (time.perf_counter() - started) * 1000
                await engine.settle()
                cpu = (engine.cpu() - cpu) * 1000
            except Exception as exc:
                result.failure = f"failed in round {index}: {describe_failure(exc)}"
                continue
            if index >= WARMUP_ROUNDS:
                result.samples[index] = (wall, cpu)
            if rendered.pages:  # Chromium's are counted once, not on its clock
                result.round_pages[index] = rendered.pages
    for result in results.values():
        if result.failure is None:
            result.side_cpu += result.engine.side_cpu()


def paired_ratio(peer: Result, ours: Result, which: int) -> float | None:
    pairs = [
        peer.samples[i][which] / ours.samples[i][which]
        for i in peer.samples
        if i in ours.samples and ours.samples[i][which] > 0
    ]
    return statistics.median(pairs) if pairs else None


# --- the report ----------------------------------------------------------------------------------


def print_report(results: dict[str, Result], args: argparse.Namespace) -> None:
    shown = {n: r for n, r in results.items() if n in args.engines}
    labels = [
        f"{r.engine.name} {args.version}" if n == "typst" else r.engine.name
        for n, r in shown.items()
    ]
    varies = {
        "subject": "another subject",
        "id": "another report id only",
        "report": "another fixture, in turn, and another subject",
    }[args.vary]
    print(
        f"Report {args.fixture!r}, template {args.version}: {args.rounds} rounds after "
        f"{WARMUP_ROUNDS} warm-up rounds, one report per engine per round ({varies} each "
        "round), order rotated"
    )
    print_documents(shown, labels)
    width = max(22, *(len(label) + 2 for label in labels))

    def row(label: str, cells: list[str]) -> None:
        print(f"{label:32}" + "".join(f"{cell:>{width}}" for cell in cells))

    print()
    row("", labels)
    ours = results["typst"]
    measured = {n: r for n, r in shown.items() if r.samples and r.failure is None}
    stats: list[tuple[str, Callable[[Result], str]]] = [
        ("median ms / report", lambda r: f"{statistics.median(walls(r)):.0f}"),
        ("p90 ms / report", lambda r: f"{pct(walls(r), 0.9):.0f}"),
        ("CPU ms / report (mean)", lambda r: f"{statistics.mean(cpus(r)):.0f}"),
        ("peak memory MiB", lambda r: "{:.0f} ({})".format(*r.engine.peak_mib())),
        ("pages", lambda r: str(r.facts.pages) if r.facts else "?"),
        ("PDF KiB", lambda r: f"{r.facts.size / 1024:.0f}" if r.facts else "?"),
    ]
    for label, cell in stats:
        row(label, [cell(r) if n in measured else "—" for n, r in shown.items()])
    for label, which in (("wall vs Typst, paired median", 0), ("CPU vs Typst, paired median", 1)):
        ratios = [
            paired_ratio(r, ours, which) if n != "typst" and n in measured else None
            for n, r in shown.items()
        ]
        row(label, [f"{x:.2f}x" if x is not None else "—" for x in ratios])
    print_notes(shown)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nLoad average at the end: {load}, on {os.cpu_count()} CPUs.")
    weasy, chromium = results.get("weasyprint"), results.get("chromium")
    print(
        f"Versions: typst-py {metadata.version('typst')}, "
        f"WeasyPrint {weasy.engine.version if weasy else '-'}, "
        f"Chromium {chromium.engine.version if chromium else '-'}, "
        f"Playwright {metadata.version('playwright')}; harfbuzz-subset: "
        f"{getattr(weasy.engine, 'harfbuzz', '?') if weasy else 'not checked'}."
    )


def walls(result: Result) -> list[float]:
    return [wall for wall, _ in result.samples.values()]


def cpus(result: Result) -> list[float]:
    return [cpu for _, cpu in result.samples.values()]


def print_documents(shown: dict[str, Result], labels: list[str]) -> None:
    facts = {r.engine.name: r.facts for r in shown.values() if r.facts is not None}
    for result in shown.values():
        if result.failure:
            print(f"\n!!! {result.engine.name} NOT MEASURED: {result.failure}")
    if "Typst" not in facts:
        return
    print("\nThe documents (one render each, inspected before the rounds):")
    cells = {r.engine.name: i for i, r in enumerate(shown.values())}
    for label, values in describe(facts):
        line = ["—"] * len(labels)
        for name, value in zip(facts, values, strict=True):
            line[cells[name]] = value
        print(f"  {label:30}" + "".join(f"{v:>22}" for v in line))
    for name, f in facts.items():
        print(f"  fonts embedded by {name}: {', '.join(f.fonts)}")
    for problem in differences(facts, "Typst"):
        print(f"!!! NOT ALIKE: {problem}")
    typst = shown.get("typst")
    if typst is None or not typst.round_pages:
        return
    for result in shown.values():
        unlike = {i for i, n in result.round_pages.items() if typst.round_pages.get(i, n) != n}
        if unlike:
            print(
                f"!!! NOT ALIKE: {result.engine.name}'s reports had another page count than "
                f"Typst's in {len(unlike)} of {len(result.round_pages)} rounds"
            )


def print_notes(shown: dict[str, Result]) -> None:
    chromium = shown.get("chromium")
    if chromium is not None and chromium.samples and isinstance(chromium.engine, ChromiumEngine):
        engine = chromium.engine
        print(
            f"\nChromium: of its time, the empty file:// page it opens first (so that it may load "
            f"the fonts) took {statistics.median(engine.navigation_ms):.0f} ms (median); "
            f"building its HTML in Python is in its CPU; Playwright's driver (node) used "
            f"{chromium.side_cpu * 1000 / len(chromium.samples):.0f} ms "
            "CPU per report more, not counted. Chromium writes no PDF/A and no attachment, and "
            "is given the page numbers of its contents (it cannot compute them)."
        )
    if "weasyprint" in shown and shown["weasyprint"].samples:
        print("WeasyPrint computes the page numbers of its contents itself (target-counter).")


async def run(args: argparse.Namespace, data: dict[str, Any]) -> int:
    results = await start_engines(args.engines, args.version, args.rounds)
    try:
        await check_documents(results, data, args.save_pdfs)
        if results["typst"].failure:
            print(f"Typst failed: {results['typst'].failure}", file=sys.stderr)
            return 1
        renders = WARMUP_ROUNDS + args.rounds
        if args.vary == "report":
            variants, names = await report_variants(results["typst"].engine, renders, args.version)
            args.fixture = ", ".join(names)
        else:
            variants = [Variant(d) for d in job_variants(data, renders, args.vary)]
        if "typst" not in args.engines:  # it rendered the references; not measured
            await results["typst"].engine.close()
        measured = {n: r for n, r in results.items() if n in args.engines}
        await run_rounds(measured, variants)
        print_report(results, args)
    finally:
        for result in results.values():
            await result.engine.close()
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="measured rounds (default 30)")
    parser.add_argument("--version", default="v2", help="Typst template version (default v2)")
    parser.add_argument(
        "--fixture",
        default="clean_pass",
        help="a name in tests/fixtures/report_data (default clean_pass, the standard report) "
        "or a report-data JSON file (`scripts/gallery.py --data-out DIR` writes them)",
    )
    parser.add_argument(
        "--engines",
        default=",".join(ENGINES),
        type=lambda s: [e.strip() for e in s.split(",")],
        help="a subset of typst,weasyprint,chromium (Typst always renders the reference once)",
    )
    parser.add_argument(
        "--vary",
        choices=("subject", "id", "report"),
        default="subject",
        help="what differs between the rounds' reports: another person (default, as between real "
        "jobs of one kind), only the report id (what Typst can reuse most of), or another "
        "report-data fixture each round as well (what it can reuse least of; --fixture is then "
        "only the one inspected before the rounds)",
    )
    parser.add_argument("--save-pdfs", type=Path, help="write each engine's PDF into this folder")
    args = parser.parse_args()
    if unknown := set(args.engines) - set(ENGINES):
        parser.error(f"unknown engines: {', '.join(sorted(unknown))}")
    path = Path(args.fixture)
    path = path if path.suffix == ".json" else FIXTURES / f"{args.fixture}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["meta"]["template_version"] = args.version
    sys.exit(asyncio.run(run(args, data)))


if __name__ == "__main__":
    main()
