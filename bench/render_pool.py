"""Benchmark of the render pool's processes: start-up, memory, and waits across recycles.

Runs the real pool (`TypstRenderer`) and prints:

- start-up of a render process, spawn to ready: wall ms (median and worst, over every process
  the run started) and the CPU ms it took (steady on a busy machine, where wall times are not);
- the resident memory (RSS) of a ready process that has not rendered yet;
- one process through N renders (no recycling): its RSS after the first and after N, its peak
  (VmHWM), and CPU ms per render;
- renders one after another with a small recycle limit (every 50 renders), so that processes
  are replaced many times: how many renders waited for a process to start and the longest such
  wait (the pool measures it); and the wall and CPU ms of the first render on each new process
  against the others' (median, p99, slowest). No render should wait: a spare already started
  takes every retiree's place, warmed by replaying the render before. One render at a time, so
  that each is known to be the first on its process or not.

    .venv/bin/python bench/render_pool.py [--renders 1000] [--recycle-every 50]
        [--recycle-renders 500] [--fixture sanctions_hit] [--version v2]

Each render is a new report id, as between real jobs. Speed targets live here, not in the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from measure import pct

from sqr_reports.rendering.typst_renderer import TypstRenderer

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "report_data"
GENERATED = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def reports(data: dict[str, Any], count: int) -> Iterator[dict[str, Any]]:
    """The same report as `count` jobs: only the report id differs."""
    for number in range(count):
        report_id = str(uuid.uuid5(uuid.NAMESPACE_OID, str(number)))
        yield data | {"meta": data["meta"] | {"report_id": report_id}}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process: steady even when other work shares the CPUs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_mib(pid: int, field: str) -> float:
    """A memory figure of /proc/<pid>/status (VmRSS, VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc status")


def pool(processes: int, max_renders: int) -> TypstRenderer:
    return TypstRenderer(
        processes=processes, timeout_seconds=60, memory_limit_mib=2048,
        max_renders_per_process=max_renders, max_rss_mib_per_process=0,
    )  # fmt: skip


async def one_process(data: dict[str, Any], version: str, renders: int) -> dict[str, Any]:
    """Start-up and memory of one process through `renders` renders."""
    renderer = pool(1, renders + 1)
    try:
        await renderer.start()
        ready = renderer.processes()
        startup_cpu = [cpu_seconds(process.pid) for process in ready]  # all of it start-up
        idle = [status_mib(process.pid, "VmRSS") for process in ready]
        (pid,) = renderer.process_ids()
        cpu_before = cpu_seconds(pid)
        started = time.perf_counter()
        await renderer.render(version, data, GENERATED)
        first_ms = (time.perf_counter() - started) * 1000
        first_cpu = (cpu_seconds(pid) - cpu_before) * 1000
        after_first = status_mib(pid, "VmRSS")
        cpu_before = cpu_seconds(pid)
        for report in reports(data, renders - 1):
            await renderer.render(version, report, GENERATED)
        cpu = (cpu_seconds(pid) - cpu_before) * 1000 / max(1, renders - 1)
        result = {
            "startup_cpu": startup_cpu, "idle": idle, "first_ms": first_ms, "first_cpu": first_cpu,
            "after_first": after_first, "after": status_mib(pid, "VmRSS"),
            "peak": status_mib(pid, "VmHWM"), "cpu": cpu,
            "startups": renderer.stats().startup_seconds,
        }  # fmt: skip
    finally:
        await renderer.close()
    return result


async def recycling(data: dict[str, Any], version: str, renders: int, every: int) -> dict[str, Any]:
    """Renders one after another, recycled every `every`: each render is known to be the first
    on a fresh process (its process id is new) or not. Wall and CPU ms of each, by kind."""
    renderer = pool(1, every)
    kinds: dict[str, list[tuple[float, float]]] = {"fresh": [], "others": []}
    try:
        await renderer.start()
        seen: set[int] = set()
        for report in reports(data, renders):
            (pid,) = renderer.process_ids()
            cpu_before, started = cpu_seconds(pid), time.perf_counter()
            await renderer.render(version, report, GENERATED)
            wall, cpu = time.perf_counter() - started, cpu_seconds(pid) - cpu_before
            if seen:  # the run's first render has nothing to warm its process with
                kinds["others" if pid in seen else "fresh"].append((wall * 1000, cpu * 1000))
            seen.add(pid)
        stats = renderer.stats()
    finally:
        await renderer.close()
    return kinds | {"stats": stats}


def main() -> None:
    parser = argparse.ArgumentParser(description="The render pool: start-up, memory, waits.")
    parser.add_argument("--renders", type=int, default=1000, help="renders in one process")
    parser.add_argument("--recycle-every", type=int, default=50, help="recycle limit")
    parser.add_argument("--recycle-renders", type=int, default=500, help="renders, recycling")
    parser.add_argument("--version", default="v2", help="template version")
    parser.add_argument("--fixture", default="sanctions_hit", help="tests/fixtures/report_data")
    args = parser.parse_args()
    data = json.loads((FIXTURES / f"{args.fixture}.json").read_text(encoding="utf-8"))
    data["meta"]["template_version"] = args.version

    single = asyncio.run(one_process(data, args.version, args.renders))
    recycled = asyncio.run(recycling(data, args.version, args.recycle_renders, args.recycle_every))
    report(args, single, recycled)


def report(args: argparse.Namespace, single: dict[str, Any], recycled: dict[str, Any]) -> None:
    stats = recycled["stats"]
    startups = [s * 1000 for s in (*single["startups"], *stats.startup_seconds)]
    lines = [
        f"Report {args.fixture!r}, template {args.version}\n",
        f"start-up, spawn to ready      median {statistics.median(startups):6.1f} ms, worst "
        f"{max(startups):6.1f} ms over {len(startups)} processes; "
        f"CPU {statistics.median(single['startup_cpu']) * 1000:.1f} ms",
        f"idle RSS (ready, no render)   {statistics.median(single['idle']):6.1f} MiB",
        f"RSS after the first render    {single['after_first']:6.1f} MiB "
        f"(that render, Typst's cache cold: {single['first_ms']:.1f} ms, "
        f"CPU {single['first_cpu']:.1f} ms)",
        f"RSS after {args.renders} renders{'':<{6 - len(str(args.renders))}}    "
        f"{single['after']:6.1f} MiB, peak {single['peak']:.1f} MiB; "
        f"CPU {single['cpu']:.1f} ms / render",
        f"\n{args.recycle_renders} renders one after another, recycled every "
        f"{args.recycle_every}: {stats.started} processes started, {stats.retired} retired",
        f"renders that waited for a process to start: {stats.renders_that_waited} "
        f"(longest wait {stats.longest_wait_seconds * 1000:.1f} ms)",
        f"{'ms per render':28}{'wall median':>12}{'p99':>8}{'slowest':>9}{'CPU median':>12}"
        f"{'slowest':>9}",
    ]
    for label, kind in (("first on a fresh process", "fresh"), ("the others", "others")):
        walls, cpus = [w for w, _ in recycled[kind]], [c for _, c in recycled[kind]]
        if not walls:  # too few renders for a recycle (or too many for a first)
            lines.append(f"  {label:26}{'none':>12}")
            continue
        lines.append(
            f"  {label:26}{statistics.median(walls):12.1f}{pct(walls, 0.99):8.1f}"
            f"{max(walls):9.1f}{statistics.median(cpus):12.1f}{max(cpus):9.1f}   ({len(walls)})"
        )
    lines += [
        "\nEach process started, and replayed the render before (to warm Typst's cache), while the",
        "one before it served; CPU is counted in steps of the kernel's clock tick (10 ms).",
        f"Load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on "
        f"{os.cpu_count()} CPUs (compare quiet runs only).",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
