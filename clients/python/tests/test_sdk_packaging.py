"""The SDK stands alone: it imports only the standard library and httpx (never the service),
and declares exactly that."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

import sqr_reports_client

PROJECT = Path(__file__).parent.parent
PACKAGE = PROJECT / "src" / "sqr_reports_client"


def _top_level_imports(source: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_package_imports_only_the_standard_library_and_httpx() -> None:
    imported = set().union(*(_top_level_imports(path) for path in PACKAGE.rglob("*.py")))
    outside = imported - sys.stdlib_module_names - {"__future__", "sqr_reports_client"}
    assert outside == {"httpx"}


def test_the_distribution_declares_httpx_alone_and_ships_its_types() -> None:
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == "sqr-reports-client"
    assert project["dependencies"] == ["httpx>=0.27"]
    assert project["requires-python"] == ">=3.11"
    assert project["version"] == sqr_reports_client.__version__
    assert (PACKAGE / "py.typed").exists()
