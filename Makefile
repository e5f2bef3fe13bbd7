# The two commands of the README: `make demo` and `make test`. Both do all set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
IDP    := devtools/idp
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test test-pythons lint js-test bench setup chromium system-packages idp clean

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

# Debian packages the tests drive for real, as command:package: Chromium (the browser), and dbus +
# gnome-keyring (a Secret Service on a private session bus, tests/integration/test_secret_service_e2e.py).
# Only what is missing is installed. `chromium` stays as the name other targets depend on.
SYSTEM_PACKAGES := chromium:chromium dbus-run-session:dbus-daemon gnome-keyring-daemon:gnome-keyring

chromium: system-packages

system-packages:
	@missing=; for pair in $(SYSTEM_PACKAGES); do \
	  command -v "$${pair%%:*}" >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -n "$$missing" ]; then echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; fi

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: setup chromium lint js-test
	$(PY) -m pytest
	@$(MAKE) --no-print-directory test-pythons

# Each other Python that pyproject.toml's classifiers claim and this machine has (pyenv or PATH;
# found, not assumed): its own .venv-3.X with the `test-core` extra, the unit suite and one
# real-provider login, the public API's loopback sign-in (PKCE, code exchange, ID-token checks,
# file store, refresh-ready token) against the dev provider in Chromium. Then a summary of which
# versions ran and which were not found.
LOGIN_TEST := tests/integration/test_login_e2e.py::test_full_loopback_login_then_the_token_calls_the_api

test-pythons: setup chromium
	@found="$$($(PY) -m devtools.pythons found)"; passed=; failed=; \
	for v in $$found; do \
	  echo "== Python $$v: unit suite and one real-provider login in .venv-$$v"; \
	  if $(MAKE) --no-print-directory .venv-$$v/.installed && \
	     .venv-$$v/bin/python -m pytest -q tests/unit $(LOGIN_TEST); \
	  then passed="$$passed $$v"; else failed="$$failed $$v"; fi; \
	done; \
	$(PY) -m devtools.pythons report --passed "$$passed" --failed "$$failed"; \
	test -z "$$failed"

.venv-%/.installed: pyproject.toml
	test -x .venv-$*/bin/python || "$$($(PY) -m devtools.pythons path $*)" -m venv .venv-$*
	.venv-$*/bin/python -m pip install --quiet --upgrade pip
	.venv-$*/bin/python -m pip install --quiet -e '.[test-core]'
	touch $@

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
	rm -rf $(VENV) .venv-3.* $(IDP)/node_modules js/node_modules .pytest_cache .mypy_cache .ruff_cache
