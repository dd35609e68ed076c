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

run: install infra
	@mkdir -p var
	@set -a; source deploy/local/dev.env; set +a; \
	echo ""; \
	echo "  CRM gateway:  http://127.0.0.1:$$GATEWAY_PORT   (API docs: http://127.0.0.1:$$GATEWAY_PORT/docs)"; \
	echo "  admin login:  $$CRM_ADMIN_USER / $$CRM_ADMIN_PASSWORD   (development values from deploy/local/dev.env)"; \
	echo "  metrics:      gateway /metrics; services on ports 9101-9105"; \
	echo "  stores:       SQLite files under var/   — Ctrl-C stops everything"; \
	echo ""; \
	export PATH="$(CURDIR)/$(BIN):$$PATH"; exec honcho start -f deploy/local/Procfile -d .

lint: install
	$(BIN)/ruff check .

test: install
	@bash deploy/local/ensure-infra.sh --need-postgres
	$(BIN)/ruff check .
	$(BIN)/python -m pytest tests/unit tests/gateway tests/store -q -p no:cacheprovider
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
