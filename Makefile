# Mini Data Platform — `make help` lists every target.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# KIND_NODE_IMAGE may come from the environment (versions.env only sets the default); make would
# otherwise hand versions.env's value to cluster-up.sh even when the environment says otherwise.
ENV_KIND_NODE_IMAGE := $(KIND_NODE_IMAGE)
include versions.env
KIND_NODE_IMAGE := $(or $(ENV_KIND_NODE_IMAGE),$(KIND_NODE_IMAGE))

UV ?= uv
# Built tools are cached per version outside the checkout, so a fresh clone reuses them.
TOOLS_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/mini-data-platform/tools
TOOLS_BIN := $(CURDIR)/.tools/bin
MINIO_BIN := $(TOOLS_CACHE)/minio-$(MINIO_VERSION)/minio
# The recipe's revision is part of helm's cache key: a changed build (flags) is never mixed up
# with an older build of the same version. b2: version and Kubernetes defaults set by ldflags.
HELM_BUILD := b2
HELM_BIN := $(TOOLS_CACHE)/helm-$(HELM_VERSION)-$(HELM_BUILD)/helm
STATSD_EXPORTER_BIN := $(TOOLS_CACHE)/statsd_exporter-$(STATSD_EXPORTER_VERSION)/statsd_exporter
KIND_BIN := $(TOOLS_CACHE)/kind-$(KIND_VERSION)/kind
PYTEST_ARGS ?=
# `make test` spreads the test files over TEST_WORKERS processes (pytest-xdist; auto: one per
# core, 0: no workers). A file stays in one worker, which starts its own throwaway servers.
TEST_WORKERS ?= auto
TEST_PARALLEL = $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)
BENCH_ARGS ?=
# Kubernetes: the kind cluster, the namespace of both releases, and how long `deploy` waits.
CLUSTER ?= mdp
NAMESPACE ?= mdp
TIMEOUT ?= 15m
DOCKER ?= docker
IMAGE_TAG ?= dev
# The deployable images: images/list, one name a line (cluster-up.sh and the tests read it too).
IMAGES := $(shell sed -e 's/\#.*//' images/list)
# Extra `docker build` flags for every image, e.g. stand-in base images:
#   make images DOCKER_BUILD_FLAGS="--build-arg PYTHON_IMAGE=debian-python:3.11"
DOCKER_BUILD_FLAGS ?=
# Every image gets every build argument (each Dockerfile declares the ones it uses): the
# third-party base images and versions of versions.env, and our base images at IMAGE_TAG.
IMAGE_BUILD_ARGS = $(foreach arg,PYTHON_IMAGE UV_IMAGE GO_IMAGE AIRFLOW_IMAGE MINIO_MODULE MINIO_VERSION \
  AIRFLOW_VERSION AIRFLOW_PROVIDER_CNCF_KUBERNETES_VERSION,--build-arg $(arg)=$($(arg))) \
  --build-arg RUNTIME_IMAGE=$(MINIO_RUNTIME_IMAGE) \
  --build-arg BUILDER_IMAGE=mini-data-platform/python-builder:$(IMAGE_TAG) \
  --build-arg STEP_BASE_IMAGE=mini-data-platform/python-runtime:$(IMAGE_TAG)
# $(call build_image,NAME,FLAGS): build mini-data-platform/NAME:IMAGE_TAG from the repository root.
build_image = echo "building mini-data-platform/$(1):$(IMAGE_TAG)" && \
  DOCKER_BUILDKIT=1 $(DOCKER) build $(2) $(IMAGE_BUILD_ARGS) $(DOCKER_BUILD_FLAGS) \
  -t mini-data-platform/$(1):$(IMAGE_TAG) .
