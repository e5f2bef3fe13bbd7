# The two commands of the README: `make demo` and `make test`. Both do all set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
IDP    := devtools/idp
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint js-test bench setup chromium idp clean

setup: $(VENV)/.installed idp

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

idp: $(IDP)/node_modules/.installed

$(IDP)/node_modules/.installed: $(IDP)/package-lock.json
	cd $(IDP) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

chromium:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: setup chromium lint js-test
	$(PY) -m pytest

js-test: js/node_modules/.installed
	cd js && npm test

js/node_modules/.installed: js/package-lock.json
	cd js && npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: setup
	@if [ -n "$(HEADLESS)" ]; then $(MAKE) --no-print-directory chromium; fi
	$(PY) -m devtools.demo

bench: setup chromium
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) $(IDP)/node_modules js/node_modules .pytest_cache .mypy_cache .ruff_cache
