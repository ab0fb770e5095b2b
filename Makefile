# The two commands: `make serve` and `make test`. Both set up everything they need on a fresh
# Debian/Ubuntu machine: system packages (apt), a virtual environment and the Python packages.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA_DIR ?= ./timeseal-data
HOST ?= 127.0.0.1
PORT ?= 8000

# Packages the tests drive for real: openssl (interop), SoftHSM2 (PKCS#11), poppler (PDF checks),
# Chromium, ffmpeg and Xvfb (capture), Noto CJK (Chinese rendering), zbar (QR code decoding),
# x11-utils (xprop, xwininfo: which program drew a recorded window).
SYSTEM_PACKAGES := openssl softhsm2 opensc poppler-utils chromium ffmpeg xvfb fonts-noto-cjk zbar-tools x11-utils
# Node.js and npm lint and test the browser code (eslint, node --test; package.json). Installed
# only when `node` or `npm` is missing: a machine with NodeSource's nodejs (which bundles npm)
# must not be given Debian's npm package, which conflicts with it.
NODE_PACKAGES := nodejs npm
NODE_MODULES := node_modules/.installed

.PHONY: serve test coverage lint typecheck unit jstest system-packages venv clean

serve: $(BIN)/.installed
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

unit: $(BIN)/.installed
	$(BIN)/pytest --durations=15 $(PYTEST_ARGS)

# Coverage, measured in one pytest run (the `timeseal serve` processes and workers the tests start
# included: [tool.coverage.run] in pyproject.toml), then two floors checked on its data: the
# whole project, and the trust core, whose share counts the interop tests (PKCS#11 on SoftHSM2).
# Not part of `make test` yet: on Python 3.11 the tracer made the suite about three times slower
# (the e2e tests alone took 28 minutes), past what CI can afford. The core's floor is its
# measured figure (95.5% from tests/unit/core and tests/interop, 2026-12-07); the target is 98.
COVERAGE_MIN ?= 90
CORE_COVERAGE_MIN ?= 95

coverage: system-packages $(BIN)/.installed
	$(BIN)/pytest --cov --cov-report= $(PYTEST_ARGS)
	$(BIN)/coverage report --fail-under=$(COVERAGE_MIN)
	$(BIN)/coverage report --include='*/timeseal/core/*' --fail-under=$(CORE_COVERAGE_MIN)

system-packages:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	command -v node >/dev/null && command -v npm >/dev/null || missing="$$missing $(NODE_PACKAGES)"; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi

venv: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

$(NODE_MODULES): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache node_modules
