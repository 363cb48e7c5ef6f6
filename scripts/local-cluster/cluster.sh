#!/usr/bin/env bash
# The local test cluster: a real single-node Kubernetes on this machine, no kind, no registry.
#
#   cluster.sh up        start etcd, containerd, the control plane, kubelet, kube-proxy, CoreDNS;
#                        wait until the node is Ready and cluster DNS answers
#   cluster.sh down      stop everything by recorded PIDs and undo every change (mounts, network
#                        namespaces, links, routes, iptables rules, sysctls, cgroups)
#   cluster.sh status    what runs, and the kubeconfig to use
#   cluster.sh env       `export KUBECONFIG=...` for a shell
#
# Binaries: Kubernetes and CoreDNS are built from source by build.sh (cached per version);
# containerd, runc, the CNI plugins and etcd come from Debian's packages (.ci/run installs them).
# Why not kind: kind needs a node image, which cannot be built or pulled without a registry.
#
# Addresses (all on links this script creates, so no traffic leaves the machine):
#   node        NODE_IP on bridge mdpnode0 (kubelet refuses a loopback node address)
#   pods        POD_CIDR on bridge mdpcni0 (CNI bridge plugin), no masquerading, forwarding out of
#               the pod network is rejected
#   services    SERVICE_CIDR, virtual (kube-proxy iptables rules), routed to mdpnode0 on the host
#   DNS         CoreDNS on NODE_IP:53 behind the kube-dns Service; it serves cluster.local only
#               and forwards nowhere
# Must run as root (network namespaces, cgroups, iptables).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=versions.env
source versions.env

CACHE="${TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mini-data-platform/tools}"
K8S_BIN="$CACHE/kubernetes-$KUBERNETES_VERSION/bin"
COREDNS_BIN="$CACHE/coredns-$COREDNS_VERSION/coredns"
PAUSE_BIN="$CACHE/pause-$PAUSE_VERSION/pause"
STATE="${CLUSTER_STATE_DIR:-/var/lib/mdp-local-cluster}"
NODE_NAME="${CLUSTER_NODE_NAME:-mdp-local}"
NODE_BRIDGE=mdpnode0
POD_BRIDGE=mdpcni0
NODE_IP=10.250.0.1
POD_CIDR=10.251.0.0/24
SERVICE_CIDR=10.252.0.0/24
API_SERVICE_IP=10.252.0.1
DNS_SERVICE_IP=10.252.0.10
API_PORT=6443
ETCD_PORT=23790
ETCD_PEER_PORT=23800
PAUSE_IMAGE="registry.k8s.io/pause:$PAUSE_VERSION"
SYSCTLS=(net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables vm.overcommit_memory
  kernel.panic kernel.panic_on_oops)

kubectl_admin() { "$K8S_BIN/kubectl" --kubeconfig "$STATE/admin.kubeconfig" "$@"; }
log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() {
  printf '[cluster] error: %s\n' "$1" >&2
  [ -n "${2:-}" ] && printf '[cluster] fix:   %s\n' "$2" >&2
  exit 1
}

# ---------------------------------------------------------------------------------------------
# Preflight: say exactly what is missing instead of failing half-way.

preflight() {
  [ "$(id -u)" -eq 0 ] || die "the local cluster needs root (network namespaces, cgroups, iptables)"
  local missing=() tool
  for tool in containerd runc ctr etcd iptables iptables-save iptables-restore ip openssl; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  [ -x /usr/lib/cni/bridge ] || missing+=("CNI plugins (/usr/lib/cni/bridge)")
  [ "${#missing[@]}" = 0 ] || die "missing: ${missing[*]}" \
    "apt-get install containerd runc etcd-server iptables iproute2 openssl containernetworking-plugins (.ci/run does)"
  for tool in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
    [ -x "$K8S_BIN/$tool" ] || die "$tool $KUBERNETES_VERSION is not built" "scripts/local-cluster/build.sh"
  done
  [ -x "$COREDNS_BIN" ] || die "CoreDNS $COREDNS_VERSION is not built" "scripts/local-cluster/build.sh"
  [ -x "$PAUSE_BIN" ] || die "the pause binary is not built" "scripts/local-cluster/build.sh"
  grep -qw overlay /proc/filesystems || die "the kernel has no overlay filesystem (containerd's snapshotter needs it)"
  [ -d /sys/fs/cgroup ] || die "no cgroup filesystem at /sys/fs/cgroup"
  [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] \
    || die "br_netfilter is not loaded (pod -> Service -> pod on one bridge needs it)" "modprobe br_netfilter"
}

