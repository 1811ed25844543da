# The front door for people: `make run`, `make test`, `make lint`, `make fmt`, `make bench`,
# and `make up` / `make down` / `make logs` for the containers.
# Every target installs what it needs first (uv through pip when missing; the system Python).

SHELL := bash
.DEFAULT_GOAL := help

export UV_PYTHON_DOWNLOADS := never
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
VENV := .venv
BIN := $(VENV)/bin

# Development-only admin for `make run`, so that the README walk-through can create products.
AUTH_ADMIN_EMAIL ?= admin@example.com
AUTH_ADMIN_PASSWORD ?= admin-password
# Development only: `make run`'s webhooks may go to receivers on this machine.
ORDERS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES ?= true

.PHONY: help install run migrate test lint fmt rules rules-tools bench bench-scale bench-tools clean up down logs

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --locked --all-extras --python python3
	@touch $@

install: $(VENV)/.installed ## install every service's dependencies and the dev tools into .venv

migrate: install ## bring both databases up to date (SQLite under ./var unless *_DATABASE_URL is set)
	$(BIN)/python -m auth_service migrate
	$(BIN)/python -m order_service migrate

run: migrate ## run gateway :8000, auth :8001, orders :8002 and its relay until Ctrl-C
	AUTH_ADMIN_EMAIL='$(AUTH_ADMIN_EMAIL)' AUTH_ADMIN_PASSWORD='$(AUTH_ADMIN_PASSWORD)' \
		ORDERS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES='$(ORDERS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES)' \
		$(BIN)/honcho --no-colour start --procfile Procfile

# The database tests use TEST_DATABASE_URL, else a Postgres container (testcontainers, needs
# Docker). When neither is given and a Postgres answers on 127.0.0.1:5432, that one is used:
# the tests only ever create and drop databases of their own.
LOCAL_POSTGRES := postgresql://postgres@127.0.0.1:5432/postgres
HAS_LOCAL_POSTGRES = $(shell python3 -c "import socket; socket.create_connection(('127.0.0.1', 5432), 1)" 2>/dev/null && echo yes)

test: install ## run the whole test suite, one test file per worker at a time (needs Postgres: see README)
	@$(MAKE) --no-print-directory bench-tools SUDO="$(SUDO) $(if $(SUDO),-n)" \
		|| echo "Without wrk and nginx, the benchmark's own test is skipped (make bench-tools)"
	@$(MAKE) --no-print-directory rules SUDO="$(SUDO) $(if $(SUDO),-n)"
	@if [ -z "$$TEST_DATABASE_URL" ] && [ "$(HAS_LOCAL_POSTGRES)" = yes ]; then \
		echo "Using the Postgres on 127.0.0.1:5432 (set TEST_DATABASE_URL to choose another)"; \
		export TEST_DATABASE_URL='$(LOCAL_POSTGRES)'; \
	fi; \
	$(BIN)/pytest -n auto --dist loadfile

lint: install ## the lock file, ruff, mypy and the import boundaries, as CI runs them
	$(UV) lock --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

fmt: install ## format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Containers (needs Docker): PROFILES=monitoring adds Prometheus, Grafana, the trace and log
# backends, and points the services' traces at its OpenTelemetry Collector.
COMPOSE := docker compose $(foreach profile,$(PROFILES),--profile $(profile))
ifneq ($(filter monitoring,$(PROFILES)),)
export OTEL_EXPORTER_OTLP_ENDPOINT ?= http://otel-collector:4318
endif

up: ## build and start the stack in containers, waiting until it is healthy (PROFILES=monitoring)
	$(COMPOSE) up --build --detach --wait
	@echo "The API is at http://localhost:8000 (docs: /docs)"

down: ## stop every container of the stack (the data volumes stay; `make down ARGS=-v` drops them)
	docker compose --profile '*' down $(ARGS)

logs: ## follow the containers' logs
	docker compose --profile '*' logs --follow

# The benchmark's load generator and reference proxy come from Debian's packages.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BENCH_PACKAGES := wrk nginx-light
HAS_BENCH_TOOLS = $(shell command -v wrk >/dev/null && PATH="$$PATH:/usr/sbin" command -v nginx >/dev/null && echo yes)

bench-tools: ## install wrk and nginx (Debian's packages) when they are missing
	@if [ "$(HAS_BENCH_TOOLS)" != yes ]; then \
		command -v apt-get >/dev/null || { echo "The benchmark needs wrk and nginx: install them"; exit 1; }; \
		export DEBIAN_FRONTEND=noninteractive; \
		$(SUDO) apt-get install -y -qq --no-install-recommends $(BENCH_PACKAGES) >/dev/null \
			|| { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends $(BENCH_PACKAGES) >/dev/null; }; \
	fi

# The alerting rules are checked and unit-tested by promtool, from Debian's prometheus package.
HAS_PROMTOOL = $(shell command -v promtool >/dev/null && echo yes)

rules-tools: ## install promtool (Debian's prometheus package) when it is missing
	@if [ "$(HAS_PROMTOOL)" != yes ]; then \
		command -v apt-get >/dev/null || { echo "The alerting rules' tests need promtool: install Prometheus's"; exit 1; }; \
		export DEBIAN_FRONTEND=noninteractive; \
		$(SUDO) apt-get install -y -qq --no-install-recommends prometheus >/dev/null \
			|| { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends prometheus >/dev/null; } \
			|| { echo "The alerting rules' tests need promtool, and Debian's prometheus package would not install"; exit 1; }; \
	fi

rules: rules-tools ## check the Prometheus rules and run their unit tests (promtool)
	promtool check rules deploy/prometheus/rules/*.yml
	promtool test rules deploy/prometheus/tests/*.yml

bench: install bench-tools ## measure the stack and its peers on the local Postgres; updates bench/results and the README
	$(BIN)/python -m bench --update-readme README.md

# SIZES=10000,3000000 by default; loading 3M orders takes minutes, the whole run some more.
bench-scale: install bench-tools ## the order service at 10k and 3M orders side by side on the local Postgres; updates bench/scale/results
	$(BIN)/python -m bench.scale $(if $(SIZES),--sizes $(SIZES)) --database-url '$(LOCAL_POSTGRES)'

clean: ## remove the virtualenv and local databases
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
