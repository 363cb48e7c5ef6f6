#!/usr/bin/env bash
# Everything `make test-cluster` needs before the tests, each part built once and cached, then
# the name of the kind node image on stdout (progress goes to stderr).
#
# Two lines of work side by side, because on a fresh machine one waits on the compiler and the
# other mostly on downloads (2 cores):
#   Go      tests/cluster/kind/node-image.sh binaries: Kubernetes, CoreDNS and pause
#           (scripts/test-cluster/build.sh), crictl, etcd, the local-path-provisioner
#   images  scripts/test-cluster/images.sh standins (Debian packages, PyPI), then `warm`: our own
#           images on the stand-ins, so the build `make cluster-up` runs finds every layer cached
# then the kind node image, which needs both (images.sh kind-node).
# Docker is started here: take the host-state snapshot before.
set -euo pipefail
cd "$(dirname "$0")/../.."

log() { printf '[prepare %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

started=$SECONDS
# Its own session, so that stopping it (a failed image build, Ctrl-C) stops every compiler too.
setsid tests/cluster/kind/node-image.sh binaries >&2 &
go_pid=$!
stop_go() { kill -TERM -- "-$go_pid" 2>/dev/null || true; }
trap 'stop_go; exit 130' INT TERM

images_status=0
{ scripts/test-cluster/images.sh standins && scripts/test-cluster/images.sh warm; } >&2 \
  || images_status=$?
if [ "$images_status" != 0 ]; then
  log "error: the image builds failed (exit $images_status); stopping the Go builds"
  stop_go
  wait "$go_pid" 2>/dev/null || true
  exit "$images_status"
fi
log "images ready ($((SECONDS - started)) s); waiting for the Go builds"
go_status=0
wait "$go_pid" || go_status=$?
trap - INT TERM
[ "$go_status" = 0 ] || { log "error: the Go builds failed (exit $go_status)"; exit "$go_status"; }
log "Go builds ready ($((SECONDS - started)) s)"
scripts/test-cluster/images.sh kind-node