# ---------------------------------------------------------------------------------------------
# Processes: started in the background, PID recorded, output in $STATE/logs/<name>.log.

start() {
  local name="$1"
  shift
  mkdir -p "$STATE/logs" "$STATE/pids"
  setsid "$@" >"$STATE/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE/pids/$name"
}

alive() { [ -f "$STATE/pids/$1" ] && kill -0 "$(cat "$STATE/pids/$1")" 2>/dev/null; }

# wait_for WHAT SECONDS COMMAND...: poll until COMMAND succeeds; on timeout show the log of the
# component that was being waited for.
wait_for() {
  local what="$1" seconds="$2" component="$3"
  shift 3
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ -n "$component" ] && ! alive "$component"; then
      tail -n 30 "$STATE/logs/$component.log" >&2 || true
      die "$component exited while waiting for $what (log: $STATE/logs/$component.log)"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      [ -n "$component" ] && tail -n 30 "$STATE/logs/$component.log" >&2
      die "$what did not happen within ${seconds}s (logs: $STATE/logs/)"
    fi
    sleep 0.5
  done
}

# ---------------------------------------------------------------------------------------------
# Certificates: one CA; a serving certificate for the API server and the kubelet; a client
# certificate per identity, so the Node and RBAC authorizers see who is asking.

cert() {  # cert NAME CN ORG [SANS]
  local name="$1" cn="$2" org="$3" sans="${4:-}" pki="$STATE/pki"
  local subj="/CN=$cn"
  [ -n "$org" ] && subj="/O=$org$subj"
  openssl genrsa -out "$pki/$name.key" 2048 2>/dev/null
  openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  local ext="$pki/$name.ext"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [ -n "$sans" ]; then
      echo "extendedKeyUsage=serverAuth,clientAuth"
      echo "subjectAltName=$sans"
    else
      echo "extendedKeyUsage=clientAuth"
    fi
  } >"$ext"
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 30 -sha256 -extfile "$ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$ext"
}

kubeconfig() {  # kubeconfig NAME CERT
  local file="$STATE/$1.kubeconfig" pki="$STATE/pki"
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: mdp-local
    cluster:
      server: https://$NODE_IP:$API_PORT
      certificate-authority: $pki/ca.crt
users:
  - name: $1
    user:
      client-certificate: $pki/$2.crt
      client-key: $pki/$2.key
contexts:
  - name: mdp-local
    context: {cluster: mdp-local, user: $1, namespace: default}
current-context: mdp-local
EOF
}

make_pki() {
  local pki="$STATE/pki"
  mkdir -p "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$pki/ca.key" -out "$pki/ca.crt" -days 30 \
    -subj "/CN=mdp-local-cluster-ca" 2>/dev/null
  cert apiserver kube-apiserver "" \
    "IP:$NODE_IP,IP:$API_SERVICE_IP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert kubelet-serving "system:node:$NODE_NAME" system:nodes "IP:$NODE_IP,DNS:$NODE_NAME"
  cert admin mdp-local-admin system:masters
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  cert kubelet "system:node:$NODE_NAME" system:nodes
  cert controller-manager system:kube-controller-manager ""
  cert scheduler system:kube-scheduler ""
  cert kube-proxy system:kube-proxy ""
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  kubeconfig admin admin
  kubeconfig kubelet kubelet
  kubeconfig controller-manager controller-manager
  kubeconfig scheduler scheduler
  kubeconfig kube-proxy kube-proxy
}

# ---------------------------------------------------------------------------------------------
# Host changes, each recorded first so `down` can undo exactly what `up` did.

record_host_state() {
  mkdir -p "$STATE/restore"
  local s
  for s in "${SYSCTLS[@]}"; do
    sysctl -n "$s" >"$STATE/restore/sysctl.$s" 2>/dev/null || true
  done
  iptables-save >"$STATE/restore/iptables"
  ip6tables-save >"$STATE/restore/ip6tables" 2>/dev/null || true
  list_dir /run/netns >"$STATE/restore/netns"
}

