"""The documentation pages' scripts, styles and licences, bundled from npm packages.

Each file is pinned by its SHA-256: `scripts/docs_assets.py` downloads the pinned package with
`npm pack`, checks every file against these digests and copies them into `static/<package>/`;
`tests/test_api_docs.py` checks the copies. To move to another version, see static/README.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"

JS = "text/javascript; charset=utf-8"
CSS = "text/css; charset=utf-8"
PNG = "image/png"
TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class BundledFile:
    name: str
    #: Where the file is in the npm tarball.
    source: str
    sha256: str
    media_type: str


@dataclass(frozen=True)
class BundledPackage:
    npm: str
    version: str
    license: str
    files: tuple[BundledFile, ...]

    @property
    def folder(self) -> Path:
        """Where the copies are (named without the version, so an update is a plain diff)."""
        return STATIC / self.npm

    @property
    def url_segment(self) -> str:
        """`swagger-ui-dist@5.35.0`: asset URLs carry the version, so they can be cached forever."""
        return f"{self.npm}@{self.version}"

    def file(self, name: str) -> BundledFile:
        return next(file for file in self.files if file.name == name)


SWAGGER_UI = BundledPackage(
    npm="swagger-ui-dist",
    version="5.35.0",
    license="Apache-2.0",
    files=(
        BundledFile(
            "swagger-ui-bundle.js",
            "package/swagger-ui-bundle.js",
            "e6a898692f2d768e807c3ba4626068a69a2c5dd960dd6c76f3e4d3a3de180af2",
            JS,
        ),
        BundledFile(
            "swagger-ui.css",
            "package/swagger-ui.css",
            "5ed08757e53da3e026d6cbecc61fe5d43585c9560b302d534ad56692519a273d",
            CSS,
        ),
        BundledFile(
            "favicon-32x32.png",
            "package/favicon-32x32.png",
            "3ed612f41e050ca5e7000cad6f1cbe7e7da39f65fca99c02e99e6591056e5837",
            PNG,
        ),
        BundledFile(
            "swagger-ui-bundle.js.LICENSE.txt",
            "package/swagger-ui-bundle.js.LICENSE.txt",
            "37eb6e7e59aed57b2c1acf076574b818ea07b74265717e0bd67b59e0baf9abbb",
            TEXT,
        ),
        BundledFile(
            "LICENSE",
            "package/LICENSE",
            "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30",
            TEXT,
        ),
        BundledFile(
            "NOTICE",
            "package/NOTICE",
            "0d20d1adef18aee3f40dd258172155521ce702ac445cb5f7b7d60ed32dad2fb2",
            TEXT,
        ),
    ),
)

REDOC = BundledPackage(
    npm="redoc",
    version="2.5.4",
    license="MIT",
    files=(
        BundledFile(
            "redoc.standalone.js",
            "package/bundles/redoc.standalone.js",
            "dcaf76612bc4a3fbcc923a8966dee2f6146a5f32e5ce1b6f02dd60cbbf89500b",
            JS,
        ),
        BundledFile(
            "redoc.standalone.js.LICENSE.txt",
            "package/bundles/redoc.standalone.js.LICENSE.txt",
            "eed602ec32e00b2b9df1984fbcc26a687b1b3193ec01961389c4b8439e6edf73",
            TEXT,
        ),
        BundledFile(
            "LICENSE",
            "package/LICENSE",
            "d3026d549cf68ab7355bcfa85877bf8f845b3334a7efbfdc63936432fb34ff0e",
            TEXT,
        ),
    ),
)

PACKAGES = (SWAGGER_UI, REDOC)
