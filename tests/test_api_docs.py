"""/docs and /redoc work offline: the service serves their scripts, and they name no other host."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from sqr_reports.apidocs.bundled import PACKAGES, REDOC, STATIC, SWAGGER_UI
from tests.fakes import FakeRenderer

ROOT = Path(__file__).parent.parent
PAGES = ["/docs", "/redoc"]
#: Where FastAPI's own pages load from (and Redoc's sidebar logo).
OUTSIDE_HOSTS = [
    "cdn.jsdelivr.net", "unpkg.com", "fonts.googleapis.com", "fonts.gstatic.com", "cdn.redoc.ly",
    "fastapi.tiangolo.com", "validator.swagger.io",
]  # fmt: skip
#: Content type and least size of what the pages load, by file name extension.
ASSET_TYPES = {
    ".js": ("text/javascript; charset=utf-8", 500_000),
    ".css": ("text/css; charset=utf-8", 50_000),
    ".png": ("image/png", 300),
}
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def renderer() -> FakeRenderer:
    """No report is rendered here."""
    return FakeRenderer()


class _Page(HTMLParser):
    """The URLs a page loads (src, href, Redoc's spec-url) and the text of its inline scripts."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[str] = []
        self._script: list[str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.urls += [v for k, v in found.items() if k in {"src", "href", "spec-url"} and v]
        if tag == "script" and "src" not in found:
            self._script = []

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.inline_scripts.append("".join(self._script))
            self._script = None


def _policy(header: str) -> dict[str, list[str]]:
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


@pytest.mark.parametrize("page", PAGES)
async def test_the_page_names_no_other_host(http: httpx.AsyncClient, page: str) -> None:
    answer = await http.get(page)

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert "http://" not in answer.text
    assert "https://" not in answer.text
    assert [host for host in OUTSIDE_HOSTS if host in answer.text] == []
    urls = _Page(answer.text).urls
    assert urls  # the parser still finds them
    assert [url for url in urls if not url.startswith("/") or url.startswith("//")] == []


async def test_every_asset_the_pages_load_is_served(http: httpx.AsyncClient) -> None:
    urls = {url for page in PAGES for url in _Page((await http.get(page)).text).urls}
    assets = sorted(urls - {"/openapi.json"})
    assert {url.rsplit("/", 1)[1] for url in assets} == {
        "swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "redoc.standalone.js",
    }  # fmt: skip

    for url in assets:
        answer = await http.get(url)
        media_type, least = ASSET_TYPES[Path(url).suffix]
        assert answer.status_code == 200, url
        assert answer.headers["content-type"] == media_type, url
        assert len(answer.content) >= least, url
        assert answer.headers["x-content-type-options"] == "nosniff"
        # The URL names the version (a new one is a new URL), so it may be kept for a year.
        assert "immutable" in answer.headers["cache-control"]
        assert f"{SWAGGER_UI.npm}@{SWAGGER_UI.version}" in url or f"@{REDOC.version}" in url


async def test_openapi_json_is_still_served(http: httpx.AsyncClient) -> None:
    answer = await http.get("/openapi.json")

    assert answer.status_code == 200
    paths = answer.json()["paths"]
    assert "/v1/document/api" in paths
    assert [path for path in paths if path.startswith(("/docs", "/redoc"))] == []


@pytest.mark.parametrize("page", [*PAGES, "/docs/oauth2-redirect"])
async def test_the_pages_allow_their_own_origin_only(http: httpx.AsyncClient, page: str) -> None:
    answer = await http.get(page)
    policy = _policy(answer.headers["content-security-policy"])
    scripts = _Page(answer.text).inline_scripts
    digests = (hashlib.sha256(script.encode()).digest() for script in scripts)
    hashes = {f"'sha256-{base64.b64encode(digest).decode()}'" for digest in digests}

    assert answer.headers["x-content-type-options"] == "nosniff"
    assert policy["default-src"] == ["'none'"]
    # Inline scripts run only if the policy names their digest; nothing else inline, no eval.
    assert set(policy["script-src"]) == {"'self'", *hashes}
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["font-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "http" not in answer.headers["content-security-policy"]


async def test_swagger_uis_oauth2_redirect_page_is_served(http: httpx.AsyncClient) -> None:
    docs = (await http.get("/docs")).text
    answer = await http.get("/docs/oauth2-redirect")

    assert "oauth2RedirectUrl: window.location.origin + '/docs/oauth2-redirect'" in docs
    assert answer.status_code == 200
    assert "swaggerUIRedirectOauth2" in answer.text


@pytest.mark.parametrize(
    "url",
    [
        f"/docs-assets/{SWAGGER_UI.url_segment}/index.html",  # in the package, not bundled
        f"/docs-assets/{SWAGGER_UI.npm}@5.0.0/swagger-ui.css",  # another version
        f"/docs-assets/{REDOC.url_segment}/swagger-ui.css",  # another package's file
        f"/docs-assets/{REDOC.url_segment}/..%2F..%2Fbundled.py",
        f"/docs-assets/{REDOC.url_segment}/bundled.py",
        "/docs-assets/README.md",
    ],
)
async def test_only_the_bundled_files_are_served(http: httpx.AsyncClient, url: str) -> None:
    answer = await http.get(url)

    assert answer.status_code == 404
    assert answer.json()["error"] == "NOT_FOUND"


def test_the_bundled_files_are_the_pinned_ones() -> None:
    readme = (STATIC / "README.md").read_text()
    note = (ROOT / "README.md").read_text()
    assert f"Swagger UI {SWAGGER_UI.version} and Redoc {REDOC.version}" in note
    for package in PACKAGES:
        assert f"{package.npm}@{package.version}" in readme
        for file in package.files:
            digest = hashlib.sha256((package.folder / file.name).read_bytes()).hexdigest()
            assert digest == file.sha256, f"{package.npm}/{file.name}: run scripts/docs_assets.py"
            assert file.sha256 in readme, f"{package.npm}/{file.name}: not in static/README.md"


def test_a_built_package_carries_the_bundled_files() -> None:
    """The package-data patterns of pyproject.toml take every bundled file into a wheel."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = setuptools["package-data"]["sqr_reports"]
    taken = {path for pattern in patterns for path in (ROOT / "src" / "sqr_reports").glob(pattern)}
    bundled = {package.folder / file.name for package in PACKAGES for file in package.files}

    assert bundled <= taken
    assert STATIC / "README.md" in taken


@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium (apt-get install chromium) for the real-browser check",
)
def test_the_pages_render_in_a_real_browser(tmp_path: Path) -> None:
    """scripts/check_docs_pages.py: `sqr-reports serve`, headless Chromium, no outside request."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_docs_pages.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    for page in PAGES:
        assert (tmp_path / f"{page.strip('/')}.png").stat().st_size > 20_000
