"""The code that runs inside a render process (kept small: it is all the child imports).

Isolation: the process has an address-space limit, Typst's root is the templates folder (so a
template can read nothing else), only the shipped fonts are loaded (no system fonts), and data
arrives through `sys.inputs` as JSON text, which templates insert as data, never as code.
"""

from __future__ import annotations

import io
import resource
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

TEMPLATES_DIR = Path(__file__).parent / "templates"
FONTS_DIR = Path(__file__).parent / "fonts"


def serve(connection: Connection, memory_limit_mib: int) -> None:
    """Render requests from the pipe until it closes."""
    if memory_limit_mib:
        limit = memory_limit_mib * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import typst  # imported after the limit so the limit covers it

    fonts = typst.Fonts(include_system_fonts=False, font_paths=[str(FONTS_DIR)])
    compilers: dict[str, Any] = {}  # one per template version: Typst caches between compiles
    while True:
        try:
            version, data_json, timestamp = connection.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if version not in compilers:
            compilers[version] = typst.Compiler(
                str(TEMPLATES_DIR / version / "report.typ"),
                root=str(TEMPLATES_DIR),
                font_paths=fonts,
                ignore_system_fonts=True,
            )
        connection.send(_render(typst, compilers[version], data_json, timestamp))


def _render(typst: Any, compiler: Any, data_json: str, timestamp: float) -> tuple[str, Any, int]:
    try:
        pdf = compiler.compile(
            format="pdf",
            sys_inputs={"data": data_json},
            pdf_standards=["a-2b"],
            timestamp=int(timestamp),  # whole seconds: Typst rejects sub-second timestamps
        )
    except typst.TypstError as exc:
        return ("failed", str(getattr(exc, "message", exc))[:500], 0)
    except Exception as exc:  # the process must survive any one bad render
        return ("failed", f"{type(exc).__name__}: {exc}"[:500], 0)
    return ("ok", pdf, _page_count(pdf))


def _page_count(pdf: bytes) -> int:
    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(pdf)).pages)
