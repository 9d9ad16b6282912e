# Everything runs from a project virtualenv that these targets create on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: install test demo bench reliability clean

install: $(INSTALLED)

$(INSTALLED): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --constraint constraints.txt --editable ".[test]"
	@touch $@

test: $(INSTALLED)
	@bash scripts/install-postgres.sh || echo "PostgreSQL could not be installed: its tests fail in CI and are skipped elsewhere"
	$(PY) -m pytest

demo: $(INSTALLED)
	$(PY) scripts/demo.py

bench: $(INSTALLED)
	$(PY) scripts/bench.py

reliability: $(INSTALLED)
	@bash scripts/install-postgres.sh || true
	$(PY) scripts/reliability_report.py

clean:
	rm -rf $(VENV) .demo .bench .pytest_cache
