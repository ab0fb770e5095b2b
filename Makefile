# The two commands: `make serve` and `make test`. Both set up everything they need on a fresh
# Debian/Ubuntu machine: system packages (apt), a virtual environment and the Python packages.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA_DIR ?= ./timeseal-data
HOST ?= 127.0.0.1
PORT ?= 8000

# System packages (apt; tools/system-packages.sh installs the missing ones, or says what to
# install). Runtime, for `make serve` and the capture commands: python3-venv (the virtualenv),
# Noto CJK (the certificate PDF's Chinese text: without it no certificate or package can be
# built), ffmpeg (video previews, recording), Chromium (web capture; a snap on Ubuntu, see the
# script), openssl (checking tokens by hand). Tests only: SoftHSM2 (PKCS#11), poppler (PDF
# checks), Xvfb (capture), zbar (QR codes), x11-utils (xprop, xwininfo: which program drew a
# recorded window); and Node.js and npm, which lint and test the browser code (package.json).
RUNTIME_PACKAGES := python3-venv openssl ffmpeg chromium fonts-noto-cjk
TEST_PACKAGES := softhsm2 opensc poppler-utils xvfb zbar-tools x11-utils
NODE_MODULES := node_modules/.installed

.PHONY: serve test coverage lint typecheck unit jstest runtime-packages system-packages venv clean

serve: runtime-packages $(BIN)/.runtime
	$(BIN)/timeseal serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR) $(if $(CLOCK_SOURCE),--clock-source $(CLOCK_SOURCE))

test: system-packages $(BIN)/.installed lint typecheck jstest unit

lint: $(BIN)/.installed $(NODE_MODULES)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	node_modules/.bin/eslint --max-warnings 0 src/timeseal/server/web/static/js tests/js eslint.config.js

# The pure parts of the browser code (hashing limits, queue, back-off, URLs) under node's own
# test runner; the pages themselves run in Chromium in tests/e2e.
jstest: $(NODE_MODULES)
	node --test tests/js/*.test.js

typecheck: $(BIN)/.installed
	$(BIN)/mypy

# The suite in two runs, each in TEST_JOBS parallel processes (pytest-xdist; each test's
# databases, ports, data directories and X displays are its own). First every test but the
# end-to-end ones, under coverage (the `timeseal serve` processes they start included:
# [tool.coverage.run] in pyproject.toml), with two floors enforced on what they reach: the
# trust core (99.36% measured on 2026-12-07, floor 98) and the whole project (90.07%
# measured the same day, floor 90). Then the end-to-end tests, without the tracer, which made them
# about three times slower. The 15 slowest tests of each run are printed, so the suite's time
# stays visible.
TEST_JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n > 4 ? 4 : n )))
COVERAGE_MIN ?= 90
CORE_COVERAGE_MIN ?= 98
E2E_TESTS := tests/e2e

unit: $(BIN)/.installed
	$(BIN)/pytest -n $(TEST_JOBS) --cov=timeseal --cov-report= --durations=15 --ignore=$(E2E_TESTS) $(PYTEST_ARGS)
	$(BIN)/coverage report --fail-under=$(COVERAGE_MIN)
	$(BIN)/coverage report --include='*/timeseal/core/*' --fail-under=$(CORE_COVERAGE_MIN)
	$(BIN)/pytest -n $(TEST_JOBS) --durations=15 $(PYTEST_ARGS) $(E2E_TESTS)

# The end-to-end tests under coverage too: one run of the whole suite, both floors checked on
# its data. About three times as long as `make test`'s runs, so it is run on demand.
coverage: system-packages $(BIN)/.installed
	$(BIN)/pytest -n $(TEST_JOBS) --cov=timeseal --cov-report= $(PYTEST_ARGS)
	$(BIN)/coverage report --fail-under=$(COVERAGE_MIN)
	$(BIN)/coverage report --include='*/timeseal/core/*' --fail-under=$(CORE_COVERAGE_MIN)

runtime-packages:
	@sh tools/system-packages.sh $(RUNTIME_PACKAGES)

system-packages:
	@sh tools/system-packages.sh --node $(RUNTIME_PACKAGES) $(TEST_PACKAGES)

venv: $(BIN)/.installed

# Two steps in one virtualenv: `make serve` installs the runtime Python packages only; `make
# test` adds the dev extras (pytest, mypy, moto, schemathesis…: most of the venv's size). pip
# prints its progress: a first install downloads a few hundred MB.
$(BIN)/.runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -e .
	touch $@

$(BIN)/.installed: $(BIN)/.runtime
	$(BIN)/pip install -e '.[dev]'
	touch $@

$(NODE_MODULES): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache node_modules