# The kubeconfig context every kubectl and helm command uses (kind names it kind-<cluster>).
KUBE_CONTEXT ?= kind-$(CLUSTER)
KUBECTL := kubectl --context $(KUBE_CONTEXT) -n $(NAMESPACE)
# Where `deploy` takes the official Airflow chart from: the chart repository at the pinned
# version, or a chart directory (AIRFLOW_CHART=path/to/chart; the tests use a vendored copy).
AIRFLOW_CHART ?= airflow --repo $(AIRFLOW_CHART_REPO) --version $(AIRFLOW_CHART_VERSION)
# Extra values files for `deploy`, after the committed ones (space-separated paths).
MDP_VALUES ?=
AIRFLOW_VALUES ?=
# Airflow's pods and Jobs, selected by the official chart's labels (release "airflow"), never by
# workload kind: with LocalExecutor the scheduler is a StatefulSet, with other executors a
# Deployment (tests/k8s/test_airflow_chart.py checks these against the chart's render).
AIRFLOW_RELEASE := release=airflow
SCHEDULER_SELECTOR := component=scheduler,$(AIRFLOW_RELEASE)
API_SERVER_SELECTOR := component=api-server,$(AIRFLOW_RELEASE)
MIGRATIONS_SELECTOR := component=run-airflow-migrations,$(AIRFLOW_RELEASE)
# $(call first_pod,SELECTOR): the name of the first pod matching SELECTOR (shell, at run time).
first_pod = $$($(KUBECTL) get pods -l $(1) -o jsonpath='{.items[0].metadata.name}')
HELM ?= $(if $(wildcard $(TOOLS_BIN)/helm),$(TOOLS_BIN)/helm,helm)

##@ General

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} \
	/^[a-zA-Z0-9_-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } \
	/^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: dev
dev: ## Set up: the Python environment from uv.lock and the tools (MinIO, helm, kind, ...), side by side
	@# The downloads of uv sync overlap the compiles of make tools (first run: minutes saved).
	$(MAKE) -j4 tools venv
	@echo "ready: run 'make test'"

.PHONY: venv
venv: ## The Python environment from uv.lock (uv sync --locked; part of dev)
	$(UV) sync --locked

.PHONY: tools
tools: $(TOOLS_BIN)/minio $(TOOLS_BIN)/helm $(TOOLS_BIN)/statsd_exporter $(TOOLS_BIN)/kind ## Build the pinned MinIO server, helm (with its version ldflags), the StatsD exporter and kind via go install (cached)

$(MINIO_BIN):
	@command -v go >/dev/null || { echo "error: Go is needed to build MinIO (https://go.dev/doc/install)"; exit 1; }
	@echo "building MinIO $(MINIO_VERSION) with go install (first time only, a few minutes) ..."
	mkdir -p $(dir $@)
	GOBIN=$(dir $@) go install $(MINIO_MODULE)@$(MINIO_VERSION)

$(TOOLS_BIN)/minio: $(MINIO_BIN)
	mkdir -p $(TOOLS_BIN)
	ln -sf $(MINIO_BIN) $@

# The StatsD exporter the official Airflow chart deploys (same version as its image), for the
# tests that feed Airflow's metrics through it to the dashboards' queries.
$(STATSD_EXPORTER_BIN):
	@command -v go >/dev/null || { echo "error: Go is needed to build the StatsD exporter (https://go.dev/doc/install)"; exit 1; }
	mkdir -p $(dir $@)
	GOBIN=$(dir $@) go install $(STATSD_EXPORTER_MODULE)@$(STATSD_EXPORTER_VERSION)

$(TOOLS_BIN)/statsd_exporter: $(STATSD_EXPORTER_BIN)
	mkdir -p $(TOOLS_BIN)
	ln -sf $(STATSD_EXPORTER_BIN) $@

# kind, at the version `make cluster-up` is tested with (its minimum is KIND_MIN_VERSION).
$(KIND_BIN):
	@command -v go >/dev/null || { echo "error: Go is needed to build kind (https://go.dev/doc/install)"; exit 1; }
	mkdir -p $(dir $@)
	CGO_ENABLED=0 GOBIN=$(dir $@) go install -trimpath -ldflags "-s -w" $(KIND_MODULE)@$(KIND_VERSION)

