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

.PHONY: demo test lint setup bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip $(QUIET)
	$(PIP) install -q torch==2.14.1 torchvision==0.29.1 $(QUIET)
	$(PIP) install -q -c constraints.txt -e '.[ml,test]' $(QUIET)
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mm demo

lint: $(STAMP)
	$(BIN)/ruff check .

# the browser tests drive Debian's chromium with Playwright (never a downloaded browser)
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

test: $(STAMP) $(CHROMIUM) lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
