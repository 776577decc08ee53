"""The code that runs inside a render process (kept small: it is all the child imports).

Isolation: the process has an address-space limit; it reaches no network (its own network
namespace where the host allows one, and in any case every HTTP(S) proxy variable points at a
closed local port, so Typst's package downloader fails at once); Typst's root is a private copy
of the templates folder (mode 0700, one per compiler, see `TemplateCompiler`) and its package
folders are an empty directory (so a template can read nothing but the templates and its own
render's data, and import no package); only the shipped fonts are loaded (no system fonts); and
data arrives as JSON text, in a file of that private root that exists only while its render runs
(v2) or through `sys.inputs` (v1), which templates insert as data, never as code.
"""

from __future__ import annotations

import ctypes
import fcntl
import io
import json
import os
import re
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqr_reports.rendering.pipe import Pipe

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
PROTOCOL = "sqr-render/3"
#: The longest failure description a render process sends back (it ends in a job's message).
MAX_ERROR = 500


def main(argv: list[str] | None = None) -> None:
    """A render process: `python -P -m sqr_reports.rendering MEMORY_LIMIT_MIB TEMPLATES_DIR
    EMPTY_DIR`, as the pool starts it (`typst_renderer`), speaking frames (`pipe`) on its stdin
    and stdout. It imports this module and Typst, never the service that started it.
    """
    memory_limit_mib, templates_dir, empty_dir = sys.argv[1:] if argv is None else argv
    serve(Pipe.of_standard_streams(), int(memory_limit_mib), templates_dir, empty_dir)


