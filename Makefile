# Every target runs from a virtualenv of its own per Airflow version, created on first use with the pins
# in constraints/airflow-$(AIRFLOW).txt:  make test AIRFLOW=2.11   (default: the newest)
#                                          make demo AIRFLOW=3.0 PYTHON=/usr/bin/python3
# RESOLUTION=lowest takes constraints/lowest/airflow-$(AIRFLOW).txt instead: every direct dependency at the
# lower bound pyproject.toml declares (bash constraints/compile.sh --lowest), in a virtualenv of its own:
#                                          make test AIRFLOW=2.11 RESOLUTION=lowest
AIRFLOW_VERSIONS := $(sort $(patsubst constraints/airflow-%.txt,%,$(wildcard constraints/airflow-*.txt)))
LOWEST_VERSIONS := $(sort $(patsubst constraints/lowest/airflow-%.txt,%,$(wildcard constraints/lowest/airflow-*.txt)))
AIRFLOW ?= 3.3
PYTHON ?= python3
RESOLUTION ?= pinned
VENV ?= .venv-airflow-$(AIRFLOW)$(if $(filter lowest,$(RESOLUTION)),-lowest)
CONSTRAINTS := constraints/$(if $(filter lowest,$(RESOLUTION)),lowest/)airflow-$(AIRFLOW).txt
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
# Airflow 2.11 and 3.0 do not run on Python 3.13.
PYTHON_MAX := $(if $(filter 2.11 3.0,$(AIRFLOW)),3.12,3.13)
CHECK_PYTHON := import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 11) <= v <= tuple(map(int, "$(PYTHON_MAX)".split("."))) else "Airflow $(AIRFLOW) needs Python 3.11 to $(PYTHON_MAX), not %d.%d (%s): pass PYTHON=<a supported python3>" % (*v, sys.executable))
# Each Airflow version keeps its own demo home: one metadata database cannot serve two versions.
DEMO_DIR := $(CURDIR)/.demo/airflow-$(AIRFLOW)

ifeq ($(filter $(AIRFLOW),$(AIRFLOW_VERSIONS)),)
$(error AIRFLOW=$(AIRFLOW) is not a supported Airflow version: use one of $(AIRFLOW_VERSIONS) (for example make test AIRFLOW=$(lastword $(AIRFLOW_VERSIONS))))
endif
ifeq ($(filter $(RESOLUTION),pinned lowest),)
$(error RESOLUTION=$(RESOLUTION) is not a resolution: use pinned (the default) or lowest)
endif
ifeq ($(RESOLUTION)$(filter $(AIRFLOW),$(LOWEST_VERSIONS)),lowest)
$(error RESOLUTION=lowest has no constraints for AIRFLOW=$(AIRFLOW): use one of $(LOWEST_VERSIONS), or run bash constraints/compile.sh --lowest $(AIRFLOW))
endif

.PHONY: install test lint demo bench reliability check-wheel dist recipe clean stack stack-stop e2e screenshot

install: $(INSTALLED)

# pip's output goes to a log; on failure its tail (the resolver's real error) is printed.
$(INSTALLED): pyproject.toml $(CONSTRAINTS) airflow_provider_feishu_workplace/__init__.py
	@test -x $(PY) || { $(PYTHON) -c '$(CHECK_PYTHON)' && $(PYTHON) -m venv $(VENV); }
	@$(PY) -c '$(CHECK_PYTHON)' || { echo "($(VENV) was made with that Python: make clean AIRFLOW=$(AIRFLOW) RESOLUTION=$(RESOLUTION) first)" >&2; exit 1; }
	@echo "install: $(VENV) ($$($(PY) -c 'import platform; print("Python", platform.python_version())')) with $(CONSTRAINTS); log in $(VENV)/install.log"
	@$(PY) -m pip install --progress-bar off --disable-pip-version-check \
		--constraint $(CONSTRAINTS) --editable ".[test]" >$(VENV)/install.log 2>&1 \
		|| { grep -v -e "^WARNING: Location '.*' is ignored" -e "^INFO: pip is " $(VENV)/install.log | tail -n 30 >&2; echo "install: pip install failed (above: the end of $(VENV)/install.log)" >&2; exit 1; }
	@# The editable build leaves an egg-info here: a second copy of the entry points for processes started in the
	@# checkout, which makes Airflow register the store-app plugin twice (scripts/copy-build-source.sh says more).
	@rm -rf airflow_provider_feishu_workplace.egg-info
	@touch $@

