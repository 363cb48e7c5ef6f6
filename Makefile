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
HELM_BIN := $(TOOLS_CACHE)/helm-$(HELM_VERSION)/helm
PYTEST_ARGS ?=
BENCH_ARGS ?=
# Kubernetes: the kind cluster, the namespace of both releases, and how long `deploy` waits.
CLUSTER ?= mdp
NAMESPACE ?= mdp
TIMEOUT ?= 15m
DOCKER ?= docker
IMAGE_TAG ?= dev
STEP_IMAGES := validator transformer loader generator provisioner
KUBECTL := kubectl --context kind-$(CLUSTER) -n $(NAMESPACE)
HELM ?= $(if $(wildcard $(TOOLS_BIN)/helm),$(TOOLS_BIN)/helm,helm)

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
tools: $(TOOLS_BIN)/minio $(TOOLS_BIN)/helm ## Build the pinned MinIO server and helm with go install (cached)

$(MINIO_BIN):
	@command -v go >/dev/null || { echo "error: Go is needed to build MinIO (https://go.dev/doc/install)"; exit 1; }
	@echo "building MinIO $(MINIO_VERSION) with go install (first time only, a few minutes) ..."
	mkdir -p $(dir $@)
	GOBIN=$(dir $@) go install $(MINIO_MODULE)@$(MINIO_VERSION)

$(TOOLS_BIN)/minio: $(MINIO_BIN)
	mkdir -p $(TOOLS_BIN)
	ln -sf $(MINIO_BIN) $@

$(HELM_BIN):
	@command -v go >/dev/null || { echo "error: Go is needed to build helm (https://go.dev/doc/install)"; exit 1; }
	@echo "building helm $(HELM_VERSION) with go install (first time only) ..."
	mkdir -p $(dir $@)
	GOBIN=$(dir $@) go install $(HELM_MODULE)/cmd/helm@$(HELM_VERSION)

$(TOOLS_BIN)/helm: $(HELM_BIN)
	mkdir -p $(TOOLS_BIN)
	ln -sf $(HELM_BIN) $@

.PHONY: test
test: ## Run all tests (unit + integration against real MinIO and PostgreSQL)
	$(UV) run --locked pytest $(PYTEST_ARGS)

.PHONY: lint
lint: ## Lint and type-check (ruff, ruff format --check, mypy strict)
	$(UV) run --locked ruff check .
	$(UV) run --locked ruff format --check .
	$(UV) run --locked mypy
	cd dags && $(UV) run --locked mypy --strict --config-file ../pyproject.toml mdp_dags mdp_ingest.py mdp_ingest_file.py mdp_reprocess.py airflow_local_settings.py

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

##@ Kubernetes (kind)

.PHONY: cluster-up
cluster-up: ## Check prerequisites, create/reuse the kind cluster, build, deploy, print URLs
	CLUSTER=$(CLUSTER) NAMESPACE=$(NAMESPACE) TIMEOUT=$(TIMEOUT) scripts/cluster-up.sh

.PHONY: cluster-down
cluster-down: ## Delete the kind cluster and everything in it (volumes included)
	kind delete cluster --name $(CLUSTER)

.PHONY: images
images: ## Build every image (step images, MinIO, Airflow) with the tag IMAGE_TAG
	@for img in $(STEP_IMAGES); do \
	  echo "building mini-data-platform/$$img:$(IMAGE_TAG)"; \
	  $(DOCKER) build -f images/step/Dockerfile --build-arg EXTRA=$$img --build-arg UV_VERSION=$(UV_VERSION) \
	    -t mini-data-platform/$$img:$(IMAGE_TAG) . ; \
	done
	$(DOCKER) build -f images/minio/Dockerfile --build-arg MINIO_MODULE=$(MINIO_MODULE) \
	  --build-arg MINIO_VERSION=$(MINIO_VERSION) -t mini-data-platform/minio:$(IMAGE_TAG) .
	$(DOCKER) build -f images/airflow/Dockerfile --build-arg AIRFLOW_VERSION=$(AIRFLOW_VERSION) \
	  --build-arg AIRFLOW_PROVIDER_CNCF_KUBERNETES_VERSION=$(AIRFLOW_PROVIDER_CNCF_KUBERNETES_VERSION) \
	  -t mini-data-platform/airflow:$(IMAGE_TAG) .

