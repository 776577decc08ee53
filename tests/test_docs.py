"""The documents an operator follows name only settings and commands that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sqr_reports.cli import main
from sqr_reports.config import Settings
from tests.support import setting_names

ROOT = Path(__file__).parent.parent
DOCUMENTS = [
    ROOT / "README.md", ROOT / ".env.example", ROOT / "compose.yaml", ROOT / "Dockerfile",
    *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "docs" / "adr").glob("*.md")),
]  # fmt: skip
#: Read by the test suite and the proof suites (`proofs/`), not by the service.
TEST_VARIABLES = {
    "SQR_REPORTS_TEST_DATABASE_URL", "SQR_REPORTS_TEST_S3_ENDPOINT",
    "SQR_REPORTS_FUZZ_DATABASE_URL", "SQR_REPORTS_FUZZ_EXAMPLES", "SQR_REPORTS_FUZZ_SCENARIOS",
    "SQR_REPORTS_FUZZ_STEPS",
}  # fmt: skip
#: Read by the Python SDK and `sqr-reports fetch` (an API client's settings), not by the service.
CLIENT_VARIABLES = {"SQR_REPORTS_URL", "SQR_REPORTS_CLIENT_ID", "SQR_REPORTS_CLIENT_SECRET"}
_COMMAND = re.compile(r"(?:^|[`$]\s?)sqr-reports ((?:[a-z][a-z-]*)(?: [a-z][a-z-]*)?)", re.M)


def _mentioned(pattern: re.Pattern[str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for document in DOCUMENTS:
        for match in pattern.finditer(document.read_text()):
            found.setdefault(match.group(1), set()).add(document.name)
    return found


def test_every_setting_the_documents_name_exists() -> None:
    named = _mentioned(re.compile(r"\b(SQR_REPORTS_[A-Z0-9_]+[A-Z0-9](?:_?\*)?)"))
    known = setting_names(Settings) | TEST_VARIABLES | CLIENT_VARIABLES

    unknown = {name: where for name, where in named.items() if not _exists(name, known)}
    assert unknown == {}
    assert len(named) > 20  # the pattern still finds them


def _exists(name: str, known: set[str]) -> bool:
    """A name, or a family written `SQR_REPORTS_AUTH__ARGON2_*`, or a group (`..._STORAGE`)."""
    stem = name.rstrip("*")
    if stem != name or stem + "__" in {k[: len(stem) + 2] for k in known}:
        return any(k.startswith(stem) for k in known)
    return name in known


@pytest.mark.parametrize("command", sorted(_mentioned(_COMMAND)))
def test_every_command_the_documents_show_exists(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    words = command.split()
    with pytest.raises(SystemExit) as exit_:
        main([*words, "--help"])
    if exit_.value.code != 0 and len(words) == 2:  # the second word was prose, not a subcommand
        with pytest.raises(SystemExit) as exit_:
            main([words[0], "--help"])
    assert exit_.value.code == 0, capsys.readouterr().err
