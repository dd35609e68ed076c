# The commands a newcomer uses. Everything installs itself: `make run`, `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-unit test-gateway test-service test-e2e test-store lint bench infra install clean

$(STAMP): requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

install: $(STAMP)

infra:
	@bash deploy/local/ensure-infra.sh

# REPLICAS="leads=2 analytics=2" runs more replicas (their stores move to local PostgreSQL)
run: install infra
	@REPLICAS="$(REPLICAS)" bash deploy/local/run.sh

lint: install
	$(BIN)/ruff check .

test: install
	@bash deploy/local/ensure-infra.sh --need-postgres
	$(BIN)/ruff check .
	$(BIN)/python -m pytest tests/unit tests/gateway tests/store tests/deploy -q -p no:cacheprovider
	$(BIN)/nameko test tests/service -q -p no:cacheprovider
	$(BIN)/python -m pytest tests/e2e -q -p no:cacheprovider

test-unit: install
	$(BIN)/python -m pytest tests/unit -q

test-service: install infra
	$(BIN)/nameko test tests/service -q

test-e2e: install infra
	$(BIN)/python -m pytest tests/e2e -q

bench: install
	@bash deploy/local/ensure-infra.sh --need-postgres
	$(BIN)/python -m bench.run

clean:
	rm -rf var .pytest_cache .ruff_cache