network_up() {
  ip link add "$NODE_BRIDGE" type bridge
  ip addr add "$NODE_IP/32" dev "$NODE_BRIDGE"
  ip link set "$NODE_BRIDGE" up
  # Host -> Service IPs: without this route the first packet would follow the default route
  # before kube-proxy's DNAT; with it, nothing addressed to a Service can leave the machine.
  ip route add "$SERVICE_CIDR" dev "$NODE_BRIDGE" src "$NODE_IP"
  sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
  # Pods may talk to pods, Services and this node; forwarding anywhere else is refused.
  iptables -N MDP-LOCAL-FORWARD
  iptables -A MDP-LOCAL-FORWARD -s "$POD_CIDR" -d "$POD_CIDR" -j ACCEPT
  iptables -A MDP-LOCAL-FORWARD -s "$POD_CIDR" -j REJECT
  iptables -A MDP-LOCAL-FORWARD -d "$POD_CIDR" -j ACCEPT
  iptables -I FORWARD 1 -j MDP-LOCAL-FORWARD
  mkdir -p "$STATE/cni/net.d"
  cat >"$STATE/cni/net.d/10-mdp.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "mdp-local",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$POD_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$STATE/cni/ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
}

# ---------------------------------------------------------------------------------------------
# Components.

start_containerd() {
  mkdir -p "$STATE/containerd"
  # restrict_oom_score_adj: this machine lacks CAP_SYS_RESOURCE, so runc may not lower a
  # container's oom_score_adj (the pause container asks for -998) - clamp instead of failing.
  # The mirror entries send any pull to a closed local port: nothing is ever pulled from outside.
  cat >"$STATE/containerd/config.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
[grpc]
  address = "$STATE/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
    endpoint = ["http://127.0.0.1:9"]
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."registry.k8s.io"]
    endpoint = ["http://127.0.0.1:9"]
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."ghcr.io"]
    endpoint = ["http://127.0.0.1:9"]
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."gcr.io"]
    endpoint = ["http://127.0.0.1:9"]
EOF
  start containerd containerd --config "$STATE/containerd/config.toml"
  wait_for "containerd" 30 containerd ctr --address "$STATE/containerd/containerd.sock" version
  import_pause_image
}

