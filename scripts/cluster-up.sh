#!/usr/bin/env bash
# `make cluster-up`: checks, a kind cluster (reused when it exists), images, both releases, and
# the URLs at the end. Safe to run again. FORCE=1 skips the capacity check; KIND_NODE_IMAGE
# (default: versions.env) picks another node image.
set -euo pipefail
cd "$(dirname "$0")/.."
node_image="${KIND_NODE_IMAGE:-}"
source versions.env
KIND_NODE_IMAGE="${node_image:-$KIND_NODE_IMAGE}"
CLUSTER="${CLUSTER:-mdp}"
NAMESPACE="${NAMESPACE:-mdp}"
TIMEOUT="${TIMEOUT:-15m}"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
fail() { printf '\n\033[31merror:\033[0m %s\n' "$1" >&2; [ -n "${2:-}" ] && printf 'fix:   %s\n' "$2" >&2; exit 1; }
# version_ge A B: A >= B (dotted numbers)
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

step "1/6 checking prerequisites"
command -v docker >/dev/null || fail "docker is not installed" "install Docker: https://docs.docker.com/get-docker/"
docker info >/dev/null 2>&1 || fail "the Docker daemon is not running (or you may not use it)" "start Docker Desktop / 'sudo systemctl start docker', or add yourself to the docker group"
for tool in kind kubectl helm; do
  command -v "$tool" >/dev/null || fail "$tool is not installed" "see the README's prerequisites table"
done
kind_v="$(kind version | sed -E 's/.*v([0-9.]+).*/\1/')"
version_ge "$kind_v" "$KIND_MIN_VERSION" || fail "kind $kind_v is too old (need >= $KIND_MIN_VERSION)" "go install sigs.k8s.io/kind@v$KIND_MIN_VERSION"
kubectl_v="$(kubectl version --client -o json | sed -nE 's/.*"gitVersion": *"v([0-9.]+).*/\1/p')"
version_ge "$kubectl_v" "$KUBECTL_MIN_VERSION" || fail "kubectl $kubectl_v is too old (need >= $KUBECTL_MIN_VERSION)" "https://kubernetes.io/docs/tasks/tools/"
helm_v="$(helm version --template '{{.Version}}' | tr -d v)"
version_ge "$helm_v" "$HELM_MIN_VERSION" || fail "helm $helm_v is too old (the Airflow chart needs >= $HELM_MIN_VERSION)" "make tools, then PATH=\$PWD/.tools/bin:\$PATH"
echo "docker, kind $kind_v, kubectl $kubectl_v, helm $helm_v: ok"

cpus="$(docker info --format '{{.NCPU}}')"
mem_gb="$(( $(docker info --format '{{.MemTotal}}') / 1024 / 1024 / 1024 ))"
if [ "$cpus" -lt "$MIN_CPUS" ] || [ "$mem_gb" -lt "$MIN_MEMORY_GB" ]; then
  msg="Docker has ${cpus} CPUs and ${mem_gb} GiB; the platform needs ${MIN_CPUS} CPUs and ${MIN_MEMORY_GB} GiB"
  if [ "${FORCE:-0}" = 1 ]; then
    echo "warning: $msg (FORCE=1: going on)"
  else
    fail "$msg" "give Docker more (Docker Desktop > Settings > Resources), or FORCE=1 make cluster-up"
  fi
fi
echo "capacity: ${cpus} CPUs, ${mem_gb} GiB: ok"

existing=0
kind get clusters 2>/dev/null | grep -qx "$CLUSTER" && existing=1
if [ "$existing" = 0 ]; then
  for port in 8080 9001 3000; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      fail "port $port on 127.0.0.1 is taken (kind maps a UI there)" "stop what listens there: 'lsof -i :$port' (or 'ss -ltnp | grep :$port')"
    fi
  done
  echo "ports 8080, 9001, 3000: free"
fi

step "2/6 kind cluster '$CLUSTER'"
if [ "$existing" = 1 ]; then
  echo "reusing the existing cluster"
  # Its context may be missing from this kubeconfig (another shell, a new KUBECONFIG).
  kind export kubeconfig --name "$CLUSTER" >/dev/null
else
  kind create cluster --name "$CLUSTER" --image "$KIND_NODE_IMAGE" --config k8s/kind-config.yaml --wait 120s \
    || fail "kind could not create the cluster" "see the README's troubleshooting (docker disk space, cgroups); 'kind delete cluster --name $CLUSTER' and retry"
fi
kubectl config use-context "kind-$CLUSTER" >/dev/null

step "3/6 building images and loading them into kind"
make --no-print-directory images IMAGE_TAG=dev
# Every deployable image, from the one list `make images` builds (images/list).
while read -r img; do
  [ -z "$img" ] || kind load docker-image --name "$CLUSTER" "mini-data-platform/$img:dev"
done < <(sed -e 's/#.*//' images/list)

on_failure() {
  printf '\n\033[31mdeploy did not become ready within %s. What is not ready:\033[0m\n' "$TIMEOUT" >&2
  kubectl -n "$NAMESPACE" get pods -o wide >&2 || true
  for pod in $(kubectl -n "$NAMESPACE" get pods --no-headers 2>/dev/null | awk '$3 != "Running" && $3 != "Completed" {print $1}'); do
    printf '\n--- %s: events\n' "$pod" >&2
    kubectl -n "$NAMESPACE" get events --field-selector "involvedObject.name=$pod" --sort-by=.lastTimestamp | tail -n 8 >&2 || true
    printf -- '--- %s: last log lines\n' "$pod" >&2
    kubectl -n "$NAMESPACE" logs "$pod" --all-containers --tail=20 >&2 || true
  done
  exit 1
}

step "4/6 both Helm releases: mdp (MinIO, PostgreSQL, Metabase, generator), then airflow"
TIMEOUT="$TIMEOUT" NAMESPACE="$NAMESPACE" make --no-print-directory deploy || on_failure

step "5/6 status"
kubectl -n "$NAMESPACE" get pods

step "6/6 ready"
cat <<MSG
  Airflow   http://localhost:8080   (user admin; password: make credentials)
  MinIO     http://localhost:9001   (make credentials)
  Metabase  http://localhost:3000   (make credentials)
Upload a file:  make demo   ·   tear down:  make cluster-down
MSG
