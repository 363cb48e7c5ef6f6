# Mini Data Platform — `make help` lists every target.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

include versions.env

UV ?= uv
# Built tools are cached per version outside the checkout, so a fresh clone reuses them.
TOOLS_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/mini-data-platform/tools
TOOLS_BIN := $(CURDIR)/.tools/bin
MINIO_BIN := $(TOOLS_CACHE)/minio-$(MINIO_VERSION)/minio
PYTEST_ARGS ?=
BENCH_ARGS ?=

##@ General

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} \
	/^[a-zA-Z_-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } \
	/^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: dev
dev: tools ## Set up: Python environment from uv.lock, plus the MinIO server binary
	$(UV) sync --locked
	@echo "ready: run 'make test'"

.PHONY: tools
tools: $(TOOLS_BIN)/minio ## Build the pinned MinIO server with go install (cached)

$(MINIO_BIN):
	@command -v go >/dev/null || { echo "error: Go is needed to build MinIO (https://go.dev/doc/install)"; exit 1; }
	@echo "building MinIO $(MINIO_VERSION) with go install (first time only, a few minutes) ..."
	mkdir -p $(dir $@)
	GOBIN=$(dir $@) go install $(MINIO_MODULE)@$(MINIO_VERSION)

$(TOOLS_BIN)/minio: $(MINIO_BIN)
	mkdir -p $(TOOLS_BIN)
	ln -sf $(MINIO_BIN) $@

.PHONY: test
test: ## Run all tests (unit + integration against real MinIO and PostgreSQL)
	$(UV) run --locked pytest $(PYTEST_ARGS)

.PHONY: lint
lint: ## Lint and type-check (ruff, ruff format --check, mypy strict)
	$(UV) run --locked ruff check .
	$(UV) run --locked ruff format --check .
	$(UV) run --locked mypy
	cd dags && $(UV) run --locked mypy --strict --config-file ../pyproject.toml mdp_dags mdp_ingest.py mdp_reprocess.py

.PHONY: fmt
fmt: ## Format the code and apply safe lint fixes
	$(UV) run --locked ruff format .
	$(UV) run --locked ruff check --fix .

.PHONY: bench
bench: tools ## Benchmark the steps on real servers (throughput, peak RSS); BENCH_ARGS to tune
	$(UV) run --locked python -m bench.run $(BENCH_ARGS)

.PHONY: clean
clean: ## Remove caches and the local tool links (keeps the tool cache)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .tools dist build

##@ Local pipeline (no Kubernetes)

.PHONY: quickstart
quickstart: tools ## Run the whole pipeline locally on throwaway MinIO + PostgreSQL (Ctrl-C stops)
	$(UV) run --locked python -m mdp.quickstart

.PHONY: quickstart-down
quickstart-down: ## Stop a running quickstart's servers and delete their data
	$(UV) run --locked python -m mdp.quickstart --down
