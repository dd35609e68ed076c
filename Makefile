# The commands a newcomer uses. Everything installs itself: `make run`, `make test`.
SHELL := /bin/bash
# The interpreter the venv is built on: the distribution's CPython 3.11+ when it has one (built
# with PGO and LTO, as the python:3.11 images are), else the first python3 on the PATH. A
# pyenv build has neither by default: the create-lead load cost 8 % more CPU on it
# (docs/benchmarks.md). `rm -rf .venv && make install` rebuilds an older venv.
PYTHON ?= $(shell for p in /usr/bin/python3 python3; do \
	$$p -c 'import sys, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { echo $$p; exit; }; done; echo python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-faults test-unit test-gateway test-service test-e2e test-store lint bench bench-tools infra install clean analytics-rebuild web browser

$(STAMP): requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

install: $(STAMP)

# the web console (web/ → web/dist/, served by the gateway at /app/); quick when unchanged
web:
	@bash web/build.sh || echo "make: the web console was not built (see above); the API runs without it"

# headless Chromium and CJK fonts for the console's browser tests (Debian packages)
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && \
		apt-get install -y -qq chromium fonts-noto-cjk >/dev/null)

infra:
	@bash deploy/local/ensure-infra.sh

# REPLICAS="leads=2 analytics=2" runs more replicas (their stores move to local PostgreSQL)
run: install infra web
	@REPLICAS="$(REPLICAS)" bash deploy/local/run.sh

lint: install
	$(BIN)/ruff check .

test: install web browser
	@bash deploy/local/ensure-infra.sh --need-postgres
	$(BIN)/ruff check .
	$(BIN)/python -m pytest tests/unit tests/gateway tests/store tests/deploy -q -p no:cacheprovider
	$(BIN)/nameko test tests/service -q -p no:cacheprovider
	$(BIN)/python -m pytest tests/e2e -q -p no:cacheprovider
	@$(MAKE) --no-print-directory test-faults

# fault tests (issue 10, docs/reliability.md): kill -9 of every process, a broker restart, a
# PostgreSQL outage and poison messages under load, then a soak; on a private PostgreSQL
# server and RabbitMQ node of their own. CRM_SOAK_SECONDS=1800 for the full 30-minute soak.
test-faults: install
	@bash deploy/local/ensure-infra.sh --need-postgres
	$(BIN)/python -m pytest tests/faults -q -s -p no:cacheprovider

test-unit: install
	$(BIN)/python -m pytest tests/unit -q

test-service: install infra
	$(BIN)/nameko test tests/service -q

test-e2e: install infra
	$(BIN)/python -m pytest tests/e2e -q

# the load tool of make bench (wrk, C) and pgbench for the raw limits (Debian packages)
bench-tools:
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)
	@command -v pgbench >/dev/null || apt-get install -y -qq postgresql-contrib >/dev/null

bench: install bench-tools
	@bash deploy/local/ensure-infra.sh --need-postgres
	$(BIN)/python -m bench.run

# rebuild every analytics read model from analytics' own event log (stop analytics first)
analytics-rebuild: install
	$(BIN)/python -m services.analytics.rebuild

clean:
	rm -rf var .pytest_cache .ruff_cache