def serve(
    pipe: Pipe,
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
    blank = typst.Compiler(root=str(root), font_paths=fonts, ignore_system_fonts=True)
    # Limited, isolated and loaded: the parent may send work (and may check what was imported).
    pipe.send({"ready": PROTOCOL, "modules": sorted(sys.modules)})
    # One compiler per version: Typst caches between compiles.
    compilers: dict[str, tuple[Any, list[str]]] = {}
    while True:
        try:
            request, data = pipe.recv()
        except (EOFError, KeyboardInterrupt):
            return
        request_id, version, timestamp = request["id"], request["version"], request["timestamp"]
        data_json = data.decode()
        try:
            if version not in compilers:
                compilers[version] = _compiler(typst, fonts, root, version, empty_dir)
        except Exception as exc:  # a broken template folder fails its renders, not the process
            _answer(pipe, request_id, ("failed", _described(exc), 0))
            continue
        compiler, standards = compilers[version]
        _answer(pipe, request_id, _render(typst, compiler, standards, data_json, timestamp))
        _forget_older_renders(blank)


def _answer(pipe: Pipe, request_id: str, outcome: tuple[str, Any, int]) -> None:
    """Send a render's outcome. Every answer names its request, so the parent can never take
    one job's PDF for another's."""
    result, payload, pages = outcome
    if result == "ok":
        pipe.send({"id": request_id, "outcome": result, "pages": pages}, payload)
    else:
        pipe.send({"id": request_id, "outcome": result, "message": payload})


#: typst-py ages Typst's memoisation cache (comemo) after every compile and drops what none of
#: the last 10 compiles used (`comemo::evict(10)`). Every report has data of its own, so that
#: kept ten reports' layouts: a render process grew to 260 MiB and more.
_CACHE_KEEPS_COMPILES = 10


def _forget_older_renders(blank: Any) -> None:
    """Age Typst's cache with compiles of an empty document (0.1 ms each), so that it drops
    what the last render did not use and keeps what it did, for the next render to reuse."""
    for _ in range(_CACHE_KEEPS_COMPILES - 1):
        try:
            blank.compile(input=b"", format="pdf")
        except Exception:  # the pool's memory ceiling still retires a process that grows
            return


#: Where a template whose manifest says `"data": "file"` reads the report data (from its root).
DATA_FILE = "input/report-data.json"
#: The folder name of every private root (see `_private_root`); the process id follows it.
ROOT_PREFIX = "sqr-render-root-"
#: An unlocked private root younger than this may be one whose process is still setting it up.
_ABANDONED_AFTER_SECONDS = 60.0


def _compiler(
    typst: Any, fonts: Any, root: Path, version: str, empty_dir: str
) -> tuple[TemplateCompiler, list[str]]:
    """One template version's compiler, with a private root of its own (`TemplateCompiler`)."""
    private, lock = _private_root(root)
    compiler = typst.Compiler(
        str(private / version / "report.typ"),
        root=str(private),
        font_paths=fonts,
        ignore_system_fonts=True,
        package_path=empty_dir or None,
        package_cache_path=empty_dir or None,
    )
    data_file = private / DATA_FILE if reads_data_file(private / version) else None
    return TemplateCompiler(compiler, data_file, lock), pdf_standards(private / version)


class TemplateCompiler:
    """A template version's Typst compiler, and the way the report data reaches it.

    Typst's root is a private copy of the templates folder, made for this compiler alone. A
    template whose manifest says `"data": "file"` reads the data from `DATA_FILE` there: written
    before each compile, removed after it, so it exists only while its own render runs, and no
    other render process can reach it (its root is another folder). Data in `sys.inputs` (older
    templates) would become part of Typst's standard library, and a new library makes Typst
    evaluate and lay out everything again, where a file lets it reuse whatever did not change.
    """

    def __init__(self, compiler: Any, data_file: Path | None, lock: int) -> None:
        self._compiler = compiler
        self._data_file = data_file
        self._lock = lock  # held open: it marks the private root as in use (see `_private_root`)

    def compile(self, data_json: str, standards: list[str], timestamp: int) -> bytes:
        if self._data_file is None:
            return self._compile(standards, timestamp, sys_inputs={"data": data_json})
        if not self._data_file.parent.is_dir():
            # The private root was removed under this process (a temp-directory cleaner that
            # ignores its lock). No render can succeed here any more, and failing them would
            # fail their jobs for good: the process ends instead, so the pool replaces it (with
            # a new root) and the job is retried.
            sys.exit(f"render process {os.getpid()}: its private root is gone")
        data = data_json.encode("utf-8")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
        with open(os.open(self._data_file, flags, 0o600), "wb") as file:
            file.write(data)
        try:
            # No `sys_inputs`: the compiler keeps its own (none). Given any, even none, typst-py
            # builds Typst's standard library again for the compile: about 4% of a render.
            return self._compile(standards, timestamp)
        finally:
            self._data_file.unlink(missing_ok=True)

    def _compile(
        self, standards: list[str], timestamp: int, sys_inputs: dict[str, str] | None = None
    ) -> bytes:
        inputs = {} if sys_inputs is None else {"sys_inputs": sys_inputs}
        pdf: bytes = self._compiler.compile(
            format="pdf", pdf_standards=standards, timestamp=timestamp, **inputs
        )
        return pdf


def _private_root(templates_dir: Path) -> tuple[Path, int]:
    """A new folder, private to this process (mode 0700), holding a copy of the templates and
    an empty `input` folder; and an open descriptor that holds a lock on it.

    The pool kills render processes (to recycle them, or when a render overruns), so a process
    cannot remove its own root: the next one to start removes every root whose lock no process
    holds any more, with whatever data a killed render left in it.
    """

    base = Path(tempfile.gettempdir())
    _remove_abandoned_roots(base)
    root = Path(tempfile.mkdtemp(prefix=f"{ROOT_PREFIX}{os.getpid()}-", dir=base))
    lock = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(lock, fcntl.LOCK_EX)  # waits while a starting process checks it (see below)
    shutil.copytree(templates_dir, root, dirs_exist_ok=True)
    root.chmod(0o700)  # copytree gave it the templates folder's mode
    (root / DATA_FILE).parent.mkdir(mode=0o700)
    return root, lock


def _remove_abandoned_roots(base: Path) -> None:
    """Remove the private roots whose process is gone: no process holds their lock."""

    for root in base.glob(f"{ROOT_PREFIX}*"):
        try:
            lock = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue  # not a folder, or gone meanwhile
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # Unlocked: abandoned, unless it is so new that its process has yet to lock it.
            if time.time() - os.fstat(lock).st_mtime > _ABANDONED_AFTER_SECONDS:
                shutil.rmtree(root, ignore_errors=True)
        except OSError:
            pass  # locked: a live render process's root
        finally:
            os.close(lock)


def _manifest(version_dir: Path) -> dict[str, Any] | None:
    """A template version's manifest.json, or None for a version without one (v1)."""
    manifest = version_dir / "manifest.json"
    if not manifest.is_file():
        return None
    content = json.loads(manifest.read_text(encoding="utf-8"))
    if not isinstance(content, dict):
        raise ValueError(f"{manifest}: must be a JSON object")
    return content


def pdf_standards(version_dir: Path) -> list[str]:
    """The PDF standards a template version is exported to: its manifest.json says.

    A template's standard belongs to the template (v2's PDF/A-3 attachment would break a PDF/A-2
    export), so it lives in the version folder rather than in code or settings.
    """
    manifest = _manifest(version_dir)
    if manifest is None:
        return list(DEFAULT_PDF_STANDARDS)
    standards = manifest.get("pdf_standards")
    if not isinstance(standards, list) or not all(isinstance(s, str) for s in standards):
        raise ValueError(f"{version_dir}/manifest.json: pdf_standards must be a list of strings")
    return standards


def reads_data_file(version_dir: Path) -> bool:
    """Whether a template version reads the report data from `DATA_FILE` (its manifest's
    `"data": "file"`) rather than from `sys.inputs.data` (the default, and v1's way)."""
    way = (_manifest(version_dir) or {}).get("data", "sys.inputs")
    if way not in ("file", "sys.inputs"):
        raise ValueError(f"{version_dir}/manifest.json: data must be 'file' or 'sys.inputs'")
    return bool(way == "file")


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
    typst: Any,
    compiler: TemplateCompiler,
    standards: list[str],
    data_json: str,
    timestamp: float,
) -> tuple[str, Any, int]:
    try:
        # Whole seconds: Typst rejects sub-second timestamps.
        pdf = compiler.compile(data_json, standards, int(timestamp))
    except typst.TypstError as exc:
        return ("failed", str(getattr(exc, "message", exc))[:MAX_ERROR], 0)
    except Exception as exc:  # the process must survive any one bad render
        return ("failed", _described(exc), 0)
    return ("ok", pdf, _page_count(pdf))


