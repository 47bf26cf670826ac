# fingercount — `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help install demo browser test test-fast lint format bench clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --constraint requirements.lock --editable '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install the package with the locked versions

demo: install ## Synthetic data → train (CPU, ~15 min) → register → dashboard on :8000, MLflow UI on :5000
	$(VENV)/bin/fingercount demo

test: install browser ## Run the whole test suite (creates the environment first)
	$(PY) -m pytest

# The dashboard's browser tests drive Debian's Chromium: Playwright cannot download browsers here.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "Install Chromium first (Debian/Ubuntu: sudo apt-get install chromium)"; exit 1; fi; }

test-fast: install ## Run the tests that take no more than a second or two
	$(PY) -m pytest -m "not slow and not e2e"

lint: install ## ruff (lint + format check) and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install ## Run the benchmarks (see docs/benchmarks.md)
	$(PY) benchmarks/synthetic_speed.py
	$(PY) benchmarks/tracking_overhead.py
	$(PY) benchmarks/face_blur.py
	$(PY) benchmarks/serving.py

lock: ## Re-resolve requirements.lock from pyproject.toml (needs network)
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet '.[dev]'
	.lock-venv/bin/pip freeze --exclude-editable | grep -v '^fingercount' > requirements.lock
	rm -rf .lock-venv

clean: ## Remove the environment and generated data
	rm -rf $(VENV) data experiments mlruns.db mlartifacts
