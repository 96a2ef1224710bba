#!/usr/bin/env bash
# The real node of dev/cluster.sh (K8S_NODE=real): containerd 2.x + runc + a kubelet of the control
# plane's own release, so that pods run real containers from the project's images. Sourced by
# dev/cluster.sh, which defines STACK_DIR, PKI, BIN_CACHE, K8S_API_PORT and the helpers of common.sh.
#
# Why these settings (dev/cluster/README.md "A real node"):
# - cgroups: these hosts mount the v1 controllers under /sys/fs/cgroup and a cgroup2 hierarchy at
#   /sys/fs/cgroup/unified that holds only hugetlb ("hybrid"), so runc and the kubelet run cgroup v1.
#   Kubernetes >= 1.35 refuses v1 unless the kubelet configuration says failCgroupV1: false.
# - cgroup driver: cgroupfs in containerd (runc option SystemdCgroup = false) and in the kubelet. No
#   systemd runs as PID 1, so the systemd driver has nobody to talk to. containerd 2.x answers the
#   CRI RuntimeConfig call with its driver and the kubelet adopts it; the kubelet configuration says
#   the same so a mismatch cannot happen.
# - pod network: a bridge the node creates (K8S_NODE_BRIDGE, K8S_NODE_POD_CIDR, gateway .1 = the
#   node's IP), the CNI bridge + host-local plugins of Debian, and dev/cluster/cni/host-loopback,
#   which makes the host's services on 127.0.0.1 (the stacks' MySQL, Redis, Kafka and the API
#   server) reachable from a pod at the same 127.0.0.1:port: inside the pod a DNAT to the gateway,
#   on the host a DNAT from the bridge back to 127.0.0.1. Kafka advertises 127.0.0.1 too, so pods
#   use the very connection settings the host uses. Nothing leaves the machine: there is no
#   masquerading and no route out of the bridge (ip_forward is not touched).
# - no image is ever pulled: the sandbox (pause) image is built here from the pause.c of the
#   k8s.io/kubernetes module, the project's images come from dev/images.sh; both are imported.

NODE_NAME="${K8S_NODE_NAME:-payments-node}"
NODE_BRIDGE="${K8S_NODE_BRIDGE:-ppnode0}"
NODE_POD_CIDR="${K8S_NODE_POD_CIDR:-10.250.0.0/24}"
NODE_IP="${NODE_POD_CIDR%.*/*}.1"
NODE_DIR="$STACK_DIR/node"
CTRD_SOCK="$NODE_DIR/containerd/containerd.sock"
NODE_NAT_CHAIN="PP-NODE-$NODE_BRIDGE"
# The kubelet's cgroups (QoS classes and pods) go under a root of this node's own in each v1
# hierarchy, so that two nodes on one machine never share /kubepods.
NODE_CGROUP="payment-pipeline-$NODE_BRIDGE"
PAUSE_TAG=3.10.2
PAUSE_IMAGE="localhost/payment-pipeline/pause:$PAUSE_TAG"

ctr_node() { "$(containerd_root)/usr/bin/ctr" --address "$CTRD_SOCK" --namespace k8s.io "$@"; }

# The host ports pods reach on 127.0.0.1: the dev and test stacks' defaults, the ones of
# $STACK_ENV_FILE (e.g. a shared test stack) and K8S_NODE_HOST_PORTS (comma-separated), plus the
# API server's. At most 15 (one iptables multiport match).
node_host_ports() {
  local ports="13306 16379 19092 23306 26379 29092 $K8S_API_PORT ${K8S_NODE_HOST_PORTS:-}" f
  ports="${ports//,/ }"
  for f in "${STACK_ENV_FILE:-}"; do
    [ -n "$f" ] && [ -f "$f" ] || continue
    ports+=" $(grep -E '^(MYSQL_URL|REDIS_URL|KAFKA_BROKERS)=' "$f" | grep -oE '127\.0\.0\.1:[0-9]+' | cut -d: -f2 | tr '\n' ' ')"
  done
  local list
  # shellcheck disable=SC2086
  list="$(printf '%s\n' $ports | sort -un)"
  [ "$(wc -l <<<"$list")" -le 15 ] || die "more than 15 host ports for the pods ($(paste -sd, <<<"$list")): one iptables multiport match holds 15"
  paste -sd, <<<"$list"
}