import_pause_image() {
  # An image is a tar of layers plus a manifest; `ctr import` takes a docker-archive. Built here
  # from the static pause binary, without Docker.
  local dir="$STATE/pause-image"
  rm -rf "$dir" && mkdir -p "$dir/layer" "$dir/out"
  cp "$PAUSE_BIN" "$dir/layer/pause"
  tar -C "$dir/layer" -cf "$dir/out/layer.tar" pause
  local diff_id
  diff_id="sha256:$(sha256sum "$dir/out/layer.tar" | cut -d' ' -f1)"
  cat >"$dir/out/config.json" <<EOF
{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/pause"],"User":"65535:65535"},"rootfs":{"type":"layers","diff_ids":["$diff_id"]}}
EOF
  local config_id
  config_id="$(sha256sum "$dir/out/config.json" | cut -d' ' -f1)"
  mv "$dir/out/config.json" "$dir/out/$config_id.json"
  echo "[{\"Config\":\"$config_id.json\",\"RepoTags\":[\"$PAUSE_IMAGE\"],\"Layers\":[\"layer.tar\"]}]" >"$dir/out/manifest.json"
  tar -C "$dir/out" -cf "$dir/pause.tar" .
  ctr --address "$STATE/containerd/containerd.sock" -n k8s.io images import "$dir/pause.tar" >/dev/null
  rm -rf "$dir"
}

start_etcd() {
  start etcd etcd --name mdp-local --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "mdp-local=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync
  wait_for "etcd" 30 etcd curl -sf "http://127.0.0.1:$ETCD_PORT/health"
}

start_control_plane() {
  local pki="$STATE/pki"
  start kube-apiserver "$K8S_BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port "$API_PORT" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --client-ca-file "$pki/ca.crt" --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$pki/ca.crt" \
    --kubelet-preferred-address-types InternalIP,Hostname \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --allow-privileged=false --profiling=false --event-ttl 2h
  wait_for "the API server" 90 kube-apiserver kubectl_admin get --raw /readyz
  start kube-controller-manager "$K8S_BIN/kube-controller-manager" \
    --kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false \
    --use-service-account-credentials --service-account-private-key-file "$pki/sa.key" \
    --root-ca-file "$pki/ca.crt" --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
    --allocate-node-cidrs=false --controllers '*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller'
  start kube-scheduler "$K8S_BIN/kube-scheduler" --kubeconfig "$STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig "$STATE/scheduler.kubeconfig" --authorization-kubeconfig "$STATE/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false
}

start_node() {
  local pki="$STATE/pki"
  mkdir -p "$STATE/kubelet"
  # Pods get cluster DNS only: the resolv.conf kubelet copies from has no upstream servers.
  echo "options ndots:5" >"$STATE/resolv.conf"
  cat >"$STATE/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $pki/kubelet-serving.crt
tlsPrivateKeyFile: $pki/kubelet-serving.key
containerRuntimeEndpoint: unix://$STATE/containerd/containerd.sock
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
clusterDomain: cluster.local
clusterDNS: [$DNS_SERVICE_IP]
resolvConf: $STATE/resolv.conf
# Our images are imported, never pulled: image GC must not delete an image no pod uses yet.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "256Mi", nodefs.available: "2%", imagefs.available: "2%"}
serializeImagePulls: false
maxPods: 60
EOF
  start kubelet "$K8S_BIN/kubelet" --config "$STATE/kubelet-config.yaml" \
    --kubeconfig "$STATE/kubelet.kubeconfig" --root-dir "$STATE/kubelet" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --v 1
  cat >"$STATE/kube-proxy-config.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $STATE/kube-proxy.kubeconfig}
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {maxPerCore: 0}
iptables: {masqueradeAll: false}
EOF
  start kube-proxy "$K8S_BIN/kube-proxy" --config "$STATE/kube-proxy-config.yaml"
  wait_for "node $NODE_NAME to register" 120 kubelet kubectl_admin get node "$NODE_NAME"
  wait_for "node $NODE_NAME to be Ready" 180 kubelet \
    kubectl_admin wait --for=condition=Ready "node/$NODE_NAME" --timeout=5s
}

start_dns() {
  # CoreDNS runs on the node (no image to pull), answering for cluster.local only. The kube-dns
  # Service gets a hand-written EndpointSlice pointing at it.
  cat >"$STATE/Corefile" <<EOF
.:53 {
    bind $NODE_IP
    errors
    health 127.0.0.1:18080
    ready 127.0.0.1:18181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $STATE/admin.kubeconfig
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
    loop
}
EOF
  start coredns "$COREDNS_BIN" -conf "$STATE/Corefile"
  wait_for "CoreDNS" 60 coredns curl -sf http://127.0.0.1:18181/ready
  kubectl_admin apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns}
spec:
  clusterIP: $DNS_SERVICE_IP
  ports:
    - {name: dns, port: 53, protocol: UDP, targetPort: 53}
    - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-node
  namespace: kube-system
  labels: {kubernetes.io/service-name: kube-dns}
addressType: IPv4
endpoints:
  - addresses: ["$NODE_IP"]
    conditions: {ready: true}
ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
EOF
}

dns_answers() {
  # Through the Service IP, as a pod asks: proves CoreDNS, the EndpointSlice and kube-proxy.
  local answer
  answer="$(python3 - "$DNS_SERVICE_IP" <<'PY'
import socket, struct, sys
q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
for part in "kubernetes.default.svc.cluster.local".split("."):
    q += bytes([len(part)]) + part.encode()
q += b"\x00\x00\x01\x00\x01"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(q, (sys.argv[1], 53))
data = s.recv(512)
print(".".join(str(b) for b in data[-4:]) if struct.unpack(">H", data[6:8])[0] else "")
PY
)"
  [ "$answer" = "$API_SERVICE_IP" ]
}

