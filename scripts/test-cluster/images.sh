#!/usr/bin/env bash
# Docker and the images of the cluster test, without any registry:
#
#   images.sh docker-up     start Docker (Debian's dockerd, BuildKit) for this test only
#   images.sh standins      build the test stand-ins of the third-party images
#                           (tests/cluster/standins: mmdebstrap + docker import, then Debian packages)
#   images.sh build-flags   print the `docker build` flags that put the stand-ins under our
#                           images (the DOCKER_BUILD_FLAGS the test gives `make cluster-up`)
#   images.sh warm          build our images with those flags (`make images`), so the build of
#                           `make cluster-up` finds every layer in Docker's cache
#   images.sh kind-node     build the kind node image stand-in (tests/cluster/kind/node-image.sh)
#                           and print its name
#   images.sh docker-down   stop that Docker
#
# Our own images are built by `make cluster-up` itself (`make images`, the stand-ins passed as
# base-image build arguments), with DOCKER_HOST pointing at this Docker; `warm` only lets the
# first build happen while the Kubernetes binaries compile (scripts/test-cluster/prepare.sh).
#
# Docker runs with its own socket and exec root under /var/lib/mdp-local-docker, its image
# store in the tool cache (so a second CI run on the same machine reuses every layer), no bridge
# and no iptables rules of its own: builds use the host network (`--network host`) to reach the
# package registries, and nothing else changes on the machine. kind's nodes need two things of it:
# published ports through Docker's userland proxy (no iptables), and `--privileged` containers,
# which this machine refuses one capability of (tests/cluster/kind/runc-without-sys-resource, the
# daemon's default runtime, drops it).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=versions.env
source versions.env

CACHE="${TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mini-data-platform/tools}"
DOCKER_STATE="${DOCKER_STATE_DIR:-/var/lib/mdp-local-docker}"
DOCKER_ROOT="$CACHE/docker-data"
DOCKER_SOCK="$DOCKER_STATE/docker.sock"
# Debian's docker client: it speaks BuildKit through the daemon without the buildx plugin.
DOCKER_CLI="${DOCKER_CLI:-/usr/bin/docker}"
export DOCKER_HOST="unix://$DOCKER_SOCK" DOCKER_BUILDKIT=1
STANDIN_DIR=tests/cluster/standins
# What the stand-ins are called (the build arguments our Dockerfiles take).
GO_VERSION="${GO_IMAGE#golang:}"
GO_VERSION="${GO_VERSION%%-*}"
STANDIN_DEBIAN=mdp-standin/debian:bookworm
STANDIN_PYTHON=mdp-standin/python:3.11
STANDIN_UV="mdp-standin/uv:$UV_VERSION"
STANDIN_GO="mdp-standin/golang:$GO_VERSION"
STANDIN_STATIC=mdp-standin/distroless-static:nonroot
STANDIN_AIRFLOW="mdp-standin/airflow:$AIRFLOW_VERSION"
STANDIN_POSTGRES=mdp-standin/postgres:15
STANDIN_METABASE=mdp-standin/metabase:fake
STANDIN_STATSD="mdp-standin/statsd-exporter:$STATSD_EXPORTER_VERSION"
STATSD_BINARY="$CACHE/statsd_exporter-$STATSD_EXPORTER_VERSION/statsd_exporter"

log() { printf '[images %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[images] error: %s\n' "$*" >&2; exit 1; }
docker() { "$DOCKER_CLI" "$@"; }