$(TOOLS_BIN)/kind: $(KIND_BIN)
	mkdir -p $(TOOLS_BIN)
	ln -sf $(KIND_BIN) $@

# helm sets its version and default Kubernetes version with -X ldflags in its own Makefile; a bare
# `go install` leaves "v3.22" and Kubernetes v1.20, so `helm template` without --kube-version
# refuses charts whose kubeVersion is >= 1.30. We pass the same flags: the version, and the
# Kubernetes minor of the client-go that helm's go.mod requires (as helm's Makefile does).
$(HELM_BIN):
	@command -v go >/dev/null || { echo "error: Go is needed to build helm (https://go.dev/doc/install)"; exit 1; }
	@echo "building helm $(HELM_VERSION) with go install (first time only) ..."
	mkdir -p $(dir $@)
	gomod="$$(go mod download -json $(HELM_MODULE)@$(HELM_VERSION) | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"; \
	k8s_minor="$$(sed -n 's|^\s*k8s.io/client-go v0\.\([0-9]*\)\..*|\1|p' "$$gomod")"; \
	test -n "$$k8s_minor" || { echo "error: no k8s.io/client-go in $$gomod"; exit 1; }; \
	ldflags="-s -w -X $(HELM_MODULE)/internal/version.version=$(HELM_VERSION) \
	  -X $(HELM_MODULE)/internal/version.metadata= -X $(HELM_MODULE)/internal/version.gitTreeState=clean"; \
	for pkg in pkg/chartutil pkg/lint/rules; do \
	  ldflags="$$ldflags -X $(HELM_MODULE)/$$pkg.k8sVersionMajor=1 -X $(HELM_MODULE)/$$pkg.k8sVersionMinor=$$k8s_minor"; \
	done; \
	CGO_ENABLED=0 GOBIN=$(dir $@) go install -trimpath -ldflags "$$ldflags" $(HELM_MODULE)/cmd/helm@$(HELM_VERSION)

# Always re-pointed (cheap): a link to an older build of the same version must not survive.
.PHONY: $(TOOLS_BIN)/helm
$(TOOLS_BIN)/helm: $(HELM_BIN)
	mkdir -p $(TOOLS_BIN)
	ln -sfn $(HELM_BIN) $@

.PHONY: test
test: ## Run all tests (unit + integration against real MinIO and PostgreSQL), on every core
	$(UV) run --locked pytest $(TEST_PARALLEL) $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: ## Only the tests that need no server (neither marker integration nor e2e)
	$(UV) run --locked pytest -m "not integration and not e2e" $(PYTEST_ARGS)

.PHONY: test-integration
test-integration: ## Only the tests against the real MinIO and PostgreSQL (marker integration, not e2e)
	$(UV) run --locked pytest -m "integration and not e2e" $(PYTEST_ARGS)

.PHONY: test-e2e
test-e2e: ## Only the production DAGs end to end through the test Kubernetes API (marker e2e)
	$(UV) run --locked pytest -m e2e $(PYTEST_ARGS)

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

# The steps run from an environment shaped like the step images: only the step extras, the project
# installed as a wheel, bytecode compiled (images/python-base/Dockerfile does the same).
BENCH_VENV := $(CURDIR)/.bench-venv
# dlt's own environment for the dlt way: only the bench group (dlt, pyarrow, psycopg2), compiled,
# as a dlt user would deploy it (the dev environment also carries Airflow, which dlt probes).
BENCH_DLT_VENV := $(CURDIR)/.bench-dlt-venv