.PHONY: deploy
deploy: ## helm upgrade --install both releases (ours, then Airflow) and create the Airflow pool
	$(HELM) upgrade --install mdp charts/mini-data-platform --kube-context kind-$(CLUSTER) \
	  --namespace $(NAMESPACE) --create-namespace --wait --timeout $(TIMEOUT) \
	  --set images.steps.tag=$(IMAGE_TAG) --set images.minio.tag=$(IMAGE_TAG)
	$(HELM) upgrade --install airflow airflow --repo $(AIRFLOW_CHART_REPO) --version $(AIRFLOW_CHART_VERSION) \
	  --kube-context kind-$(CLUSTER) --namespace $(NAMESPACE) --wait --timeout $(TIMEOUT) \
	  --values charts/airflow/values.yaml --set images.airflow.tag=$(IMAGE_TAG)
	$(KUBECTL) exec deploy/airflow-scheduler -c scheduler -- \
	  airflow pools set mdp_pipeline 8 "step pods of the Mini Data Platform DAGs"

.PHONY: port-forward
port-forward: ## Forward the UIs and PostgreSQL to localhost (when not using kind's port mappings)
	@echo "Airflow :8080  MinIO console :9001  Metabase :3000  PostgreSQL :5432  (Ctrl-C stops)"
	$(KUBECTL) port-forward svc/airflow-api-server 8080:8080 & \
	$(KUBECTL) port-forward svc/mdp-minio-console 9001:9001 & \
	$(KUBECTL) port-forward svc/mdp-metabase 3000:3000 & \
	$(KUBECTL) port-forward svc/mdp-postgresql 5432:5432 & \
	wait

.PHONY: status
status: ## Pods, Jobs, CronJobs and the latest file runs (mdp_ingest_file, one per file)
	$(KUBECTL) get pods,jobs,cronjobs
	-$(KUBECTL) exec deploy/airflow-scheduler -c scheduler -- airflow dags list-runs mdp_ingest_file -o table 2>/dev/null | head -n 12

.PHONY: credentials
credentials: ## Print every UI's URL, user and password
	@secret() { $(KUBECTL) get secret "$$1" -o jsonpath="{.data.$$2}" | base64 -d; }; \
	echo "Airflow   http://localhost:8080  user admin  password $$($(KUBECTL) exec deploy/airflow-api-server -- \
	  python -c 'import json,glob; print(json.load(open(glob.glob("/opt/airflow/simple_auth_manager_passwords.json*")[0]))["admin"])')"; \
	echo "MinIO     http://localhost:9001  user $$(secret mdp-minio-root username)  password $$(secret mdp-minio-root password)"; \
	echo "Metabase  http://localhost:3000  user $$(secret mdp-metabase-admin email)  password $$(secret mdp-metabase-admin password)"; \
	echo "Postgres  (make port-forward) 127.0.0.1:5432/warehouse  read-only user mdp_readonly  password $$(secret mdp-postgres-reader password)"

.PHONY: logs
logs: ## Follow the Airflow scheduler's log (LocalExecutor: the task logs are in it)
	$(KUBECTL) logs deploy/airflow-scheduler -c scheduler --tail=50 -f

.PHONY: demo
demo: ## Run the generator once per dataset, trigger a sweep (mdp_ingest), show the file runs and row counts
	@for ds in sales youtube; do \
	  $(KUBECTL) create job "demo-$$ds-$$(date +%s)" --from=cronjob/mdp-generator-$$ds; done
	$(KUBECTL) wait --for=condition=complete job -l app.kubernetes.io/name=generator --timeout=5m
	$(KUBECTL) exec deploy/airflow-scheduler -c scheduler -- airflow dags trigger mdp_ingest
	@echo "waiting 90 s for the run ..."; sleep 90
	$(KUBECTL) exec deploy/airflow-scheduler -c scheduler -- airflow dags list-runs mdp_ingest_file -o table | head -n 12
	$(KUBECTL) exec statefulset/mdp-postgresql -- sh -c 'psql -U "$$POSTGRES_USER" -d warehouse -c \
	  "SELECT status, count(*) FROM audit.file_ingestion_log GROUP BY 1" -c \
	  "SELECT (SELECT count(*) FROM warehouse.sales) AS sales_rows, (SELECT count(*) FROM warehouse.video_snapshots) AS video_snapshot_rows"'
	@echo "Dashboards: http://localhost:3000 (collection 'Mini Data Platform': Sales, YouTube, Pipeline health; login: make credentials)"

##@ Local pipeline (no Kubernetes)

.PHONY: quickstart
quickstart: tools ## Run the whole pipeline locally on throwaway MinIO + PostgreSQL (Ctrl-C stops)
	$(UV) run --locked python -m mdp.quickstart

.PHONY: quickstart-down
quickstart-down: ## Stop a running quickstart's servers and delete their data
	$(UV) run --locked python -m mdp.quickstart --down