docker_up() {
  if [ -S "$DOCKER_SOCK" ] && docker info >/dev/null 2>&1; then log "Docker already up"; return; fi
  command -v dockerd >/dev/null || die "dockerd is missing: apt-get install docker.io (.ci/run does)"
  [ -x "$DOCKER_CLI" ] || die "$DOCKER_CLI is missing: apt-get install docker.io"
  mkdir -p "$DOCKER_STATE" "$DOCKER_ROOT"
  # Outside its own directories the daemon makes /run/docker (plugin sockets) and a `docker`
  # cgroup in every hierarchy (cgroupfs driver; BuildKit's `buildkit` inside), and leaves them
  # when it stops. What did not exist before is written down here for docker-down to remove.
  local path hierarchy
  : >"$DOCKER_STATE/made-outside"
  for path in /run/docker /sys/fs/cgroup/docker; do
    [ -e "$path" ] || echo "$path" >>"$DOCKER_STATE/made-outside"
  done
  for hierarchy in /sys/fs/cgroup/*/; do
    [ -e "${hierarchy}docker" ] || echo "${hierarchy}docker" >>"$DOCKER_STATE/made-outside"
  done
  log "starting dockerd (image store $DOCKER_ROOT)"
  setsid dockerd --host "$DOCKER_HOST" --data-root "$DOCKER_ROOT" --exec-root "$DOCKER_STATE/exec" \
    --pidfile "$DOCKER_STATE/dockerd.pid" --bridge none --iptables=false --ip6tables=false \
    --ip-forward=false --ip-masq=false --userland-proxy=true \
    --add-runtime "mdp-runc=$PWD/tests/cluster/kind/runc-without-sys-resource" --default-runtime mdp-runc \
    >"$DOCKER_STATE/dockerd.log" 2>&1 </dev/null &
  local deadline=$((SECONDS + 60))
  until docker info >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || { tail -n 20 "$DOCKER_STATE/dockerd.log" >&2; die "dockerd did not start"; }
    sleep 0.5
  done
  # A run killed before its `make cluster-down` leaves kind's network in the image store, and
  # this fresh daemon has just made its bridge again: with no node on it, it is stale. Removing
  # it removes the bridge, so the host is as the run found it.
  local network
  for network in $(docker network ls -q --filter name='^kind$'); do
    if [ "$(docker network inspect -f '{{len .Containers}}' "$network")" = 0 ]; then
      log "removing the stale kind network a killed run left"
      docker network rm "$network" >/dev/null
    fi
  done
}

docker_down() {
  [ -f "$DOCKER_STATE/dockerd.pid" ] || { log "Docker not running"; return 0; }
  local pid
  pid="$(cat "$DOCKER_STATE/dockerd.pid")"
  kill -TERM "$pid" 2>/dev/null || true
  local _
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -KILL "$pid" 2>/dev/null || true
  # dockerd's own containerd follows it; anything left under our exec root goes too.
  pkill -KILL -f "containerd.*$DOCKER_STATE" 2>/dev/null || true
  local dir path
  for dir in "$DOCKER_STATE" "$DOCKER_ROOT"; do
    awk -v d="$dir" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
      umount -l "$m" 2>/dev/null || true
    done
  done
  if [ -f "$DOCKER_STATE/made-outside" ]; then
    while read -r path; do
      [ -e "$path" ] || continue
      case "$path" in
        # A cgroup goes with rmdir, children first; one still in use stays (and shows up).
        /sys/fs/cgroup/*) find "$path" -depth -type d -exec rmdir {} + 2>/dev/null || true ;;
        *) rm -rf "$path" ;;
      esac
    done <"$DOCKER_STATE/made-outside"
  fi
  rm -rf "$DOCKER_STATE"
  log "Docker stopped"
}

have() { docker image inspect "$1" >/dev/null 2>&1; }

build_flags() {
  echo "--network host --build-arg PYTHON_IMAGE=$STANDIN_PYTHON --build-arg UV_IMAGE=$STANDIN_UV" \
    "--build-arg GO_IMAGE=$STANDIN_GO --build-arg RUNTIME_IMAGE=$STANDIN_STATIC" \
    "--build-arg AIRFLOW_IMAGE=$STANDIN_AIRFLOW"
}

warm_images() {
  local started=$SECONDS
  log "our images (make images IMAGE_TAG=dev, on the stand-ins), for make cluster-up's build to find"
  make --no-print-directory images IMAGE_TAG=dev DOCKER="$DOCKER_CLI" \
    DOCKER_BUILD_FLAGS="$(build_flags) --quiet" >/dev/null
  log "our images built ($((SECONDS - started)) s)"
}

build_standins() {
  local started=$SECONDS
  if ! have "$STANDIN_DEBIAN"; then
    log "$STANDIN_DEBIAN: mmdebstrap --variant=minbase bookworm (about a minute)"
    local tar
    tar="$(mktemp --suffix=.tar)"
    # The build machine's CA bundle goes in: its package registries may sit behind a
    # TLS-inspecting proxy, and builds inside these images must trust what the machine trusts.
    mmdebstrap --quiet --variant=minbase --include=ca-certificates \
      --customize-hook="copy-in /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs" \
      bookworm "$tar" http://deb.debian.org/debian
    docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["bash"]' "$tar" "$STANDIN_DEBIAN" >/dev/null
    rm -f "$tar"
  fi
  if ! have "$STANDIN_STATIC"; then
    log "$STANDIN_STATIC: a near-empty root (passwd, tmp, CA bundle)"
    local root
    root="$(mktemp -d)"
    mkdir -p "$root/etc/ssl/certs" "$root/tmp" "$root/home/nonroot"
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
    chmod 1777 "$root/tmp"
    tar -C "$root" -c . | docker import --change 'USER 65532:65532' - "$STANDIN_STATIC" >/dev/null
    rm -rf "$root"
  fi
  # The Dockerfile stand-ins are built every time: Docker's layer cache makes an unchanged one
  # take a second, and a changed Dockerfile (or uv.lock, for Airflow's) is never skipped.
  local common=(--network host --quiet)
  log "$STANDIN_PYTHON, $STANDIN_UV, $STANDIN_GO, $STANDIN_POSTGRES"
  docker build "${common[@]}" -t "$STANDIN_PYTHON" "$STANDIN_DIR/python" >/dev/null
  docker build "${common[@]}" --build-arg "UV_VERSION=$UV_VERSION" -t "$STANDIN_UV" "$STANDIN_DIR/uv" >/dev/null
  docker build "${common[@]}" --build-arg "GO_VERSION=$GO_VERSION" -t "$STANDIN_GO" "$STANDIN_DIR/golang" >/dev/null
  docker build "${common[@]}" -t "$STANDIN_POSTGRES" "$STANDIN_DIR/postgres" >/dev/null
  log "$STANDIN_AIRFLOW: Airflow and providers at the versions of uv.lock (a few minutes the first time)"
  uv export --locked --quiet --no-hashes --no-emit-project --only-group airflow \
    >"$STANDIN_DIR/airflow/requirements.txt"
  docker build "${common[@]}" --build-arg "UV=$STANDIN_UV" -t "$STANDIN_AIRFLOW" "$STANDIN_DIR/airflow" >/dev/null
  rm -f "$STANDIN_DIR/airflow/requirements.txt"
  # The StatsD exporter `make tools` built, in an image as the official chart runs it.
  [ -x "$STATSD_BINARY" ] || die "no $STATSD_BINARY: run make tools"
  log "$STANDIN_STATSD (the binary make tools built)"
  cp "$STATSD_BINARY" "$STANDIN_DIR/statsd-exporter/statsd_exporter"
  docker build "${common[@]}" --build-arg "BASE=$STANDIN_DEBIAN" -t "$STANDIN_STATSD" "$STANDIN_DIR/statsd-exporter" >/dev/null
  rm -f "$STANDIN_DIR/statsd-exporter/statsd_exporter"
  # The fake Metabase follows tests/metabase/fake.py: rebuilt every time (seconds, cached layers).
  log "$STANDIN_METABASE (tests/metabase/fake.py)"
  cp tests/metabase/fake.py "$STANDIN_DIR/metabase/fake.py"
  docker build "${common[@]}" -t "$STANDIN_METABASE" "$STANDIN_DIR/metabase" >/dev/null
  rm -f "$STANDIN_DIR/metabase/fake.py"
  log "stand-ins ready ($((SECONDS - started)) s)"
}

case "${1:-}" in
  docker-up) docker_up ;;
  docker-down) docker_down ;;
  standins) docker_up; build_standins ;;
  build-flags) build_flags ;;
  warm) docker_up; warm_images ;;
  kind-node) docker_up; DOCKER_CLI="$DOCKER_CLI" tests/cluster/kind/node-image.sh ;;
  *) echo "usage: $0 docker-up|standins|build-flags|warm|kind-node|docker-down" >&2; exit 2 ;;
esac
