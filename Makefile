# Two set-up commands on a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Install torch before the project so `torch>=...` is satisfied by the local CPU build
# instead of pulling a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
# The web page and compose tests drive Debian's chromium and docker-compose; `make serve` needs neither.
SYSTEM_STAMP := $(VENV)/.system-packages
SYSTEM_PACKAGES := chromium docker-compose
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install serve test lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet "$(TORCH_SPEC)" || $(BIN)/pip install --quiet "torch>=2.4"
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

$(SYSTEM_STAMP): | $(BIN)/python
	if [ ! -x /usr/bin/chromium ] || ! command -v docker-compose >/dev/null; then \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(SYSTEM_PACKAGES); \
	fi
	touch $(SYSTEM_STAMP)

serve: install
	$(BIN)/rewardedit serve --host 127.0.0.1 --port 8000

test: install $(SYSTEM_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
