"""The peers of bench/render.py: WeasyPrint and Chromium rendering the HTML twin of the report,
each in processes of its own, and what /proc says about those processes (CPU, peak memory).

Both follow the engine protocol of bench/render.py: `start`, `render` (timed), `settle`
(untimed, inside the engine's CPU), `cpu`, `peak_mib`, `side_cpu` and `close`.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import json
import multiprocessing
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from report_html import report_html
from report_html_style import STYLE, font_faces

CHROMIUM = "/usr/bin/chromium"
#: Ours; Playwright adds its usual launch flags (and a pipe for its protocol) to them.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HARFBUZZ_HINT = "apt-get install libharfbuzz-subset0 (Debian/Ubuntu)"
ATTACHMENT_TEXT = "The report data this document was rendered from (JSON)"


class EngineUnavailable(Exception):
    """An engine that cannot be measured here; the message says why and what to install."""


@dataclass
class Rendered:
    pdf: bytes
    pages: int


# --- /proc ---------------------------------------------------------------------------------------


def _stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (field 3 on)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU of a process (and, with `children`, of its ended, reaped children)."""
    fields = _stat(pid)
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def process_tree(root: int) -> list[int]:
    """A process and all its descendants, from the parent ids in /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents.setdefault(int(_stat(int(entry.name))[1]), []).append(int(entry.name))
            except (OSError, IndexError):  # ended meanwhile
                continue
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += parents.get(pid, [])
    return tree


def tree_cpu_seconds(root: int) -> float:
    """The CPU of a process tree: every live member and the children they reaped."""
    total = 0.0
    for pid in process_tree(root):
        try:
            total += cpu_seconds(pid, children=True)
        except OSError:
            continue
    return total


def tree_pss_mib(root: int) -> float:
    """The proportional set size of a process tree (shared pages counted once in total)."""
    total = 0
    for pid in process_tree(root):
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        total += next(
            int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:")
        )
    return total / 1024


def describe_failure(exc: BaseException) -> str:
    """An engine's error in a line or two: its first line, and for a browser that would not
    start, the lines of its log that say why (Playwright appends the whole launch log)."""
    lines = [line.strip(" -") for line in str(exc).splitlines() if line.strip()]
    why = [line for line in lines[1:] if "[err]" in line or "exitCode" in line]
    return " | ".join([f"{type(exc).__name__}: {lines[0] if lines else ''}", *why[-3:]])[:600]


def harfbuzz_subset_missing() -> str | None:
    """Why WeasyPrint would run without HarfBuzz's subsetter here (found as WeasyPrint finds it)."""
    name = ctypes.util.find_library("harfbuzz-subset") or "libharfbuzz-subset.so.0"
    try:
        ctypes.CDLL(name)
    except OSError as exc:
        return (
            f"libharfbuzz-subset is missing ({exc}): WeasyPrint would embed whole fonts and "
            f"take about twice as long, which is not WeasyPrint at its best. {HARFBUZZ_HINT}"
        )
    return None


class WeasyPrintEngine:
    name = "WeasyPrint"

    def __init__(self) -> None:
        self.version, self.harfbuzz = "?", "not loaded"

    async def start(self) -> None:
        if (reason := harfbuzz_subset_missing()) is not None:
            raise EngineUnavailable(reason)
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=weasyprint_child, args=(child,), daemon=True)
        self.process.start()
        child.close()
        hello = await asyncio.to_thread(self.connection.recv)
        if hello[0] != "ready":
            raise EngineUnavailable(hello[1])
        self.version, self.harfbuzz = hello[1], hello[2]

    async def render(self, data: dict[str, Any]) -> Rendered:
        return await asyncio.to_thread(self._round_trip, data)

    def _round_trip(self, data: dict[str, Any]) -> Rendered:
        self.connection.send(data)
        outcome = self.connection.recv()
        if outcome[0] != "ok":
            raise RuntimeError(outcome[1])
        return Rendered(outcome[1], outcome[2])

    async def settle(self) -> None:
        return None

    def cpu(self) -> float:
        assert self.process.pid is not None
        return cpu_seconds(self.process.pid)

    def peak_mib(self) -> tuple[float, str]:
        assert self.process.pid is not None
        return peak_rss_mib(self.process.pid), "VmHWM"

    def side_cpu(self) -> float:
        return 0.0

    async def close(self) -> None:
        if hasattr(self, "process"):
            self.connection.close()
            self.process.join(timeout=5)
            self.process.kill()


