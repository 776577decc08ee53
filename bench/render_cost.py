"""What a render costs, by what changed since the render before: where Typst's time goes.

Typst memoises its work between compiles, so a render costs what changed since the last one.
This renders the standard report (`clean_pass`, template v2) in this process, exactly as a
render process does (the same private root, the data as a file, the same cache ageing after
each render: `rendering.typst_process`), many times over, each time with one part of the data
changed, and prints the median CPU ms per render for each kind of change:

- nothing (the same bytes again): what is never reused, chiefly the PDF export;
- one field or group of fields (the report id, the subject's name, dates, scores ...);
- another subject altogether (`bench/render.py`'s default workload).

    .venv/bin/python bench/render_cost.py [--renders 40]

CPU time of this process only; no pipe, no pool. Speed targets live in `bench/`, not in tests.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from render import GENERATED, other_date, other_subject, scrambled

from sqr_reports.rendering import typst_process

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "report_data"
WARMUP = 5

Change = Callable[[dict[str, Any], int, random.Random], None]


def _report_id(data: dict[str, Any], number: int, rng: random.Random) -> None:
    data["meta"]["report_id"] = f"3fa85f64-5717-4562-b3fc-{number:012d}"


def _fields(*keys: str) -> Change:
    def change(data: dict[str, Any], number: int, rng: random.Random) -> None:
        for key in keys:
            data["subject"][key] = scrambled(data["subject"][key], rng)

    return change


def _dates(section: str, *keys: str) -> Change:
    def change(data: dict[str, Any], number: int, rng: random.Random) -> None:
        for key in keys:
            data[section][key] = other_date(data[section][key], rng)

    return change


def _address(data: dict[str, Any], number: int, rng: random.Random) -> None:
    address = data["subject"]["address"]
    for key in address:
        address[key] = scrambled(address[key], rng)


def _digest(data: dict[str, Any], number: int, rng: random.Random) -> None:
    data["meta"]["input_sha256"] = f"{rng.getrandbits(256):064x}"


def _score(data: dict[str, Any], number: int, rng: random.Random) -> None:
    verification = data["verification"]
    verification["selfie_liveness_score"] = round(
        verification["selfie_liveness_score"] + rng.uniform(-3, 2), 1
    )


def _subject(data: dict[str, Any], number: int, rng: random.Random) -> None:
    _report_id(data, number, rng)
    other_subject(data, rng)


CHANGES: dict[str, Change] = {
    "nothing (the same bytes)": lambda data, number, rng: None,
    "report id": _report_id,
    "subject id": _fields("id"),
    "name": _fields("full_name", "last_name"),
    "email and phone": _fields("email", "phone"),
    "address": _address,
    "subject's dates": _dates("subject", "dob", "registration_submitted", "created_at"),
    "connection dates": _dates("connection", "connected_at", "status_updated_at"),
    "input digest": _digest,
    "liveness score": _score,
    "another subject (all of the above)": _subject,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=40, help="renders per kind of change")
    args = parser.parse_args()

    import typst

    fonts = typst.Fonts(include_system_fonts=False, font_paths=[str(typst_process.FONTS_DIR)])
    root = typst_process.TEMPLATES_DIR
    with tempfile.TemporaryDirectory() as empty:
        compiler, standards = typst_process._compiler(typst, fonts, root, "v2", empty)
        blank = typst.Compiler(root=str(root), font_paths=fonts, ignore_system_fonts=True)
        data = json.loads((FIXTURE / "clean_pass.json").read_text(encoding="utf-8"))
        data["meta"]["template_version"] = "v2"
        timestamp = int(GENERATED.timestamp())
        print(f"CPU ms per render of 'clean_pass' (template v2), median of {args.renders}:")
        for label, change in CHANGES.items():
            rng, costs = random.Random(2026), []
            for number in range(WARMUP + args.renders):
                report = copy.deepcopy(data)
                change(report, number, rng)
                started = time.process_time()
                compiler.compile(json.dumps(report), standards, timestamp)
                costs.append(time.process_time() - started)
                typst_process._forget_older_renders(blank)
            print(f"  {label:<36} {statistics.median(costs[WARMUP:]) * 1000:6.1f}")


if __name__ == "__main__":
    main()
