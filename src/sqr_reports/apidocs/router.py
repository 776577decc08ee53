"""`/docs` (Swagger UI), `/redoc` (Redoc) and their assets, all served by the service itself.

FastAPI's own pages load Swagger UI and Redoc from public CDNs (and Redoc's fonts from Google
Fonts): blank without internet, and a third party in every visit. These are the same pages
(FastAPI's `get_swagger_ui_html` and `get_redoc_html`) pointed at the copies in `static/`, with a
Content-Security-Policy that lets them load nothing from any other host.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse

from sqr_reports.apidocs.bundled import PACKAGES, REDOC, SWAGGER_UI, BundledPackage
from sqr_reports.apidocs.document import complete
from sqr_reports.errors import NotFound

DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
ASSETS_PATH = "/docs-assets"

#: Asset URLs name the package's version: a new version is a new URL, so a year is safe.
ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable"
#: Swagger UI would otherwise show a badge image from validator.swagger.io (the standalone
#: layout does; ours does not, but say so rather than rely on it).
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}

_SCRIPT = re.compile(r"<script(?P<attributes>[^>]*)>(?P<body>.*?)</script>", re.DOTALL)
_ASSETS = {
    (package.url_segment, file.name): package for package in PACKAGES for file in package.files
}

router = APIRouter(include_in_schema=False)


@router.get(DOCS_PATH)
async def swagger_ui(request: Request) -> HTMLResponse:
    root = _root_path(request)
    page = get_swagger_ui_html(
        openapi_url=root + request.app.openapi_url,
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=asset_url(root, SWAGGER_UI, "swagger-ui-bundle.js"),
        swagger_css_url=asset_url(root, SWAGGER_UI, "swagger-ui.css"),
        swagger_favicon_url=asset_url(root, SWAGGER_UI, "favicon-32x32.png"),
        oauth2_redirect_url=root + OAUTH2_REDIRECT_PATH,
        init_oauth=request.app.swagger_ui_init_oauth,
        swagger_ui_parameters=SWAGGER_UI_PARAMETERS | (request.app.swagger_ui_parameters or {}),
    )
    return secured(page)


@router.get(OAUTH2_REDIRECT_PATH)
async def swagger_ui_oauth2_redirect() -> HTMLResponse:
    return secured(get_swagger_ui_oauth2_redirect_html())


@router.get(REDOC_PATH)
async def redoc(request: Request) -> HTMLResponse:
    root = _root_path(request)
    page = get_redoc_html(
        openapi_url=root + request.app.openapi_url,
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=asset_url(root, REDOC, "redoc.standalone.js"),
        # Redoc's package has no icon: the same one as /docs.
        redoc_favicon_url=asset_url(root, SWAGGER_UI, "favicon-32x32.png"),
        # The standalone bundle loads no font itself; only this <link> to Google Fonts would.
        # Redoc falls back to the reader's own sans-serif and monospace fonts.
        with_google_fonts=False,
    )
    return secured(page)


@router.get(ASSETS_PATH + "/{package}/{name}")
async def asset(package: str, name: str) -> FileResponse:
    """A bundled file, by the exact name the pin lists: nothing else under static/ is served."""
    found = _ASSETS.get((package, name))
    if found is None:
        raise NotFound("No such documentation asset.")
    return FileResponse(
        found.folder / name,
        media_type=found.file(name).media_type,
        headers={"Cache-Control": ASSET_CACHE_CONTROL, "X-Content-Type-Options": "nosniff"},
    )


def serve_complete_document(app: FastAPI, *, server_url: str) -> None:
    """`/openapi.json` (and so the pages) as `document.complete` finishes FastAPI's document.

    FastAPI builds its document once and keeps it; completing it is idempotent and costs a walk
    over the operations, so it is done on every request rather than kept in a second copy.
    """
    built = app.openapi

    def completed() -> dict[str, Any]:
        return complete(built(), server_url=server_url)

    # FastAPI's documented way to extend its document: replace the app's `openapi` method.
    app.openapi = completed  # type: ignore[method-assign]


def asset_url(root: str, package: BundledPackage, name: str) -> str:
    return f"{root}{ASSETS_PATH}/{package.url_segment}/{package.file(name).name}"


def secured(page: HTMLResponse) -> HTMLResponse:
    """The page with a Content-Security-Policy that allows its own origin only.

    * Scripts: the bundled files, plus the page's inline scripts by their SHA-256 (Swagger UI's
      page starts it with an inline script; the OAuth2 redirect page is one). A hash, not
      'unsafe-inline' nor a nonce: the pages are the same for every request, and a script
      injected into one would not match.
    * Styles: 'unsafe-inline' is unavoidable: Swagger UI sets style attributes and Redoc
      (styled-components) writes <style> elements at run time. Styles run no code, and with
      every other fetch limited to 'self' they cannot send anything elsewhere either.
    * Images: 'self' and data: (the stylesheets' icons are data: URIs). Redoc's sidebar
      footer shows Redocly's logo from their CDN: the policy blocks it (the logo hides itself).
    * Workers: blob: (Redoc's search index runs in a worker built from a Blob of its bundle).
    """
    hashes = [
        "'sha256-{}'".format(
            base64.b64encode(hashlib.sha256(match["body"].encode()).digest()).decode()
        )
        for match in _SCRIPT.finditer(bytes(page.body).decode())
        if "src=" not in match["attributes"]
    ]
    policy = [
        "default-src 'none'",
        " ".join(["script-src 'self'", *hashes]),
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "worker-src blob:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
    page.headers["Content-Security-Policy"] = "; ".join(policy)
    page.headers["X-Content-Type-Options"] = "nosniff"
    page.headers["Referrer-Policy"] = "no-referrer"
    return page


def _root_path(request: Request) -> str:
    """The prefix the app is mounted under behind a proxy (as FastAPI's own pages use it)."""
    return str(request.scope.get("root_path", "")).rstrip("/")