.PHONY: bench
bench: tools ## Steps as 3 processes vs mdp run vs dlt vs hand-written SQL upsert vs COPY, 1M rows; BENCH_ARGS to tune
	UV_PROJECT_ENVIRONMENT=$(BENCH_VENV) UV_COMPILE_BYTECODE=1 $(UV) sync --locked --quiet \
	  --no-default-groups --no-editable --reinstall-package mini-data-platform --extra validator --extra transformer --extra loader --extra generator
	UV_PROJECT_ENVIRONMENT=$(BENCH_DLT_VENV) UV_COMPILE_BYTECODE=1 $(UV) sync --locked --quiet \
	  --no-default-groups --group bench --no-install-project
	$(UV) run --locked --group bench python -m bench.run --step-python $(BENCH_VENV)/bin/python \
	  --dlt-python $(BENCH_DLT_VENV)/bin/python $(BENCH_ARGS)

.PHONY: clean
clean: ## Remove caches and the local tool links (keeps the tool cache)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .tools .bench-venv .bench-dlt-venv dist build

##@ Generated files

# Files generated from a source in the repository; tests fail when one is stale, `verify` too.
GENERATED := contracts/contract.schema.json docs/architecture.svg
# The Airflow chart facts (charts/airflow/official-chart-facts.json) are recorded from the
# official chart's source, which CI cannot download: give its folder(s) to include them, e.g.
#   make generate AIRFLOW_CHART_FACTS_ARGS="/path/to/chart --source 'apache/airflow chart/ at <commit>'"
AIRFLOW_CHART_FACTS_ARGS ?=

.PHONY: generate
generate: diagram ## Regenerate the contract JSON Schema and the diagram (and the Airflow chart facts, see AIRFLOW_CHART_FACTS_ARGS)
	$(UV) run --locked mdp contracts schema --output contracts/contract.schema.json
	$(if $(AIRFLOW_CHART_FACTS_ARGS),$(UV) run --locked python scripts/record-airflow-chart-facts.py $(AIRFLOW_CHART_FACTS_ARGS))

.PHONY: diagram
diagram: ## Render docs/architecture.dot to docs/architecture.svg (Graphviz dot, deterministic)
	$(UV) run --locked python scripts/render-diagram.py docs/architecture.dot docs/architecture.svg

.PHONY: verify
verify: generate ## Fail when a generated file differs from what is committed
	git diff --exit-code -- $(GENERATED)

##@ Kubernetes (kind)

.PHONY: cluster-up
cluster-up: ## Check prerequisites, create/reuse the kind cluster, build, deploy, print URLs
	CLUSTER=$(CLUSTER) NAMESPACE=$(NAMESPACE) TIMEOUT=$(TIMEOUT) KIND_NODE_IMAGE=$(KIND_NODE_IMAGE) scripts/cluster-up.sh

.PHONY: cluster-down
cluster-down: ## Delete the kind cluster and everything in it (volumes included)
	kind delete cluster --name $(CLUSTER)
	@# kind leaves its Docker network behind; remove it once no kind cluster is left on it.
	if [ -z "$$(kind get clusters 2>/dev/null)" ] && $(DOCKER) network inspect kind >/dev/null 2>&1; then \
	  $(DOCKER) network rm kind >/dev/null && echo "removed Docker network kind"; fi

.PHONY: images
images: ## Build images/python-base, then every image of images/list (IMAGE_TAG, DOCKER_BUILD_FLAGS)
	$(call build_image,python-builder,-f images/python-base/Dockerfile --target builder)
	$(call build_image,python-runtime,-f images/python-base/Dockerfile --target runtime)
	$(foreach img,$(IMAGES),$(call build_image,$(img),-f images/$(img)/Dockerfile);)

.PHONY: namespace
namespace: ## Create/update the namespace with its Pod Security labels (k8s/namespace.yaml)
	sed -e 's/^  name: mdp$$/  name: $(NAMESPACE)/' k8s/namespace.yaml | kubectl --context $(KUBE_CONTEXT) apply -f -

