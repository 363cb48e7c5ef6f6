#!/usr/bin/env bash
# Build the binaries of the cluster test's kind node image from source, once per version, into
# the tool cache (tests/cluster/kind/node-image.sh puts them in):
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl, kubeadm
#     (Kubernetes' Go modules at KUBERNETES_VERSION),
#   coredns (COREDNS_VERSION) and a static pause binary for the sandbox image.
# `go install k8s.io/kubernetes/cmd/...@vX` refuses (the module has replace directives for its
# staging modules), so a small wrapper module requires k8s.io/kubernetes and replaces each staging
# module (read from Kubernetes' own go.mod) with the matching v0.x release. All seven commands are
# built in one `go build`, so the packages they share compile once. A second run finds the
# binaries and does nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=versions.env
source versions.env
CACHE="${TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mini-data-platform/tools}"
K8S_DIR="$CACHE/kubernetes-$KUBERNETES_VERSION"
COREDNS_DIR="$CACHE/coredns-$COREDNS_VERSION"
PAUSE_DIR="$CACHE/pause-$PAUSE_VERSION"
K8S_COMMANDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl kubeadm)

log() { printf '[build %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
command -v go >/dev/null || { echo "error: Go is needed to build Kubernetes (https://go.dev/doc/install)" >&2; exit 1; }

build_kubernetes() {
  local missing=0 cmd
  for cmd in "${K8S_COMMANDS[@]}"; do [ -x "$K8S_DIR/bin/$cmd" ] || missing=1; done
  if [ "$missing" = 0 ]; then log "Kubernetes $KUBERNETES_VERSION: cached in $K8S_DIR/bin"; return; fi
  log "Kubernetes $KUBERNETES_VERSION: building ${K8S_COMMANDS[*]} (first time only; ~15-25 min on 2 cores)"
  local src="$K8S_DIR/src" staging_version minor gomod
  mkdir -p "$src" "$K8S_DIR/bin"
  # k8s.io/kubernetes v1.M.P pairs with its staging modules at v0.M.P.
  staging_version="v0.${KUBERNETES_VERSION#v1.}"
  minor="$(echo "$KUBERNETES_VERSION" | cut -d. -f2)"
  gomod="$(cd "$src" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -nE 's/.*"GoMod": "([^"]+)".*/\1/p')"
  {
    echo "module mdp.local/kubernetes-build"
    echo
    grep -E '^go [0-9.]+' "$gomod"
    echo
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    echo
    echo "replace ("
    sed -nE 's#^[[:space:]]*(k8s\.io/[a-z0-9-]+) => \./staging/src/.*#\1#p' "$gomod" \
      | while read -r module; do echo "	$module => $module $staging_version"; done
    echo ")"
  } > "$src/go.mod"
  local pkgs=() ldflags
  for cmd in "${K8S_COMMANDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$cmd"); done
  # Stamp the version the binaries report (kubectl version, /version, node info).
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  (cd "$src" && GOFLAGS=-mod=mod go mod download && GOFLAGS=-mod=mod go get "${pkgs[@]}" >/dev/null 2>&1 || true)
  (cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$K8S_DIR/bin.tmp/" "${pkgs[@]}")
  mv "$K8S_DIR/bin.tmp/"* "$K8S_DIR/bin/" && rmdir "$K8S_DIR/bin.tmp"
  log "Kubernetes $KUBERNETES_VERSION: built into $K8S_DIR/bin"
}

build_coredns() {
  if [ -x "$COREDNS_DIR/coredns" ]; then log "CoreDNS $COREDNS_VERSION: cached"; return; fi
  log "CoreDNS $COREDNS_VERSION: building (first time only; a few minutes)"
  mkdir -p "$COREDNS_DIR"
  CGO_ENABLED=0 GOBIN="$COREDNS_DIR" go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"
  log "CoreDNS $COREDNS_VERSION: built"
}

build_pause() {
  if [ -x "$PAUSE_DIR/pause" ]; then log "pause $PAUSE_VERSION: cached"; return; fi
  log "pause $PAUSE_VERSION: compiling scripts/test-cluster/pause.c"
  mkdir -p "$PAUSE_DIR"
  cc -Os -static -o "$PAUSE_DIR/pause" scripts/test-cluster/pause.c
  strip "$PAUSE_DIR/pause"
}

case "${1:-all}" in
  kubernetes) build_kubernetes ;;
  coredns) build_coredns ;;
  pause) build_pause ;;
  all) build_pause; build_kubernetes; build_coredns ;;
  *) echo "usage: $0 [all|kubernetes|coredns|pause]" >&2; exit 2 ;;
esac
