"""A render process that misbehaves on cue, for the render pool's tests: the pool runs it in place
of `sqr_reports.rendering` when a test sets `typst_renderer.CHILD_MODULE` to this module (and
puts the project folder on PYTHONPATH). Each misbehaviour is switched on by an environment
variable that names a file:

- `GATE`: the process says it is ready only once that file exists (a slow start).
- `OUT_OF_STEP`: the first process to answer a request takes that file (renames it away) and
  labels that answer with another request's id, as if an earlier answer had never been read.

It also prints to its stdout, as a library might: the frames must not notice.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from sqr_reports.rendering import typst_process
from sqr_reports.rendering.pipe import Pipe

GATE = "SQR_REPORTS_TEST_RENDER_GATE"
OUT_OF_STEP = "SQR_REPORTS_TEST_RENDER_OUT_OF_STEP"


class _ScriptedPipe(Pipe):
    answered = False

    def send(self, header: Any, blob: bytes = b"", deadline: float | None = None) -> None:
        if "id" in header and not self.answered:
            self.answered = True
            if _take(OUT_OF_STEP):
                header = header | {"id": "another-request"}
        super().send(header, blob, deadline)


def _take(variable: str) -> bool:
    """Whether this process is the one that took the file the variable names."""
    path = os.environ.get(variable)
    try:
        os.rename(path or "", f"{path}.taken-by-{os.getpid()}")
    except OSError:
        return False
    return True


def main() -> None:
    memory_limit_mib, templates_dir, empty_dir = sys.argv[1:]
    pipe = _ScriptedPipe.of_standard_streams()
    print("noise on stdout", flush=True)
    os.write(1, b"\0\0\0\5more noise")
    while (gate := os.environ.get(GATE)) and not os.path.exists(gate):
        time.sleep(0.01)
    typst_process.serve(pipe, int(memory_limit_mib), templates_dir, empty_dir)


if __name__ == "__main__":
    main()
