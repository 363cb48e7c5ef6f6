#!/usr/bin/env bash
# Test only: build the kind node image stand-in, with no registry (users run kind's official
# kindest/node). Prints the image's name. Called by scripts/test-cluster/images.sh kind-node,
# with DOCKER_HOST pointing at that script's Docker.
#
# What goes in, all built on this machine:
#   base      kind's images/base recipe (base.Dockerfile) on a bookworm root from mmdebstrap
#   binaries  kubeadm, kubelet, kubectl (scripts/test-cluster/build.sh), crictl
#   images    kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy, etcd, CoreDNS
#             and pause under the tags `kubeadm config images list` names, the
#             local-path-provisioner kind installs as the default StorageClass `standard`, and
#             the third-party stand-ins the charts run (PostgreSQL, Metabase, StatsD exporter),
#             all imported into the node's containerd as `kind build node-image` does (pinned,
#             not unpacked), so no pod ever pulls
#   network   a static bridge CNI configuration (10-mdp-bridge.conflist; kindnetd cannot be built)
#
# The image's tag carries a hash of this recipe, the versions and the stand-ins' image IDs: an
# unchanged one is reused from Docker's image store (kept in the tool cache), a changed one is
# rebuilt (a few minutes; the rootfs and Go builds are cached by version).
set -euo pipefail
cd "$(dirname "$0")/../../.."
# shellcheck source=versions.env
source versions.env

CACHE="${TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mini-data-platform/tools}"
HERE=tests/cluster/kind
K8S_BIN="$CACHE/kubernetes-$KUBERNETES_VERSION/bin"
COREDNS_BIN="$CACHE/coredns-$COREDNS_VERSION/coredns"
PAUSE_BIN="$CACHE/pause-$PAUSE_VERSION/pause"
CRICTL_BIN="$CACHE/crictl-$CRICTL_VERSION/crictl"
ETCD_BIN="$CACHE/etcd-$ETCD_VERSION/etcd"
LOCAL_PATH_BIN="$CACHE/local-path-provisioner-$LOCAL_PATH_PROVISIONER_VERSION/local-path-provisioner"
DEBIAN_STANDIN=mdp-standin/debian:bookworm
# Third-party stand-ins preloaded into the node (scripts/test-cluster/images.sh builds them).
PRELOADED=(mdp-standin/postgres:15 mdp-standin/metabase:fake "mdp-standin/statsd-exporter:$STATSD_EXPORTER_VERSION")
ROOTFS_PACKAGES=systemd,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,e2fsprogs,bash,ca-certificates,curl,jq,procps,containerd,runc,containernetworking-plugins
ROOTFS_IMAGE="mdp-standin/kind-rootfs:bookworm-$(echo "$ROOTFS_PACKAGES" | sha256sum | cut -c1-12)"