node_tools() {
  [ "$(id -u)" = 0 ] || die "the real node needs root (network namespaces, mounts, cgroups, iptables)"
  local need=()
  command -v runc >/dev/null || need+=(runc)
  [ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
  command -v iptables >/dev/null || need+=(iptables)
  command -v jq >/dev/null || need+=(jq)
  command -v gcc >/dev/null || need+=(gcc libc6-dev)
  command -v umoci >/dev/null || need+=(umoci)
  command -v skopeo >/dev/null || need+=(skopeo)
  [ "${#need[@]}" -eq 0 ] || apt_install "${need[@]}"
  containerd_install
}

# The pause binary (static, from the module's build/pause/linux/pause.c) in the binary cache and its
# one-layer OCI archive beside it.
node_pause_image() {
  local out="$BIN_CACHE/pause-$PAUSE_TAG.oci.tar"
  [ -s "$out" ] && { echo "$out"; return 0; }
  local src gomod work
  gomod="$(cd "$BUILD_DIR/kubernetes" && GOFLAGS=-mod=mod GOWORK=off "$(find_go)" list -m -f '{{.Dir}}' k8s.io/kubernetes)"
  src="$gomod/build/pause/linux/pause.c"
  [ -f "$src" ] || die "no pause.c in $gomod"
  work="$(mktemp -d "$BIN_ROOT/tmp.XXXXXX")"
  mkdir -p "$work/rootfs"
  gcc -Os -Wall -static -DVERSION="v$PAUSE_TAG-payment-pipeline" -o "$work/rootfs/pause" "$src"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/rootfs" -cf "$work/layer.tar" .
  umoci init --layout "$work/oci" >/dev/null
  umoci new --image "$work/oci:pause"
  umoci raw add-layer --image "$work/oci:pause" --history.created_by "pause.c of k8s.io/kubernetes" "$work/layer.tar"
  umoci config --image "$work/oci:pause" --no-history --os linux --architecture amd64 \
    --config.entrypoint /pause --config.user 65535:65535
  skopeo copy -q "oci:$work/oci:pause" "oci-archive:$work/pause.oci.tar:$PAUSE_IMAGE"
  mv "$work/pause.oci.tar" "$out"
  rm -rf "$work"
  echo "$out"
}

# Client certificates of the kubelet (Node authorizer: system:node:<name> in system:nodes) and of
# the API server towards the kubelet; the kubelet's serving certificate for the node IP.
ensure_node_pki() {
  [ -f "$PKI/kubelet-$NODE_NAME.crt" ] && [ -f "$PKI/kubelet-serving-$NODE_IP.crt" ] && return 0
  issue_cert "kubelet-$NODE_NAME" "/O=system:nodes/CN=system:node:$NODE_NAME" clientAuth
  issue_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
  issue_cert "kubelet-serving-$NODE_IP" "/O=system:nodes/CN=system:node:$NODE_NAME" serverAuth \
    "IP:$NODE_IP,IP:127.0.0.1,DNS:$NODE_NAME"
  chmod 600 "$PKI"/*.key
}

write_containerd_config() {
  local d="$NODE_DIR/containerd"
  mkdir -p "$d" "$NODE_DIR/cni/net.d" "$NODE_DIR/cni/bin"
  cat > "$d/config.toml" <<EOF
# Written by dev/cluster.sh (K8S_NODE=real). Everything under $NODE_DIR.
version = 3
root = '$d/root'
state = '$d/state'
disabled_plugins = ['io.containerd.grpc.v1.cri.tcp', 'io.containerd.tracing.processor.v1.otlp']

[grpc]
  address = '$CTRD_SOCK'
[ttrpc]
  address = '$CTRD_SOCK.ttrpc'
[debug]
  level = 'warn'

[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = '$PAUSE_IMAGE'
  [plugins.'io.containerd.cri.v1.runtime']
    enable_cdi = false
    # root here lacks CAP_SYS_RESOURCE: no process may lower its oom_score_adj below containerd's own
    # (runc would fail on the sandbox's -998), so containerd clamps the kubelet's values.
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    tolerate_missing_hugetlb_controller = true
    disable_hugetlb_controller = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = '$(command -v runc)'
          Root = '$d/runc'
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ['/usr/lib/cni', '$NODE_DIR/cni/bin']
      conf_dir = '$NODE_DIR/cni/net.d'
      max_conf_num = 1
  [plugins.'io.containerd.grpc.v1.cri']
    disable_tcp_service = true
    stream_server_address = '127.0.0.1'
    stream_server_port = '0'
  [plugins.'io.containerd.internal.v1.opt']
    path = '$d/opt'
EOF
  ln -sfn "$ROOT_DIR/dev/cluster/cni/host-loopback" "$NODE_DIR/cni/bin/host-loopback"
  local ports; ports="$(node_host_ports)"
  cat > "$NODE_DIR/cni/net.d/10-payment-pipeline.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "payment-pipeline",
  "plugins": [
    {
      "type": "bridge", "bridge": "$NODE_BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$NODE_DIR/cni/ipam",
        "ranges": [[{ "subnet": "$NODE_POD_CIDR", "gateway": "$NODE_IP" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    {
      "type": "host-loopback", "gateway": "$NODE_IP", "ports": "$ports",
      "apiServer": { "serviceIP": "$SERVICE_IP", "servicePort": 443, "port": $K8S_API_PORT }
    }
  ]
}
EOF
  echo "$ports" > "$NODE_DIR/host-ports"
}

write_kubelet_config() {
  mkdir -p "$NODE_DIR/kubelet" "$NODE_DIR/pod-logs"
  write_kubeconfig "$STACK_DIR/kubeconfigs/kubelet.kubeconfig" "kubelet-$NODE_NAME" "system:node:$NODE_NAME"
  cat > "$NODE_DIR/kubelet.yaml" <<EOF
# Written by dev/cluster.sh (K8S_NODE=real).
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# Hybrid cgroups (v1 controllers): allowed explicitly; cgroupfs as in containerd (no systemd here).
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$NODE_CGROUP
containerRuntimeEndpoint: unix://$CTRD_SOCK
address: $NODE_IP
port: $K8S_KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $K8S_KUBELET_HEALTHZ_PORT
tlsCertFile: $PKI/kubelet-serving-$NODE_IP.crt
tlsPrivateKeyFile: $PKI/kubelet-serving-$NODE_IP.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
podLogsDir: $NODE_DIR/pod-logs
resolvConf: /etc/resolv.conf
clusterDomain: cluster.local
failSwapOn: false
# Without CAP_SYS_RESOURCE (see the containerd configuration) the kubelet cannot lower its own score.
oomScoreAdj: 0
maxPods: 40
serializeImagePulls: false
# A shared development machine: evict only when it is really full, never collect the imported images.
evictionHard: {memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2%, nodefs.inodesFree: 2%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
nodeStatusUpdateFrequency: 5s
syncFrequency: 10s
fileCheckFrequency: 60s
shutdownGracePeriod: 0s
EOF
}

# The bridge (made here, so that its address and route_localnet exist before the first pod) and
# the host half of host-loopback: packets from pods to the gateway on the listed ports go to
# 127.0.0.1. In a chain of its own, removed by node_network_down.
node_network_up() {
  if ! ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
    ip link add name "$NODE_BRIDGE" type bridge
  fi
  ip addr replace "$NODE_IP/${NODE_POD_CIDR#*/}" dev "$NODE_BRIDGE"
  ip link set "$NODE_BRIDGE" up
  sysctl -qw "net.ipv4.conf.$NODE_BRIDGE.route_localnet=1"
  local ports; ports="$(cat "$NODE_DIR/host-ports")"
  iptables -t nat -N "$NODE_NAT_CHAIN" 2>/dev/null || iptables -t nat -F "$NODE_NAT_CHAIN"
  iptables -t nat -A "$NODE_NAT_CHAIN" -d "$NODE_IP/32" -p tcp -m multiport --dports "$ports" \
    -j DNAT --to-destination 127.0.0.1
  iptables -t nat -C PREROUTING -i "$NODE_BRIDGE" -j "$NODE_NAT_CHAIN" 2>/dev/null \
    || iptables -t nat -A PREROUTING -i "$NODE_BRIDGE" -j "$NODE_NAT_CHAIN"
  # And from 127.0.0.1: the servers then see the client they expect on loopback (MySQL accounts
  # @127.0.0.1, Redis protected mode), not the pod's address.
  iptables -t nat -N "$NODE_NAT_CHAIN-SRC" 2>/dev/null || iptables -t nat -F "$NODE_NAT_CHAIN-SRC"
  iptables -t nat -A "$NODE_NAT_CHAIN-SRC" -s "$NODE_POD_CIDR" -d 127.0.0.1/32 -p tcp -m multiport --dports "$ports" \
    -j SNAT --to-source 127.0.0.1
  iptables -t nat -C INPUT -i "$NODE_BRIDGE" -j "$NODE_NAT_CHAIN-SRC" 2>/dev/null \
    || iptables -t nat -A INPUT -i "$NODE_BRIDGE" -j "$NODE_NAT_CHAIN-SRC"
}

