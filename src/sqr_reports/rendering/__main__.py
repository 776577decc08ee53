"""A render process, as the render pool starts it: `python -P -m sqr_reports.rendering
MEMORY_LIMIT_MIB TEMPLATES_DIR EMPTY_DIR` (see `typst_process.main`)."""

from sqr_reports.rendering.typst_process import main

main()