container=""
# The name containerd stores an image under (docker.io/ and :latest filled in, as Docker does).
qualified() {
  local name="$1" first="${1%%/*}"
  [[ "$name" == */* ]] || name="library/$name"
  [[ "$first" == *.* || "$first" == *:* || "$first" == localhost ]] || name="docker.io/$name"
  echo "$name"
}
log() { printf '[kind-node %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[kind-node] error: %s\n' "$*" >&2; exit 1; }
docker() { "${DOCKER_CLI:-/usr/bin/docker}" "$@"; }
have() { docker image inspect "$1" >/dev/null 2>&1; }

# go_build DIR NAME MODULE VERSION PACKAGE: build PACKAGE of MODULE@VERSION into DIR/NAME, once.
# A throwaway module requires it, so modules with replace directives (etcd's) build as well.
go_build() {
  local dir="$1" name="$2" module="$3" version="$4" package="$5"
  [ -x "$dir/$name" ] && return
  log "$name $version: go build $package (first time only)"
  local src
  src="$(mktemp -d)"
  (cd "$src" && go mod init mdp.local/build >/dev/null 2>&1 \
    && GOFLAGS=-mod=mod go get "$module@$version" >/dev/null 2>&1 \
    && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$dir.tmp/$name" "$package")
  mkdir -p "$dir" && mv "$dir.tmp/$name" "$dir/$name" && rmdir "$dir.tmp"
  rm -rf "$src"
}

build_binaries() {
  scripts/test-cluster/build.sh >&2
  go_build "$(dirname "$CRICTL_BIN")" crictl sigs.k8s.io/cri-tools "$CRICTL_VERSION" sigs.k8s.io/cri-tools/cmd/crictl
  go_build "$(dirname "$ETCD_BIN")" etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" go.etcd.io/etcd/server/v3
  go_build "$(dirname "$LOCAL_PATH_BIN")" local-path-provisioner github.com/rancher/local-path-provisioner \
    "$LOCAL_PATH_PROVISIONER_VERSION" github.com/rancher/local-path-provisioner
}

# The images kubeadm of this version runs, checked against the versions we build.
kubeadm_image() { "$K8S_BIN/kubeadm" config images list --kubernetes-version "$KUBERNETES_VERSION" 2>/dev/null | grep "/$1:"; }

# image_from_binary TAG BINARY PATH [ENTRYPOINT-JSON]: a one-layer image holding BINARY at PATH.
image_from_binary() {
  local tag="$1" binary="$2" path="$3" entrypoint="${4:-}" root
  root="$(mktemp -d)"
  install -D -m 0755 "$binary" "$root$path"
  mkdir -p "$root/etc" "$root/tmp" && chmod 1777 "$root/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n' >"$root/etc/passwd"
  local changes=(--change 'ENV PATH=/usr/local/bin:/usr/bin:/bin')
  [ -n "$entrypoint" ] && changes+=(--change "ENTRYPOINT $entrypoint")
  tar -C "$root" -c . | docker import "${changes[@]}" - "$tag" >/dev/null
  rm -rf "$root"
}

build_component_images() {
  local name
  for name in kube-apiserver kube-controller-manager kube-scheduler; do
    image_from_binary "$(kubeadm_image "$name")" "$K8S_BIN/$name" "/usr/local/bin/$name"
  done
  # kube-proxy programs iptables: Debian's iptables and conntrack, and the backend chooser.
  local ctx
  ctx="$(mktemp -d)"
  cp "$K8S_BIN/kube-proxy" "$ctx/kube-proxy-bin" && cp "$HERE/kube-proxy-wrapper" "$ctx/kube-proxy"
  docker build --quiet --network host -t "$(kubeadm_image kube-proxy)" -f - "$ctx" >/dev/null <<EOF
FROM $DEBIAN_STANDIN
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      iptables conntrack ipset kmod && rm -rf /var/lib/apt/lists/*
COPY kube-proxy-bin kube-proxy /usr/local/bin/
EOF
  rm -rf "$ctx"
  local etcd coredns pause
  etcd="$(kubeadm_image etcd)" coredns="$(kubeadm_image coredns)" pause="$(kubeadm_image pause)"
  [ "${etcd##*:}" = "${ETCD_VERSION#v}-0" ] || die "kubeadm runs $etcd, versions.env has ETCD_VERSION=$ETCD_VERSION"
  [ "${coredns##*:}" = "$COREDNS_VERSION" ] || die "kubeadm runs $coredns, versions.env has COREDNS_VERSION=$COREDNS_VERSION"
  image_from_binary "$etcd" "$ETCD_BIN" /usr/local/bin/etcd
  image_from_binary "$coredns" "$COREDNS_BIN" /coredns '["/coredns"]'
  image_from_binary "$pause" "$PAUSE_BIN" /pause '["/pause"]'
  image_from_binary "mdp-standin/local-path-provisioner:$LOCAL_PATH_PROVISIONER_VERSION" "$LOCAL_PATH_BIN" \
    /usr/bin/local-path-provisioner
}

build_rootfs() {
  have "$ROOTFS_IMAGE" && return
  log "$ROOTFS_IMAGE: mmdebstrap bookworm with systemd, containerd, runc, iptables, ... (a few minutes)"
  local tar
  tar="$(mktemp --suffix=.tar)"
  mmdebstrap --quiet --variant=minbase --include="$ROOTFS_PACKAGES" \
    --customize-hook="copy-in /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs" \
    bookworm "$tar" http://deb.debian.org/debian
  docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' "$tar" "$ROOTFS_IMAGE" >/dev/null
  rm -f "$tar"
}

build_base() {
  local ctx kind_dir
  kind_dir="$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kind@$KIND_VERSION" | sed -nE 's/.*"Dir": "([^"]+)".*/\1/p')"
  [ -d "$kind_dir/images/base/files" ] || die "kind $KIND_VERSION's module has no images/base/files"
  ctx="$(mktemp -d)"
  cp -r "$kind_dir/images/base/files" "$ctx/kind-files" && chmod -R u+w "$ctx/kind-files"
  cp "$CRICTL_BIN" "$ctx/crictl"
  docker build --quiet --network host --build-arg "ROOTFS=$ROOTFS_IMAGE" \
    --build-arg "PAUSE_IMAGE=$(kubeadm_image pause)" -t "$1" -f "$HERE/base.Dockerfile" "$ctx" >/dev/null
  rm -rf "$ctx"
}

storage_manifest() {
  local dir
  dir="$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "github.com/rancher/local-path-provisioner@$LOCAL_PATH_PROVISIONER_VERSION" | sed -nE 's/.*"Dir": "([^"]+)".*/\1/p')"
  # The provisioner's own manifest, as kind ships it: StorageClass `standard` (the default),
  # volumes under /var (the node's volume), our images.
  sed -e "s#image: rancher/local-path-provisioner:.*#image: mdp-standin/local-path-provisioner:$LOCAL_PATH_PROVISIONER_VERSION#" \
      -e "s#image: busybox#image: $DEBIAN_STANDIN#" \
      -e 's#/opt/local-path-provisioner#/var/local-path-provisioner#' \
      -e '/^kind: StorageClass/,/^---/s#^  name: local-path$#  name: standard\n  annotations:\n    storageclass.kubernetes.io/is-default-class: "true"#' \
      "$dir/deploy/local-path-storage.yaml"
}

main() {
  for image in "$DEBIAN_STANDIN" "${PRELOADED[@]}"; do
    have "$image" || die "$image is missing: scripts/test-cluster/images.sh standins"
  done
  build_binaries
  local ids hash node base
  ids="$(for image in "$DEBIAN_STANDIN" "${PRELOADED[@]}"; do docker image inspect -f '{{.Id}}' "$image"; done)"
  hash="$( { cat "$0" "$HERE"/base.Dockerfile "$HERE"/kube-proxy-wrapper "$HERE"/10-mdp-bridge.conflist "$HERE"/default-cni.yaml
             grep -E '^(KUBERNETES|COREDNS|PAUSE|CRICTL|ETCD|LOCAL_PATH_PROVISIONER|KIND)_VERSION=' versions.env
             echo "$ids"; } | sha256sum | cut -c1-12)"
  node="mdp-standin/kind-node:$KUBERNETES_VERSION-$hash"
  if have "$node"; then log "$node: cached"; echo "$node"; return; fi
  local started=$SECONDS
  build_rootfs
  base="mdp-standin/kind-base:$hash"
  log "$base: kind $KIND_VERSION's images/base recipe"
  build_base "$base"
  log "component images (kubeadm config images list) and the local-path-provisioner"
  build_component_images
  local images
  mapfile -t images < <("$K8S_BIN/kubeadm" config images list --kubernetes-version "$KUBERNETES_VERSION" 2>/dev/null)
  images+=("mdp-standin/local-path-provisioner:$LOCAL_PATH_PROVISIONER_VERSION" "$DEBIAN_STANDIN" "${PRELOADED[@]}")
  log "$node: binaries, manifests and ${#images[@]} images into the node's containerd"
  container="mdp-kind-node-build-$$"
  docker run -d --name "$container" --privileged --entrypoint sleep "$base" infinity >/dev/null
  trap 'docker rm -f -v "$container" >/dev/null 2>&1 || true' EXIT
  local cmd
  for cmd in kubeadm kubelet kubectl; do docker cp "$K8S_BIN/$cmd" "$container:/usr/bin/$cmd"; done
  docker exec "$container" mkdir -p /kind/manifests /etc/cni/net.d
  echo "$KUBERNETES_VERSION" | docker exec -i "$container" sh -c 'cat > /kind/version'
  docker cp "$HERE/default-cni.yaml" "$container:/kind/manifests/default-cni.yaml"
  storage_manifest | docker exec -i "$container" sh -c 'cat > /kind/manifests/default-storage.yaml'
  docker cp "$HERE/10-mdp-bridge.conflist" "$container:/etc/cni/net.d/10-mdp-bridge.conflist"
  docker exec -d "$container" sh -c 'containerd >/var/log/containerd-build.log 2>&1'
  local tries=0
  until docker exec "$container" ctr version >/dev/null 2>&1; do
    tries=$((tries + 1)); [ "$tries" -lt 60 ] || die "containerd did not start in the build container"
    sleep 0.5
  done
  # Debian's ctr 1.6 imports without --label: the images are pinned one by one after.
  docker save "${images[@]}" | docker exec -i "$container" ctr -n k8s.io images import \
    --all-platforms --no-unpack --digests - >/dev/null
  local image
  for image in "${images[@]}"; do
    docker exec "$container" ctr -n k8s.io images label "$(qualified "$image")" io.cri-containerd.pinned=pinned >/dev/null
  done
  docker exec "$container" sh -c 'pkill containerd; while pgrep containerd >/dev/null; do sleep 0.2; done; rm -f /var/log/containerd-build.log'
  docker commit --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' --change 'CMD []' \
    "$container" "$node" >/dev/null
  log "$node: built ($((SECONDS - started)) s)"
  echo "$node"
}

case "${1:-image}" in
  image) main ;;
  binaries) build_binaries ;;  # the Go builds only (no Docker): scripts/test-cluster/prepare.sh
  *) echo "usage: $0 [image|binaries]" >&2; exit 2 ;;
esac