def _page_count(pdf: bytes) -> int:
    """The number of pages: the page tree's /Count (microseconds), or, for a PDF that is not
    laid out as Typst lays it out, pypdf's count (2.7 ms for a report)."""
    count = page_tree_count(pdf)
    if count is not None:
        return count
    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(pdf)).pages)


def page_tree_count(pdf: bytes) -> int | None:
    """The /Count of the page tree of a PDF with one classic cross-reference table (as Typst
    writes it), or None. Only objects the table points at are read, never a search of the
    file, so no text or attachment inside the document can be taken for them."""

    end = re.search(rb"startxref\s+(\d+)\s+%%EOF\s*\Z", pdf[-64:])
    table = int(end[1]) if end else -1
    if not pdf.startswith(b"xref", table):
        return None
    sections = []  # (first object number, entries, offset of the first entry): 20 bytes each
    at = table + len(b"xref")
    while section := re.compile(rb"\s*(\d+) (\d+)[ \t]*\r?\n").match(pdf, at):
        sections.append((int(section[1]), int(section[2]), section.end()))
        at = section.end() + 20 * int(section[2])
    trailer = re.compile(rb"\s*trailer\s*<<(.*?)>>\s*startxref", re.DOTALL).match(pdf, at)
    if trailer is None or b"/Prev" in trailer[1]:  # /Prev: an incremental update
        return None
    root = re.search(rb"/Root\s*(\d+)\s+\d+\s+R", trailer[1])
    catalog = _pdf_object(pdf, sections, int(root[1])) if root else None
    if catalog is None or not re.search(rb"/Type\s*/Catalog\b", catalog):
        return None
    pages_ref = re.search(rb"/Pages\s*(\d+)\s+\d+\s+R", catalog)
    pages = _pdf_object(pdf, sections, int(pages_ref[1])) if pages_ref else None
    if pages is None or not re.search(rb"/Type\s*/Pages\b", pages):
        return None
    count = re.search(rb"/Count\s*(\d+)", pages)
    return int(count[1]) if count else None


def _pdf_object(pdf: bytes, sections: list[tuple[int, int, int]], number: int) -> bytes | None:
    """The body of a dictionary object, from its cross-reference entry; None for a stream."""

    for first, entries, offset in sections:
        if first <= number < first + entries:
            entry = re.compile(rb"(\d{10}) \d{5} n").match(pdf, offset + 20 * (number - first))
            header = entry and re.compile(rb"%d\s+\d+\s+obj\b" % number).match(pdf, int(entry[1]))
            stop = pdf.find(b"endobj", header.end()) if header else -1
            body = pdf[header.end() : stop] if header and stop > 0 else b""
            return body if body and b"stream" not in body else None
    return None


def _described(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR]