up() {
  preflight
  if [ -f "$STATE/pids/kube-apiserver" ]; then
    die "a local cluster is already up (state in $STATE)" "scripts/local-cluster/cluster.sh down"
  fi
  local started=$SECONDS
  rm -rf "$STATE" && mkdir -p "$STATE"
  # Whatever fails from here on, undo it: a half-started cluster is never left behind.
  trap 'log "start-up failed: cleaning up"; down >/dev/null 2>&1 || true' ERR
  record_host_state
  log "certificates and kubeconfigs"
  make_pki
  log "network: $NODE_BRIDGE ($NODE_IP), pods $POD_CIDR on $POD_BRIDGE, services $SERVICE_CIDR"
  network_up
  log "containerd (pause image imported, pulls disabled)"
  start_containerd
  log "etcd"
  start_etcd
  log "kube-apiserver, kube-controller-manager, kube-scheduler ($KUBERNETES_VERSION)"
  start_control_plane
  log "kubelet and kube-proxy"
  start_node
  log "CoreDNS $COREDNS_VERSION"
  start_dns
  wait_for "cluster DNS to answer kubernetes.default" 60 coredns dns_answers
  wait_for "the default ServiceAccount" 60 kube-controller-manager \
    kubectl_admin -n default get serviceaccount default
  trap - ERR
  log "ready in $((SECONDS - started)) s: export KUBECONFIG=$STATE/admin.kubeconfig"
}

# ---------------------------------------------------------------------------------------------

