#!/usr/bin/env bash
# What the cluster test may change on this machine, as text: `make test-cluster` prints it before
# and after (after kind's cluster and the test's Docker are gone) and fails on any difference.
#
#   sysctls, iptables and ip6tables rules, links and routes, network namespaces, the Docker state
#   paths (Debian's and the test's own), /lib/modules (Docker creates it for kind's bind mount),
#   mounts under the test's state directories, cgroups of pods and containers, and processes of a
#   cluster or a Docker.
#
# Every section prints something stable when its source is absent (a fresh machine has no
# /run/netns, no ip6tables tables, no Docker): appearing or disappearing still shows as a
# difference, and only a real change fails the comparison.
#
#   host-state.sh tunables   the kernel tunables the kubelet sets, as `name=value` lines
#
# The kubelet in kind's (privileged) node sets three kernel tunables that no namespace holds:
# vm.overcommit_memory=1, kernel.panic=10, kernel.panic_on_oops=1 (as on any node; kind does the
# same on a user's machine). `make test-cluster` saves them with `tunables` and writes them back
# after `make cluster-down`, before the comparison.
set -euo pipefail

DOCKER_STATE="${DOCKER_STATE_DIR:-/var/lib/mdp-local-docker}"
TUNABLES=(vm.overcommit_memory kernel.panic kernel.panic_on_oops)
SYSCTLS=(net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables "${TUNABLES[@]}")

if [ "${1:-}" = tunables ]; then
  for s in "${TUNABLES[@]}"; do echo "$s=$(sysctl -n "$s")"; done
  exit 0
fi

# list_dir DIR [GLOB]: the entries of DIR matching GLOB (default: all), full paths unless GLOB is
# the default, sorted; nothing when DIR does not exist.
list_dir() {
  local dir="$1" glob="${2:-*}" entry
  [ -d "$dir" ] || return 0
  # shellcheck disable=SC2086 # GLOB is a pattern, expanded here on purpose
  for entry in "$dir"/$glob; do
    [ -e "$entry" ] || continue
    if [ "$glob" = "*" ]; then basename "$entry"; else echo "$entry"; fi
  done | sort
}


echo "# sysctls"
for s in "${SYSCTLS[@]}"; do echo "$s=$(sysctl -n "$s" 2>/dev/null || echo '(absent)')"; done
echo "# iptables, ip6tables (rules, no counters)"
for tool in iptables-save ip6tables-save; do
  # Rules and non-builtin chains per table; an empty table prints nothing, existing or not.
  if ! command -v "$tool" >/dev/null; then echo "$tool: not installed"; continue; fi
  if ! dump="$("$tool" 2>/dev/null)"; then echo "$tool: unavailable"; continue; fi
  awk -v t="$tool" '/^\*/ {table = $0}
    /^-/ {print t, table, $0} /^:/ && $2 == "-" {print t, table, $1}' <<<"$dump"
done
echo "# links and routes"
{ ip -o link show 2>/dev/null || echo "ip link: unavailable"; } | awk -F': ' '{print $2}' | cut -d@ -f1 | sort
{ ip route show 2>/dev/null || echo "ip route: unavailable"; } | sort
echo "# network namespaces"
list_dir /run/netns
echo "# Docker state directories"
for dir in /var/run/docker /run/docker /var/run/docker.sock "$DOCKER_STATE" /lib/modules; do
  [ -e "$dir" ] && echo "$dir exists"
done
echo "# mounts under the test's state directories, cgroups of pods and containers"
awk -v d="$DOCKER_STATE" 'index($2, d) == 1 {print $2}' /proc/mounts | sort
for dir in /sys/fs/cgroup /sys/fs/cgroup/*/; do
  list_dir "${dir%/}" 'kubepods*'
  list_dir "${dir%/}" 'kubelet*'
  list_dir "${dir%/}/docker"
done | sort
echo "# processes of a cluster or a Docker"
# Anchored at the start of the command line, so a shell that merely mentions them is not one.
{ pgrep -a -f '^(\S*/)?(kubelet|kube-apiserver|kube-controller-manager|kube-scheduler|kube-proxy|etcd|coredns|containerd-shim\S*|dockerd)( |$)' || true; } \
  | sed 's/^[0-9]* //' | sort
