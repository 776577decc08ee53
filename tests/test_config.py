"""Settings: `.env.example` documents every setting, with its true default."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqr_reports.config import Settings
from tests.support import setting_names

EXAMPLE = Path(__file__).parent.parent / ".env.example"


def test_env_example_lists_every_setting() -> None:
    listed = {
        line.split("=", 1)[0]
        for line in EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    }

    assert listed == setting_names(Settings)


def test_env_example_values_are_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_env: None
) -> None:
    monkeypatch.chdir(tmp_path)
    defaults = Settings().model_dump()
    (tmp_path / ".env").write_text(EXAMPLE.read_text())

    assert Settings().model_dump() == defaults


def test_empty_variables_mean_the_default_not_an_empty_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, no_env: None
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SQR_REPORTS_STORAGE__URL_SIGNING_KEY", "")

    assert Settings().storage.url_signing_key is None
