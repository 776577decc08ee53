"""The code that runs inside a render process (kept small: it is all the child imports).

Isolation: the process has an address-space limit; it reaches no network (its own network
namespace where the host allows one, and in any case every HTTP(S) proxy variable points at a
closed local port, so Typst's package downloader fails at once); Typst's root is the templates
folder and its package folders are an empty directory (so a template can read nothing but the
templates, and import no package); only the shipped fonts are loaded (no system fonts); and data
arrives through `sys.inputs` as JSON text, which templates insert as data, never as code.
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import resource
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

TEMPLATES_DIR = Path(__file__).parent / "templates"
FONTS_DIR = Path(__file__).parent / "fonts"
#: The standard of a template folder without a manifest.json (v1 predates manifests).
DEFAULT_PDF_STANDARDS = ("a-2b",)
#: Where Typst's package downloader is sent instead of the network: a closed local port.
NO_PROXY_TARGET = "http://127.0.0.1:9"
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")
_CLONE_NEWUSER, _CLONE_NEWNET = 0x10000000, 0x40000000
#: The greeting names the pipe protocol: a worker whose render code changed on disk under it (an
#: in-place upgrade) gets a clear error instead of misreading a newer process's answers.
PROTOCOL = "sqr-render/2"
READY = ("ready", PROTOCOL)
#: The longest failure description a render process sends back (it ends in a job's message).
MAX_ERROR = 500


def serve(
    connection: Connection,
    memory_limit_mib: int,
    templates_dir: str = str(TEMPLATES_DIR),
    empty_dir: str = "",
) -> None:
    """Render requests from the pipe until it closes.

    `empty_dir` (an empty directory owned by the parent) stands in for Typst's package folders,
    so no local or cached package can be imported either.
    """
    if memory_limit_mib:
        limit = memory_limit_mib * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    isolate_network()
    import typst  # imported after the limit so the limit covers it

    fonts = typst.Fonts(include_system_fonts=False, font_paths=[str(FONTS_DIR)])
    root = Path(templates_dir)
    connection.send(READY)  # limited, isolated and loaded: the parent may send work
    # One compiler per version: Typst caches between compiles.
    compilers: dict[str, tuple[Any, list[str]]] = {}
    while True:
        try:
            request_id, version, data_json, timestamp = connection.recv()
        except (EOFError, KeyboardInterrupt):
            return
        try:
            if version not in compilers:
                compilers[version] = _compiler(typst, fonts, root, version, empty_dir)
        except Exception as exc:  # a broken template folder fails its renders, not the process
            connection.send((request_id, "failed", _described(exc), 0))
            continue
        compiler, standards = compilers[version]
        # Every answer names its request, so the parent can never take one job's PDF for another's.
        connection.send((request_id, *_render(typst, compiler, standards, data_json, timestamp)))


def _compiler(
    typst: Any, fonts: Any, root: Path, version: str, empty_dir: str
) -> tuple[Any, list[str]]:
    compiler = typst.Compiler(
        str(root / version / "report.typ"),
        root=str(root),
        font_paths=fonts,
        ignore_system_fonts=True,
        package_path=empty_dir or None,
        package_cache_path=empty_dir or None,
    )
    return compiler, pdf_standards(root / version)


def pdf_standards(version_dir: Path) -> list[str]:
    """The PDF standards a template version is exported to: its manifest.json says.

    A template's standard belongs to the template (v2's PDF/A-3 attachment would break a PDF/A-2
    export), so it lives in the version folder rather than in code or settings.
    """
    manifest = version_dir / "manifest.json"
    if not manifest.is_file():
        return list(DEFAULT_PDF_STANDARDS)
    standards = json.loads(manifest.read_text(encoding="utf-8")).get("pdf_standards")
    if not isinstance(standards, list) or not all(isinstance(s, str) for s in standards):
        raise ValueError(f"{manifest}: pdf_standards must be a list of strings")
    return standards


def isolate_network() -> bool:
    """Cut this process off the network; True when it got its own (empty) network namespace.

    A new user + network namespace has no interface but a down loopback, so nothing can be
    reached. Hosts that forbid unprivileged namespaces (many container runtimes) still get the
    proxy variables: Typst's downloader honours them and fails against a closed local port.
    """
    for name in _PROXY_VARIABLES:
        os.environ[name] = NO_PROXY_TARGET
    os.environ.pop("NO_PROXY", None)
    os.environ.pop("no_proxy", None)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) == 0)
    except (OSError, AttributeError):  # not Linux, or no unshare(2)
        return False


def _render(
    typst: Any, compiler: Any, standards: list[str], data_json: str, timestamp: float
) -> tuple[str, Any, int]:
    try:
        pdf = compiler.compile(
            format="pdf",
            sys_inputs={"data": data_json},
            pdf_standards=standards,
            timestamp=int(timestamp),  # whole seconds: Typst rejects sub-second timestamps
        )
    except typst.TypstError as exc:
        return ("failed", str(getattr(exc, "message", exc))[:MAX_ERROR], 0)
    except Exception as exc:  # the process must survive any one bad render
        return ("failed", _described(exc), 0)
    return ("ok", pdf, _page_count(pdf))


def _page_count(pdf: bytes) -> int:
    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(pdf)).pages)


def _described(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR]