def weasyprint_child(connection: Connection) -> None:
    """The WeasyPrint process: parses the stylesheet and loads the fonts once, then renders
    report data from the pipe until it closes."""
    try:
        import weasyprint  # type: ignore[import-untyped]
        from weasyprint.text import ffi  # type: ignore[import-untyped]
        from weasyprint.text.fonts import FontConfiguration  # type: ignore[import-untyped]
    except OSError as exc:  # WeasyPrint loads Pango with ctypes at import
        connection.send(
            (
                "error",
                f"WeasyPrint cannot load a system library ({exc}). On Debian: "
                "apt-get install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0",
            )
        )
        return
    if ffi.harfbuzz_subset is None:
        connection.send(("error", f"WeasyPrint did not load libharfbuzz-subset. {HARFBUZZ_HINT}"))
        return
    fonts = FontConfiguration()
    stylesheet = weasyprint.CSS(string=font_faces() + STYLE, font_config=fonts)
    version = ctypes.CDLL("libharfbuzz.so.0").hb_version_string
    version.restype = ctypes.c_char_p
    connection.send(("ready", weasyprint.__version__, f"loaded (HarfBuzz {version().decode()})"))
    while True:
        try:
            data = connection.recv()
        except (EOFError, KeyboardInterrupt):
            return
        try:
            document = weasyprint.HTML(string=report_html(data)).render(
                stylesheets=[stylesheet], font_config=fonts
            )
            attachment = weasyprint.Attachment(
                string=json.dumps(data, ensure_ascii=False),
                name="report-data.json",
                description=ATTACHMENT_TEXT,
                relationship="Data",
            )
            pdf = document.write_pdf(
                pdf_variant="pdf/a-3b", pdf_tags=True, attachments=[attachment]
            )
            connection.send(("ok", pdf, len(document.pages)))
        except Exception as exc:
            connection.send(("error", f"{type(exc).__name__}: {exc}"))


class ChromiumEngine:
    name = "Chromium"

    def __init__(self) -> None:
        self.version = "?"
        self.html_cpu, self.peak = 0.0, 0.0
        self.navigation_ms: list[float] = []
        self.work = Path(tempfile.mkdtemp(prefix="bench-chromium-"))
        self.page: Any = None
        self.style = font_faces() + STYLE
        self.pages_for: dict[str, int] | None = None
        blank = self.work / "blank.html"
        blank.write_text("<!doctype html><title></title>")
        self.blank = blank.as_uri()

    async def start(self) -> None:
        if not os.access(CHROMIUM, os.X_OK):
            raise EngineUnavailable(f"{CHROMIUM} not found: apt-get install chromium")
        try:
            from playwright.async_api import async_playwright
        except ImportError as exc:
            raise EngineUnavailable(f"Playwright is not installed ({exc})") from exc
        self.playwright = await async_playwright().start()
        self.context = await self.playwright.chromium.launch_persistent_context(
            str(self.work / "profile"), executable_path=CHROMIUM, args=CHROMIUM_FLAGS
        )
        browser = self.context.browser
        self.version = browser.version if browser is not None else "?"
        self.root = self._browser_pid()

    def _browser_pid(self) -> int:
        """The browser process: the one started with our profile whose parent was not."""
        marker = f"--user-data-dir={self.work / 'profile'}".encode()
        ours = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and marker in (entry / "cmdline").read_bytes():
                    ours.append(int(entry.name))
            except OSError:
                continue
        roots = [pid for pid in ours if int(_stat(pid)[1]) not in ours]
        if len(roots) != 1:
            raise EngineUnavailable(f"cannot tell Chromium's browser process among {ours}")
        return roots[0]

    async def render(self, data: dict[str, Any]) -> Rendered:
        started = time.thread_time()
        html = report_html(data, self.pages_for, inline_css=self.style)
        self.html_cpu += time.thread_time() - started
        self.page = await self.context.new_page()
        started = time.perf_counter()
        await self.page.goto(self.blank)
        self.navigation_ms.append((time.perf_counter() - started) * 1000)
        await self.page.set_content(html)
        pdf = await self.page.pdf(
            prefer_css_page_size=True, print_background=True, tagged=True, outline=True
        )
        return Rendered(pdf, 0)  # counted once, by the document check: not Chromium's work

    async def settle(self) -> None:
        """Untimed but inside its CPU: sample the memory while the page lives, then close it."""
        self.peak = max(self.peak, tree_pss_mib(self.root))
        await self.page.close()

    def cpu(self) -> float:
        return tree_cpu_seconds(self.root) + self.html_cpu

    def peak_mib(self) -> tuple[float, str]:
        return self.peak, f"PSS, {len(process_tree(self.root))} procs"

    def side_cpu(self) -> float:
        """Playwright's driver (node): relays every call and the PDF; not counted as Chromium."""
        return cpu_seconds(int(_stat(self.root)[1]))

    async def close(self) -> None:
        try:
            if hasattr(self, "context"):
                await self.context.close()
            if hasattr(self, "playwright"):
                await self.playwright.stop()
        finally:
            shutil.rmtree(self.work, ignore_errors=True)
