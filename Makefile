# The two commands of the README: `make demo` and `make test`. Each sets up .venv on first use
# (pinned torch/torchvision first, then the package with its pinned dependencies) and is cheap after.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.mm-installed
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
PIP := $(BIN)/python -m pip
# pip's configured local indexes that do not exist on this machine print a warning per package
QUIET := 2>&1 | sed '/^WARNING: Location/d'

CHROMIUM := /usr/bin/chromium

.PHONY: demo test test-fast lint setup bench clean labextension jstest

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip $(QUIET)
	$(PIP) install -q torch==2.14.1 torchvision==0.29.1 $(QUIET)
	$(PIP) install -q -c constraints.txt -e '.[ml,lab,dask,test]' $(QUIET)
	# the prebuilt sidebar (mm_jupyter/labextension, committed) linked where JupyterLab looks
	mkdir -p $(VENV)/share/jupyter/labextensions
	rm -rf $(VENV)/share/jupyter/labextensions/mm-jupyter
	ln -s $(CURDIR)/mm_jupyter/labextension $(VENV)/share/jupyter/labextensions/mm-jupyter
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mm demo

lint: $(STAMP)
	$(BIN)/ruff check .

# the browser tests drive Debian's chromium with Playwright (never a downloaded browser)
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

# rebuild the sidebar from js/ (its output is committed, so the tests need no build)
labextension: node_modules/.package-lock.json $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH npm run build

# the sidebar's TypeScript unit tests (vitest), where node is installed
jstest:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) -s node_modules/.package-lock.json && npm test --silent; \
	 else echo "npm not found: skipping js/tests"; fi

test: $(STAMP) $(CHROMIUM) lint jstest
	$(BIN)/python -m pytest

# the fast lane: everything that needs no real training, Dask cluster or browser, on two workers
test-fast: $(STAMP) lint
	$(BIN)/python -m pytest -m "not slow" -n 2 -q

bench: $(STAMP)
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