node_network_down() {
  while iptables -t nat -D PREROUTING -i "$NODE_BRIDGE" -j "$NODE_NAT_CHAIN" 2>/dev/null; do :; done
  while iptables -t nat -D INPUT -i "$NODE_BRIDGE" -j "$NODE_NAT_CHAIN-SRC" 2>/dev/null; do :; done
  local c
  for c in "$NODE_NAT_CHAIN" "$NODE_NAT_CHAIN-SRC"; do
    iptables -t nat -F "$c" 2>/dev/null || true
    iptables -t nat -X "$c" 2>/dev/null || true
  done
  if ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then ip link del "$NODE_BRIDGE"; fi
  # The addresses host-local handed out belong to pods that are gone now.
  rm -rf "$NODE_DIR/cni/ipam"
}

# containerd finds its shim on PATH: the cache's own first, not bookworm's 1.6 shim in /usr/bin.
containerd_args() {
  echo env "PATH=$(containerd_root)/usr/bin:$PATH" "$(containerd_root)/usr/bin/containerd" \
    --config "$NODE_DIR/containerd/config.toml"
}
containerd_healthy() { ctr_node version >/dev/null 2>&1; }

kubelet_args() {
  echo "$BIN_CACHE/kubelet" --config="$NODE_DIR/kubelet.yaml" \
    --kubeconfig="$STACK_DIR/kubeconfigs/kubelet.kubeconfig" --root-dir="$NODE_DIR/kubelet" \
    --cert-dir="$NODE_DIR/kubelet/pki" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" \
    --node-labels=payment-pipeline.dev/node=real --v=1
}
kubelet_healthy() {
  curl -sf "http://127.0.0.1:$K8S_KUBELET_HEALTHZ_PORT/healthz" >/dev/null
}

