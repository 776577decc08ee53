"""The render pool's processes: they start lean, a spare already started takes the place of every
one that leaves (so no render waits for a start-up), they are retired by count and by memory,
their answers are checked, and closing the pool leaves no process behind."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from sqr_reports.rendering import RenderCrashed, typst_process, typst_renderer
from sqr_reports.rendering.typst_renderer import TypstRenderer
from tests.scripted_render_process import GATE, OUT_OF_STEP
from tests.support import GENERATED, alive, render_pool

ROOT = Path(__file__).parent.parent
#: What the service imports and a render process must not.
SERVICE_PACKAGES = {
    "fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "aiosqlite", "asyncpg",
    "pydantic", "pydantic_core", "httpx", "argon2", "jwt", "cryptography", "boto3", "botocore",
    "pytest", "_pytest",
}  # fmt: skip
#: A runaway template: about 10^10 loop steps, hours of work unless its process is killed.
SLOW = "#let n = 0\n#for i in range(100000) { for j in range(100000) { n += 1 } }\n#n\n"


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    """Templates that render at once (and one that never ends)."""
    (tmp_path / "quick").mkdir()
    (tmp_path / "quick" / "report.typ").write_text("A page.\n", encoding="utf-8")
    (tmp_path / "slow").mkdir()
    (tmp_path / "slow" / "report.typ").write_text(SLOW, encoding="utf-8")
    return tmp_path


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Render processes of pools made from here on run tests/scripted_render_process.py."""
    monkeypatch.setattr(typst_renderer, "CHILD_MODULE", "tests.scripted_render_process")
    monkeypatch.setenv("PYTHONPATH", str(ROOT), prepend=os.pathsep)
    return monkeypatch


def _spare(pool: TypstRenderer) -> int:
    (spare,) = [process.pid for process in pool.processes() if process.spare]
    return spare


async def test_a_render_process_imports_the_rendering_code_and_typst_and_nothing_else(
    renderer: TypstRenderer,
) -> None:
    await renderer.start()

    for process in renderer.processes():
        ours = {name for name in process.modules if name.startswith("sqr_reports.")}
        assert {"typst", "sqr_reports.rendering.typst_process"} <= set(process.modules)
        assert {name for name in ours if not name.startswith("sqr_reports.rendering")} == set()
        assert {name.partition(".")[0] for name in process.modules} & SERVICE_PACKAGES == set()