.PHONY: deploy
deploy: namespace ## Namespace, then helm upgrade --install of ours and of Airflow (migrations + pool Job)
	$(HELM) upgrade --install mdp charts/mini-data-platform --kube-context $(KUBE_CONTEXT) \
	  --namespace $(NAMESPACE) --wait --timeout $(TIMEOUT) $(foreach f,$(MDP_VALUES),--values $(f)) \
	  --set images.steps.tag=$(IMAGE_TAG) --set images.minio.tag=$(IMAGE_TAG)
	@# The migration Job (migrations, then the pool) is a plain Job, and a Job's pod template is
	@# immutable: remove the previous one so the upgrade creates it anew (charts/airflow/values.yaml).
	$(KUBECTL) delete job -l $(MIGRATIONS_SELECTOR) --ignore-not-found
	$(HELM) upgrade --install airflow $(AIRFLOW_CHART) \
	  --kube-context $(KUBE_CONTEXT) --namespace $(NAMESPACE) --wait --timeout $(TIMEOUT) \
	  --values charts/airflow/values.yaml $(foreach f,$(AIRFLOW_VALUES),--values $(f)) \
	  --set images.airflow.tag=$(IMAGE_TAG)
	@# Until the Job is done the pool may be missing; a Job already gone finished (TTL).
	if $(KUBECTL) get job -l $(MIGRATIONS_SELECTOR) -o name | grep -q .; then \
	  $(KUBECTL) wait --for=condition=complete job -l $(MIGRATIONS_SELECTOR) --timeout $(TIMEOUT); fi

.PHONY: port-forward
port-forward: ## Forward the UIs and PostgreSQL to localhost (when not using kind's port mappings)
	@echo "Airflow :8080  MinIO API :9000  console :9001  Metabase :3000  PostgreSQL :5432  (Ctrl-C stops)"
	$(KUBECTL) port-forward svc/airflow-api-server 8080:8080 & \
	$(KUBECTL) port-forward svc/mdp-minio 9000:9000 & \
	$(KUBECTL) port-forward svc/mdp-minio-console 9001:9001 & \
	$(KUBECTL) port-forward svc/mdp-metabase 3000:3000 & \
	$(KUBECTL) port-forward svc/mdp-postgresql 5432:5432 & \
	wait

.PHONY: status
status: ## Pods, Jobs, CronJobs and the latest file runs (mdp_ingest_file, one per file)
	$(KUBECTL) get pods,jobs,cronjobs
	-$(KUBECTL) exec $(call first_pod,$(SCHEDULER_SELECTOR)) -c scheduler -- \
	  airflow dags list-runs mdp_ingest_file -o table 2>/dev/null | sed -n 1,12p

.PHONY: credentials
credentials: ## Print every UI's URL, user and password
	@secret() { $(KUBECTL) get secret "$$1" -o jsonpath="{.data.$$2}" | base64 -d; }; \
	echo "Airflow   http://localhost:8080  user admin  password $$($(KUBECTL) exec $(call first_pod,$(API_SERVER_SELECTOR)) -c api-server -- \
	  python -c 'import json,glob; print(json.load(open(glob.glob("/opt/airflow/simple_auth_manager_passwords.json*")[0]))["admin"])')"; \
	echo "MinIO     http://localhost:9001  user $$(secret mdp-minio-root username)  password $$(secret mdp-minio-root password)"; \
	echo "Metabase  http://localhost:3000  user $$(secret mdp-metabase-admin email)  password $$(secret mdp-metabase-admin password)"; \
	echo "Postgres  (make port-forward) 127.0.0.1:5432/warehouse  read-only user mdp_readonly  password $$(secret mdp-postgres-reader password)"

.PHONY: logs
logs: ## Follow the Airflow scheduler's log (LocalExecutor: the task logs are in it)
	$(KUBECTL) logs -l $(SCHEDULER_SELECTOR) -c scheduler --tail=50 -f

