# Everything a newcomer or CI needs, with only Python 3.11+ installed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The suite on every core, up to four (pytest-xdist): each worker starts its own render processes
# and, on PostgreSQL, uses a database of its own (tests/conftest.py). `$(BIN)/pytest tests/x.py`
# still runs in one process.
PYTEST := $(BIN)/pytest -n auto --maxprocesses=4

.PHONY: run test lint typecheck check test-postgres bench gallery docs clean attack chaos fuzz

run: $(STAMP)  ## Start the API and worker on the embedded default, with demo data (PORT=8001: another port).
	$(BIN)/sqr-reports serve --demo $(if $(PORT),--port $(PORT))

test: $(STAMP)  ## Run the test suite (SQLite; set SQR_REPORTS_TEST_DATABASE_URL for PostgreSQL).
	$(PYTEST)

lint: $(STAMP)  ## ruff, and the import layers of docs/architecture.md (import-linter).
	$(BIN)/ruff check src tests bench scripts clients proofs
	$(BIN)/ruff format --check src tests bench scripts clients proofs
	$(BIN)/lint-imports --no-logo

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

test-postgres: $(STAMP)
	SQR_REPORTS_TEST_DATABASE_URL=$${SQR_REPORTS_TEST_DATABASE_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/test} $(PYTEST)

bench: $(STAMP)  ## Benchmarks: rendering (Typst, WeasyPrint, Chromium) and its cost by what changed, render processes, end to end, status polls, Prefer: wait, webhooks.
	$(BIN)/python bench/render.py
	$(BIN)/python bench/render_cost.py
	$(BIN)/python bench/render_pool.py
	$(BIN)/python bench/embedded_flow.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/prefer_wait.py
	$(BIN)/python bench/webhooks.py

attack: $(STAMP)  ## The attack suite against a live server, on SQLite, then on PostgreSQL (proofs/attack).
	$(BIN)/pytest -p no:cacheprovider proofs/attack
	SQR_REPORTS_ATTACK_DATABASE_URL=$${SQR_REPORTS_ATTACK_DATABASE_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/attack} $(BIN)/pytest -p no:cacheprovider proofs/attack

chaos: $(STAMP)  ## Chaos: 300 jobs on PostgreSQL and S3 through worker kills, a freeze and outages; then every job's history is checked (bench/chaos.py).
	$(BIN)/python bench/chaos.py

# CI runs the suite's defaults on SQLite (50 per operation and mode, 50 scenarios of 10 steps).
FUZZ_BUDGET := SQR_REPORTS_FUZZ_EXAMPLES=200 SQR_REPORTS_FUZZ_SCENARIOS=200 SQR_REPORTS_FUZZ_STEPS=10
fuzz: $(STAMP)  ## Fuzz: Schemathesis over every operation and linked sequences, as two orgs with real tokens, on SQLite, then on PostgreSQL (proofs/fuzz).
	$(FUZZ_BUDGET) $(BIN)/pytest -p no:cacheprovider proofs/fuzz
	SQR_REPORTS_FUZZ_DATABASE_URL=$${SQR_REPORTS_FUZZ_DATABASE_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/fuzz} $(FUZZ_BUDGET) $(BIN)/pytest -p no:cacheprovider proofs/fuzz

docs: $(STAMP)  ## Regenerate docs/verdict.md from the decision table in code.
	$(BIN)/python -m sqr_reports.reports.decision_doc > docs/verdict.md

gallery: $(STAMP)  ## Regenerate docs/gallery: PNG previews of the report for every demo outcome.
	$(BIN)/python scripts/gallery.py

$(STAMP): pyproject.toml requirements.lock clients/python/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is required" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip install --quiet --no-deps -e clients/python
	@touch $@

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