async def test_a_render_process_of_other_code_is_refused_with_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As after an upgrade in place: the worker runs the old code, a new process the new."""
    monkeypatch.setattr(typst_process, "PROTOCOL", "sqr-render/0")
    async with render_pool() as pool:
        with pytest.raises(RenderCrashed, match="its code changed under this worker; restart"):
            await pool.render("v1", {}, GENERATED)


async def test_a_process_due_to_retire_is_succeeded_by_the_spare_started_and_warmed_ahead(
    templates: Path,
) -> None:
    async with render_pool(templates, max_renders_per_process=3) as pool:
        await pool.start()
        (first,) = pool.process_ids()
        successor = _spare(pool)
        await pool.render("quick", {}, GENERATED)
        await pool.render("quick", {}, GENERATED)  # one left: the spare replays the last render
        await pool.start()  # the test waits for the replay; no render ever does
        assert [process.renders for process in pool.processes() if process.spare] == [1]

        await pool.render("quick", {}, GENERATED)

        assert pool.process_ids() == [successor]
        assert pool.stats().renders_that_waited == 0
    assert not alive(first)
    assert not alive(successor)


@pytest.mark.parametrize(("ceiling", "replaced"), [(0, False), (1, True)])
async def test_a_process_over_its_memory_ceiling_is_succeeded_by_the_spare(
    templates: Path, ceiling: int, replaced: bool
) -> None:
    async with render_pool(templates, max_rss_mib_per_process=ceiling) as pool:
        await pool.start()
        (first,) = pool.process_ids()
        spare = _spare(pool)

        await pool.render("quick", {}, GENERATED)

        assert pool.process_ids() == ([spare] if replaced else [first])
        assert pool.stats().renders_that_waited == 0


async def test_a_crash_fails_its_render_and_the_spare_already_started_takes_over(
    templates: Path,
) -> None:
    async with render_pool(templates) as pool:
        await pool.start()
        (crashed,) = pool.process_ids()
        spare = _spare(pool)
        os.kill(crashed, signal.SIGKILL)

        with pytest.raises(RenderCrashed, match="died"):
            await pool.render("quick", {}, GENERATED)

        assert not alive(crashed)
        assert pool.process_ids() == [spare]
        assert (await pool.render("quick", {}, GENERATED)).page_count == 1
        assert pool.stats().renders_that_waited == 0


async def test_a_process_due_to_retire_serves_on_until_its_successor_is_ready(
    templates: Path, scripted: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    gate.touch()
    scripted.setenv(GATE, str(gate))
    async with render_pool(templates, max_renders_per_process=1) as pool:
        await pool.start()
        gate.unlink()  # every process started from now on is held before it is ready
        await pool.render("quick", {}, GENERATED)  # the ready spare takes over; a new one starts
        (due,) = pool.process_ids()

        for _ in range(3):
            await pool.render("quick", {}, GENERATED)
        assert pool.process_ids() == [due]

        gate.touch()
        await pool.start()
        await pool.render("quick", {}, GENERATED)  # it serves on while its successor warms up
        await pool.start()
        await pool.render("quick", {}, GENERATED)
        assert pool.process_ids() != [due]
        assert pool.stats().renders_that_waited == 0


async def test_an_answer_to_another_request_is_never_taken_for_this_one(
    templates: Path, scripted: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """If the pipe ever gets out of step, the render fails (and is retried); no PDF is swapped.
    (The scripted processes also print to stdout: the frames do not notice.)"""
    token = tmp_path / "out-of-step"
    token.touch()
    scripted.setenv(OUT_OF_STEP, str(token))
    async with render_pool(templates) as pool:
        await pool.start()
        (out_of_step,) = pool.process_ids()

        with pytest.raises(RenderCrashed, match="another request"):
            await pool.render("quick", {}, GENERATED)
        rendered = await pool.render("quick", {}, GENERATED)

        assert not alive(out_of_step)
        assert pool.process_ids() != [out_of_step]
    assert rendered.pdf.startswith(b"%PDF-")


async def test_closing_stops_every_process_in_service_spare_starting_or_retiring(
    templates: Path,
) -> None:
    before = _render_processes()
    async with render_pool(templates, processes=2, max_renders_per_process=1) as pool:
        await pool.start()
        known = {process.pid for process in pool.processes()}
        assert len(known) == 3  # two in service and the spare
        await asyncio.gather(*(pool.render("quick", {}, GENERATED) for _ in range(2)))
        known |= {process.pid for process in pool.processes()}  # one retiring, spares starting

    assert not any(alive(pid) for pid in known)
    assert _render_processes() <= before


async def test_closing_during_a_render_fails_it_and_stops_its_process(templates: Path) -> None:
    before = _render_processes()
    async with render_pool(templates) as pool:
        await pool.start()
        known = {process.pid for process in pool.processes()}
        rendering = asyncio.ensure_future(pool.render("slow", {}, GENERATED))
        await asyncio.sleep(0.5)  # most likely under way; refused as closed if not yet sent
        await pool.close()

        with pytest.raises(RenderCrashed):
            await rendering
    assert not any(alive(pid) for pid in known)
    assert _render_processes() <= before


def _render_processes() -> set[int]:
    """This process's children that run a render process, and its unreaped (zombie) children."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, parent = stat.read_text().rsplit(")", 1)[1].split()[:2]
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        if int(parent) == os.getpid() and (state == "Z" or b"sqr_reports.rendering" in command):
            found.add(int(stat.parent.name))
    return found