# Imports OCI archives (ctr import unpacks them into the overlayfs snapshotter); the CRI sees them
# at once. An archive whose image is already there with the same digest is skipped.
node_import() {
  local f name digest have
  for f in "$@"; do
    [ -f "$f" ] || continue
    name="$(tar -xOf "$f" index.json | jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]')"
    digest="$(tar -xOf "$f" index.json | jq -r '.manifests[0].digest')"
    have="$(ctr_node images ls -q "name==$name" 2>/dev/null | head -1)"
    if [ -n "$have" ] && ctr_node images ls "name==$name" 2>/dev/null | grep -q "$digest"; then continue; fi
    log "importing $name into the node's containerd"
    ctr_node images import --snapshotter overlayfs --no-unpack=false "$f" >/dev/null \
      || die "ctr images import $f failed"
  done
}

# Every image archive dev/images.sh built for this checkout.
node_import_project_images() {
  node_import "$ROOT_DIR"/.local/images/*.oci.tar
}

# Stops what runs on the node and removes what it leaves behind: the containers (their tasks through
# containerd, then any runc container left by a crash), the shims, every mount under the node's
# folder (pod volumes, rootfs, network namespaces), the bridge and NAT chain, the pod cgroups.
node_down() {
  local ids id
  stop_daemon kubelet 30
  if is_running containerd; then
    ids="$(ctr_node tasks ls -q 2>/dev/null || true)"
    for id in $ids; do ctr_node tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true; done
    for id in $ids; do ctr_node tasks delete -f "$id" >/dev/null 2>&1 || true; done
    for id in $(ctr_node containers ls -q 2>/dev/null || true); do
      ctr_node containers delete "$id" >/dev/null 2>&1 || true
    done
  fi
  stop_daemon containerd 30
  # Shims of containers containerd did not reach: containerd-shim-runc-v2 processes started for this
  # node's containerd (their -address is our socket; nothing else on the machine has it).
  local p cmd
  for p in /proc/[0-9]*; do
    cmd="$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null)" || continue
    case "$cmd" in
      *containerd-shim-runc-v2\ *"-address $CTRD_SOCK "*) kill -KILL "${p#/proc/}" 2>/dev/null || true ;;
    esac
  done
  if [ -d "$NODE_DIR/containerd/runc" ] && command -v runc >/dev/null; then
    local ns
    for ns in "$NODE_DIR"/containerd/runc/*; do
      [ -d "$ns" ] || continue
      for id in $(runc --root "$ns" list -q 2>/dev/null); do runc --root "$ns" delete -f "$id" >/dev/null 2>&1 || true; done
    done
  fi
  node_unmount_all
  node_network_down
  node_cgroups_down
}

# Deepest first, so that nested mounts go before their parents.
node_unmount_all() {
  local m
  [ -d "$NODE_DIR" ] || return 0
  while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
  done < <(awk -v p="$NODE_DIR/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
}

# The node's cgroup root in every v1 hierarchy (the kubelet refuses a cgroupRoot that does not
# exist); cpuset needs its CPUs and memory nodes filled in before a child can hold a task.
node_cgroups_up() {
  local h
  for h in /sys/fs/cgroup/*/; do
    [ "$h" = /sys/fs/cgroup/unified/ ] && continue
    mkdir -p "$h$NODE_CGROUP"
    if [ -f "${h}cpuset.cpus" ]; then
      cat "${h}cpuset.cpus" > "$h$NODE_CGROUP/cpuset.cpus"
      cat "${h}cpuset.mems" > "$h$NODE_CGROUP/cpuset.mems"
    fi
  done
}

# The kubelet's QoS and pod cgroups under the node's root, once empty.
node_cgroups_down() {
  local c
  for c in /sys/fs/cgroup/*/"$NODE_CGROUP"; do
    [ -d "$c" ] || continue
    find "$c" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

node_up() {
  write_containerd_config
  write_kubelet_config
  node_cgroups_up
  node_network_up
  start_component containerd
  await containerd 30
  node_import "$(node_pause_image)"
  node_import_project_images
  start_component kubelet
  await kubelet 90
}

node_leftovers() {
  local found=0
  if [ -d "$NODE_DIR" ] && awk -v p="$NODE_DIR/" 'index($5, p) == 1 { f = 1 } END { exit !f }' /proc/self/mountinfo; then
    log "mounts are left under $NODE_DIR"; found=1
  fi
  if ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then log "bridge $NODE_BRIDGE is left"; found=1; fi
  if grep -lsF -- "$CTRD_SOCK" /proc/[0-9]*/cmdline >/dev/null 2>&1; then log "a process of the node's containerd is left"; found=1; fi
  return "$found"
}
