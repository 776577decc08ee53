"""Recompute `meta.input_sha256` of the hand-written report-data fixtures after editing them.

The fixtures in tests/fixtures/report_data are report data written by hand (hostile input,
scripts, layouts); their digest must still be the one the service would compute from their
subject data, or the report's integrity block would print a false digest. A test checks it.

    .venv/bin/python scripts/fixture_digests.py
"""

from __future__ import annotations

import json
from pathlib import Path

from sqr_reports.reports.document import DIGEST_KEYS, input_digest

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "report_data"


def main() -> None:
    for path in sorted(FIXTURES.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        digest = input_digest({key: data.get(key) for key in DIGEST_KEYS})
        if data["meta"].get("input_sha256") != digest:
            data["meta"]["input_sha256"] = digest
            path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", "utf-8")
            print(f"{path.name}: digest updated")


if __name__ == "__main__":
    main()
