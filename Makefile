# WFM task runner: `make up` runs the system locally, `make test` runs every check.
SHELL := /bin/bash
UV ?= uv
export WFM_TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/test
export WFM_TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: install up test lint format unit integration bench migrate help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

install: ## install system packages and the Python workspace (idempotent)
	@scripts/install.sh

up: install ## start WFM locally on SQLite: broker, every service, nginx gateway on :8080
	@scripts/up.sh

migrate: install ## apply database migrations to WFM_DATABASE
	@$(UV) run --frozen python -m wfm_core.db upgrade

lint: install ## ruff (lint + format check) and mypy --strict
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen ruff format --check .
	@$(UV) run --frozen mypy

format: install ## apply ruff fixes and formatting
	@$(UV) run --frozen ruff check --fix .
	@$(UV) run --frozen ruff format .

test: install ## lint, then unit and integration tests on SQLite and PostgreSQL
	@scripts/services.sh
	@$(MAKE) --no-print-directory lint
	@scripts/console.sh test
	@$(UV) run --frozen pytest

unit: install ## unit tests only
	@$(UV) run --frozen pytest tests/unit

integration: install ## integration tests only
	@scripts/services.sh
	@$(UV) run --frozen pytest tests/integration

bench: install ## run the benchmarks (not part of `make test`)
	@scripts/services.sh
	@$(UV) run --frozen python bench/core.py
	@$(UV) run --frozen python bench/api.py
	@$(UV) run --frozen python bench/sse.py
	@$(UV) run --frozen python bench/authz.py
	@$(UV) run --frozen python bench/ingest.py --push
	@$(UV) run --frozen python bench/snapshot.py
