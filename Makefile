# fingercount — `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help install stack demo system-deps test test-fast test-containers container-deps lint format bench clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --constraint requirements.lock --editable '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install the package with the locked versions

stack: install system-deps ## The production topology without Docker: PostgreSQL + S3 (moto) + mlflow server
	$(PY) -m fingercount.devstack

demo: install ## Serve the shipped checkpoint (~1 min) on :8000 (MLflow UI :5000), fine-tune it in the background (~6 min)
	$(VENV)/bin/fingercount demo

test: install system-deps ## Run the whole test suite (creates the environment first)
	$(PY) -m pytest

test-containers: install container-deps ## Build the images and run the Compose stack with podman (root; ~17 min cold)
	FINGERCOUNT_CONTAINER_TESTS=1 $(PY) -m pytest tests/containers

# podman (daemonless: no Docker engine here), runc and debootstrap for the image base.
container-deps:
	@command -v podman >/dev/null 2>&1 && command -v debootstrap >/dev/null 2>&1 && command -v runc >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing podman buildah runc debootstrap"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman buildah runc debootstrap >/dev/null; \
	  else echo "Install first (Debian/Ubuntu): sudo apt-get install podman buildah runc debootstrap"; exit 1; fi; }

# System packages the tests drive for real: Debian's Chromium (Playwright cannot download browsers
# here), nginx (config check) and PostgreSQL (the production topology without Docker); MediaPipe
# (the hand-landmark teacher) links against EGL and GLES even on the CPU.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	ldconfig -p | grep -q 'libGLESv2.so.2 ' && ldconfig -p | grep -q 'libEGL.so.1 ' || missing="$$missing libegl1 libgles2"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "Install first (Debian/Ubuntu): sudo apt-get install$$missing"; exit 1; fi; \
	fi

lint: install ## ruff (lint + format check), mypy and the layers (import-linter contracts)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: install ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install ## Run the benchmarks (see docs/benchmarks.md)
	$(PY) benchmarks/synthetic_speed.py
	$(PY) benchmarks/tracking_overhead.py
	$(PY) benchmarks/training_threads.py
	$(PY) benchmarks/face_blur.py
	$(PY) benchmarks/serving.py
	$(PY) benchmarks/serving.py --compare
	$(PY) benchmarks/load.py --server-cpus 0 --client-cpus 1 --nice 0,10
	$(PY) benchmarks/load.py --server-cpus 0 --client-cpus 1 --nice 0 --via-nginx
	$(PY) benchmarks/monitoring.py
	$(PY) benchmarks/count_heads.py
	$(PY) benchmarks/lever_cost.py
	$(PY) benchmarks/head_gate.py
	$(PY) benchmarks/finger_rule.py
	$(PY) benchmarks/training_speed.py --from-checkpoint --epochs 5 --fraction 1 --no-cache-arm --count
	$(PY) benchmarks/gpu.py

lock: ## Re-resolve requirements.lock from pyproject.toml (needs network)
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet '.[dev]'
	.lock-venv/bin/pip freeze --exclude-editable | grep -v '^fingercount' > requirements.lock
	rm -rf .lock-venv

clean: ## Remove the environment and generated data
	rm -rf $(VENV) data experiments mlruns.db mlartifacts