.PHONY: demo
demo: ## Run the generator once per dataset, trigger a sweep (mdp_ingest), show the file runs and row counts
	@for ds in sales youtube; do \
	  $(KUBECTL) create job "demo-$$ds-$$(date +%s)" --from=cronjob/mdp-generator-$$ds; done
	$(KUBECTL) wait --for=condition=complete job -l app.kubernetes.io/name=generator --timeout=5m
	$(KUBECTL) exec $(call first_pod,$(SCHEDULER_SELECTOR)) -c scheduler -- airflow dags trigger mdp_ingest
	@echo "waiting 90 s for the run ..."; sleep 90
	@# sed, not head: head exits early, the writer gets SIGPIPE and pipefail fails the recipe.
	$(KUBECTL) exec $(call first_pod,$(SCHEDULER_SELECTOR)) -c scheduler -- \
	  airflow dags list-runs mdp_ingest_file -o table | sed -n 1,12p
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

##@ The cluster test (kind with a node image built here; needs root)

LOCAL_KUBECTL := $(TOOLS_CACHE)/kubernetes-$(KUBERNETES_VERSION)/bin/kubectl
# The Docker scripts/test-cluster/images.sh starts for the test's builds and kind's nodes.
TEST_DOCKER_HOST := unix:///var/lib/mdp-local-docker/docker.sock

# Which cluster tests run (pytest arguments): all of them; CLUSTER_TESTS='-m "not faults"' leaves
# out the fault tests (tests/cluster/test_resilience.py: platform pods deleted mid-burst).
CLUSTER_TESTS ?=
# Where they are; make bench-cluster points it at its benchmark.
CLUSTER_PATHS ?= tests/cluster

.PHONY: bench-cluster
bench-cluster: ## The platform's throughput on the test's kind cluster: 100 small files, one of 1M rows (on demand, not in CI)
	$(MAKE) test-cluster CLUSTER_PATHS=tests/cluster/bench_throughput.py CLUSTER_TESTS=

.PHONY: test-cluster
test-cluster: tools ## The platform end to end on kind: make cluster-up, the tests, make cluster-down (needs root)
	scripts/test-cluster/host-state.sh > .host-state.before
	scripts/test-cluster/host-state.sh tunables > .host-state.tunables
	@# Docker creates /lib/modules for kind's read-only bind mount; removed after if it made it.
	status=0; had_modules=0; [ -e /lib/modules ] && had_modules=1; \
	{ node_image="$$(scripts/test-cluster/prepare.sh)" \
	  && DOCKER_HOST=$(TEST_DOCKER_HOST) MDP_KIND_NODE_IMAGE="$$node_image" MDP_CLUSTER_KUBECTL=$(LOCAL_KUBECTL) \
	     $(UV) run --locked pytest -s $(CLUSTER_PATHS) $(CLUSTER_TESTS) $(PYTEST_ARGS); } || status=$$?; \
	if DOCKER_HOST=$(TEST_DOCKER_HOST) $(TOOLS_BIN)/kind get clusters 2>/dev/null | grep -qx $(CLUSTER); then \
	  echo "error: the tests left the kind cluster $(CLUSTER) behind; deleting it"; status=1; \
	  DOCKER_HOST=$(TEST_DOCKER_HOST) PATH=$(TOOLS_BIN):$$PATH make --no-print-directory cluster-down DOCKER=/usr/bin/docker || true; fi; \
	if [ "$$had_modules" = 0 ] && [ -d /lib/modules ]; then rmdir /lib/modules 2>/dev/null || true; fi; \
	scripts/test-cluster/images.sh docker-down || true; \
	sysctl -q -w $$(cat .host-state.tunables) || true; \
	scripts/test-cluster/host-state.sh > .host-state.after; \
	if ! diff -u .host-state.before .host-state.after; then \
	  echo "error: the cluster test left the changes above behind"; status=1; fi; \
	rm -f .host-state.before .host-state.after .host-state.tunables; \
	exit $$status
