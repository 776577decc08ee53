"""The two lock files pin the same versions, and cover what pyproject.toml asks for."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).parent.parent
_PIN = re.compile(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^\s\\]+)", re.MULTILINE)


def _pins(name: str) -> dict[str, str]:
    text = (ROOT / name).read_text(encoding="utf-8")
    return {_normal(package): version for package, version in _PIN.findall(text)}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(extra: str | None = None) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = project["optional-dependencies"][extra] if extra else project["dependencies"]
    return {_normal(re.split(r"[\[<>=!~ ;]", spec, maxsplit=1)[0]) for spec in specs}


def test_runtime_lock_pins_the_same_versions_as_the_full_lock() -> None:
    runtime, full = _pins("requirements-runtime.lock"), _pins("requirements.lock")

    assert runtime
    assert {name: full.get(name) for name in runtime} == runtime


def test_locks_cover_every_declared_dependency() -> None:
    runtime, full = _pins("requirements-runtime.lock"), _pins("requirements.lock")

    assert _requirements() <= set(runtime)
    assert _requirements() | _requirements("dev") <= set(full)
    assert not {"pytest", "mypy", "ruff", "moto"} & set(runtime)