stop_pid() {  # stop_pid NAME: TERM, then KILL after a grace period
  local name="$1" file="$STATE/pids/$1" pid
  [ -f "$file" ] || return 0
  pid="$(cat "$file")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    local _
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

# restore_tables iptables|ip6tables: put every table back as it was before `up`. A table the saved
# dump holds is restored from it; a table it does not hold did not exist then (kubelet and
# kube-proxy created it), so it is emptied and its chains removed.
restore_tables() {
  local tool="$1" dump="$STATE/restore/$1" table chain
  [ -f "$dump" ] || return 0
  "$tool-restore" <"$dump" 2>/dev/null || true
  for table in filter nat mangle raw; do
    grep -qx "\*$table" "$dump" && continue
    "$tool" -t "$table" -F 2>/dev/null || true
    "$tool" -t "$table" -X 2>/dev/null || true
    for chain in INPUT FORWARD OUTPUT PREROUTING POSTROUTING; do
      "$tool" -t "$table" -P "$chain" ACCEPT 2>/dev/null || true
    done
  done
}

down() {
  [ -d "$STATE" ] || { log "no local cluster state in $STATE: nothing to do"; return 0; }
  log "stopping the local cluster"
  local name
  # No new pods from here on: controllers and the scheduler go first.
  for name in coredns kube-scheduler kube-controller-manager; do stop_pid "$name"; done
  # Then the pods, while kubelet still runs: it tears down their sandboxes (CNI, netns, mounts).
  if alive kube-apiserver && alive kubelet; then
    kubectl_admin delete pods --all --all-namespaces --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
    local deadline=$((SECONDS + 60))
    while [ "$SECONDS" -lt "$deadline" ] \
      && [ -n "$(ctr --address "$STATE/containerd/containerd.sock" -n k8s.io tasks list -q 2>/dev/null)" ]; do
      sleep 1
    done
  fi
  for name in kube-proxy kubelet kube-apiserver etcd; do
    stop_pid "$name"
  done
  # Anything kubelet did not tear down: kill the containers' processes through containerd.
  if alive containerd; then
    local ctr_cmd=(ctr --address "$STATE/containerd/containerd.sock" -n k8s.io) task
    for task in $("${ctr_cmd[@]}" tasks list -q 2>/dev/null); do
      "${ctr_cmd[@]}" tasks kill -s SIGKILL "$task" >/dev/null 2>&1 || true
    done
    sleep 1
    for task in $("${ctr_cmd[@]}" tasks list -q 2>/dev/null); do
      "${ctr_cmd[@]}" tasks delete -f "$task" >/dev/null 2>&1 || true
    done
  fi
  stop_pid containerd
  # containerd-shim processes outlive containerd by design; they belong to this cluster when
  # their command line names our state directory.
  pkill -KILL -f "containerd-shim.*-address $STATE/" 2>/dev/null || true
  # kube-proxy's own clean-up removes its chains; the saved tables restore everything else.
  "$K8S_BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
  restore_tables iptables
  restore_tables ip6tables
  # Mounts under the state directory (secrets, configmaps, overlay rootfs, shm), deepest first.
  local mounts
  mounts="$(awk -v d="$STATE" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r)"
  for name in $mounts; do umount -l "$name" 2>/dev/null || true; done
  # Network namespaces the CNI made for our pods.
  local path
  for path in /run/netns/*; do
    [ -e "$path" ] || continue
    if ! grep -qx "$(basename "$path")" "$STATE/restore/netns" 2>/dev/null; then
      umount -l "$path" 2>/dev/null || true
      rm -f "$path"
    fi
  done
  ip link del "$POD_BRIDGE" 2>/dev/null || true
  ip link del "$NODE_BRIDGE" 2>/dev/null || true
  # Leftover veth ends of pods (normally gone with their namespaces).
  for name in $(ip -o link show type veth 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
    [ "$(cat "/sys/class/net/$name/master/uevent" 2>/dev/null | sed -n 's/^INTERFACE=//p')" = "$POD_BRIDGE" ] \
      && ip link del "$name" 2>/dev/null || true
  done
  # cgroups kubelet created (kubepods hierarchy), deepest first, in every v1 controller.
  find /sys/fs/cgroup/*/kubepods* -depth -type d -exec rmdir {} \; 2>/dev/null || true
  for name in "${SYSCTLS[@]}"; do
    [ -s "$STATE/restore/sysctl.$name" ] && sysctl -qw "$name=$(cat "$STATE/restore/sysctl.$name")" || true
  done
  rm -rf "$STATE"
  log "stopped; no process, mount, link, route, iptables rule or sysctl of the cluster is left"
}

status() {
  [ -d "$STATE/pids" ] || { echo "no local cluster (state dir $STATE)"; return 1; }
  local file name
  for file in "$STATE"/pids/*; do
    name="$(basename "$file")"
    if alive "$name"; then echo "$name: running (pid $(cat "$STATE/pids/$name"))"; else echo "$name: NOT running"; fi
  done
  echo "KUBECONFIG=$STATE/admin.kubeconfig"
  kubectl_admin get nodes -o wide 2>/dev/null || true
}

# What `down` must leave exactly as `up` found it, printed in a stable form: make test-cluster
# compares the output from before `up` with the output after `down`. It must work on a machine
# where none of it exists yet (no /run/netns before the first network namespace, no ip6tables
# tables, no kubepods cgroups): every section prints what it finds, and a source it cannot read
# prints one line saying so, so that appearing or disappearing still shows as a difference. Its
# pipelines never fail the script (a fresh machine is not an error); only a real change does.
host_state() {
  local s tool dir
  echo "# sysctls"
  for s in "${SYSCTLS[@]}"; do echo "$s=$(sysctl -n "$s" 2>/dev/null || echo '(absent)')"; done
  echo "# iptables, ip6tables (rules, no counters)"
  for tool in iptables-save ip6tables-save; do
    # Rules and non-builtin chains per table; an empty table prints nothing, existing or not.
    local dump
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
  for dir in /var/run/docker /run/docker /var/run/docker.sock "${DOCKER_STATE_DIR:-/var/lib/mdp-local-docker}"; do
    [ -e "$dir" ] && echo "$dir exists"
  done
  echo "# mounts under the state directory, cgroups of pods"
  awk -v d="$STATE" 'index($2, d) == 1 {print $2}' /proc/mounts | sort
  for dir in /sys/fs/cgroup /sys/fs/cgroup/*/; do
    list_dir "${dir%/}" 'kubepods*'
  done | sort
  echo "# processes of the cluster"
  # Anchored at the start of the command line, so a shell that merely mentions them is not one.
  { pgrep -a -f "^($K8S_BIN/|$COREDNS_BIN|\S*containerd-shim\S* .*-address $STATE/|containerd --config $STATE/|etcd --name mdp-local)" || true; } \
    | sed 's/^[0-9]* //' | sort
}

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

case "${1:-}" in
  up) up ;;
  host-state) host_state ;;
  down) down ;;
  status) status ;;
  env) echo "export KUBECONFIG=$STATE/admin.kubeconfig" ;;
  *) echo "usage: $0 up|down|status|env|host-state" >&2; exit 2 ;;
esac