# The suite runs in PYTEST_WORKERS processes (pytest-xdist): most tests wait on sockets and subprocesses, so
# 3 workers beat 2 on a 2-core machine. --dist loadfile keeps each test module on one worker, so a module's
# (or the browser package's) expensive server starts once, not once per worker (--dist loadgroup's
# xdist_group marks are not applied with pytest 9.2 and pytest-xdist 3.8: measured 3 UI servers, not 1).
# PYTEST_WORKERS=1 runs the suite in pytest's own process.
PYTEST_WORKERS ?= 3
PYTEST_XDIST := $(if $(filter 0 1,$(PYTEST_WORKERS)),-p no:xdist,-n $(PYTEST_WORKERS) --dist loadfile)
test: $(INSTALLED)
	@bash scripts/install-postgres.sh || echo "PostgreSQL could not be installed: its tests fail in CI and are skipped elsewhere"
	@bash scripts/install-chromium.sh || echo "Chromium could not be installed: the browser tests fail in CI and are skipped elsewhere"
	$(PY) -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

# ruff's rules and line length, and mypy's settings, are in pyproject.toml.
lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy airflow_provider_feishu_workplace

demo: $(INSTALLED)
	@mkdir -p $(DEMO_DIR)
	FEISHU_DEMO_DIR=$(DEMO_DIR) $(PY) scripts/demo.py

# docs/connection-form.png, the README's picture of the filled connection form, as the browser test takes it.
screenshot: $(INSTALLED)
	@bash scripts/install-chromium.sh
	@rm -f docs/connection-form.png.new
	FEISHU_SCREENSHOT=$(CURDIR)/docs/connection-form.png.new $(PY) -m pytest tests/browser -k screenshot -p no:cacheprovider -q
	@test -s docs/connection-form.png.new || { echo "screenshot: the browser test took no picture (skipped?)" >&2; exit 1; }
	mv docs/connection-form.png.new docs/connection-form.png

bench: $(INSTALLED)
	$(PY) scripts/bench.py

reliability: $(INSTALLED)
	@bash scripts/install-postgres.sh || true
	$(PY) scripts/reliability_report.py

# A local deployment: PostgreSQL, Redis, the double and Airflow (api-server, scheduler, dag-processor, triggerer,
# two Celery workers), all on 127.0.0.1, everything under $(STACK_DIR) (README: "Run it for real").
STACK_DIR ?= $(CURDIR)/.stack
stack: $(INSTALLED)
	@bash scripts/install-postgres.sh
	@bash scripts/stack/install-redis.sh
	$(PY) scripts/stack/stack.py --dir $(STACK_DIR) start $(STACK_ARGS)

# Ends exactly the processes `make stack` started (stdlib only: works without the virtualenv).
stack-stop:
	$(if $(wildcard $(PY)),$(PY),$(PYTHON)) scripts/stack/stack.py --dir $(STACK_DIR) stop

# The end-to-end test against a stack of its own (tests/e2e, not part of `make test`).
e2e: $(INSTALLED)
	@bash scripts/install-postgres.sh
	@bash scripts/stack/install-redis.sh
	$(PY) -m pytest tests/e2e -p no:cacheprovider

# The built wheel with [s3] into a fresh venv, stock pip, no constraints: must finish within 180 s.
check-wheel:
	bash scripts/check-wheel-install.sh $(PYTHON)

# A release's files in dist/: sdist and wheel built (python -m build), checked by twine check --strict, the
# sdist's contents checked, each installed into a fresh venv with $(CONSTRAINTS) and found by Airflow
# (docs/releasing.md).
dist: $(INSTALLED)
	bash scripts/check-dist.sh $(PY) $(CONSTRAINTS)

# docs/production.md's recipe on an existing deployment: a plain apache-airflow==3.1.8 in a fresh venv under
# .recipe/, then the provider with its runtime pins; nothing of Airflow may move, and a pull must work.
recipe:
	bash scripts/check-recipe.sh $(PYTHON)

clean:
	rm -rf $(VENV) $(DEMO_DIR) .bench .pytest_cache
