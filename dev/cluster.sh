#!/usr/bin/env bash
# A real Kubernetes control plane for the operator's tests, without Docker or image pulls:
# etcd + kube-apiserver + kube-controller-manager + kube-scheduler, built from the Go module
# proxy, plus the kwok controller, which plays the kubelet for a few fake nodes so that pods
# are scheduled and reported Running/Ready. Everything listens on 127.0.0.1 only.
#
# With K8S_NODE=real the same control plane runs as a cluster of its own (.local/cluster-real,
# kubeconfig .local/kubeconfig-real, other ports) with one real node instead of kwok: containerd 2.x
# + runc + the kubelet, pods run real containers from the project's images (dev/lib/node.sh).
#
# Usage: [K8S_NODE=kwok|real] dev/cluster.sh build|up|down|status|env|clean|import-images
#   build   build the binaries into the shared cache (only what is missing) and link .local/bin
#   up      build if needed, start the control plane and fake nodes (or the real node), write the kubeconfig
#   down    stop exactly the processes `up` started (the real node: and remove its mounts, bridge, NAT rules)
#   status  show what runs (exit 0 only when every component runs)
#   env     print `export KUBECONFIG=...` for eval
#   clean   down, then delete .local/cluster (etcd data, certificates, logs)
#   import-images   (real node) import .local/images/*.oci.tar (dev/images.sh) into the node's containerd
#
# Versions come from the wrapper modules in dev/cluster/build/*/go.mod (one source of truth).
# Binaries are cached in ${PAYMENTS_CACHE_DIR:-~/.cache/payment-pipeline}/k8s-<version>/bin.
# Environment: K8S_API_PORT (16443), K8S_ETCD_PORT (16579), K8S_ETCD_PEER_PORT (16580),
#   K8S_KCM_PORT (16257), K8S_SCHEDULER_PORT (16259), K8S_KWOK_PORT (16247),
#   K8S_NODES (number of fake nodes, 2), K8S_BUILD_JOBS (go build -p, 2), GO (go binary).
#   K8S_NODE=real: ports 17443, 17579, 17580, 17257, 17259, K8S_KUBELET_PORT (17250),
#   K8S_KUBELET_HEALTHZ_PORT (17248); K8S_NODE_BRIDGE (ppnode0), K8S_NODE_POD_CIDR (10.250.0.0/24),
#   K8S_NODE_HOST_PORTS (more host ports pods reach on 127.0.0.1; see dev/lib/node.sh).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib/common.sh
. "$HERE/lib/common.sh"
# shellcheck source=lib/containerd.sh
. "$HERE/lib/containerd.sh"
# shellcheck disable=SC2034  # read by the helpers in common.sh
STACK_NAME=cluster
STACK_DIR="$ROOT_DIR/.local/cluster"
K8S_NODE="${K8S_NODE:-kwok}"
case "$K8S_NODE" in
  kwok) ;;
  real) STACK_NAME=cluster-real; STACK_DIR="$ROOT_DIR/.local/cluster-real" ;;
  *) die "K8S_NODE must be kwok or real, not '$K8S_NODE'" ;;
esac

BUILD_DIR="$ROOT_DIR/dev/cluster/build"
LOCAL_BIN="$ROOT_DIR/.local/bin"
KUBECONFIG_OUT="$ROOT_DIR/.local/kubeconfig"
[ "$K8S_NODE" = real ] && KUBECONFIG_OUT="$ROOT_DIR/.local/kubeconfig-real"
PKI="$STACK_DIR/pki"
LOGS="$STACK_DIR/logs"
CLUSTER_ENV="$STACK_DIR/cluster.env"

COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
[ "$K8S_NODE" = real ] && COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet)

any_running() {
  local c; for c in "${COMPONENTS[@]}"; do is_running "$c" && return 0; done
  return 1
}

# Ports: while a cluster runs, the ports it was started with win over the environment, so that
# status/down after `K8S_API_PORT=... up` see the same ports. `down` always reads them: after a crash
# it must still find the real node's bridge, NAT chains and mounts.
# shellcheck disable=SC1090
if [ -f "$CLUSTER_ENV" ] && { any_running || [ "${1:-}" = down ]; }; then . "$CLUSTER_ENV"; fi
P=16; [ "$K8S_NODE" = real ] && P=17
K8S_API_PORT="${K8S_API_PORT:-${P}443}"
K8S_ETCD_PORT="${K8S_ETCD_PORT:-${P}579}"
K8S_ETCD_PEER_PORT="${K8S_ETCD_PEER_PORT:-${P}580}"
K8S_KCM_PORT="${K8S_KCM_PORT:-${P}257}"
K8S_SCHEDULER_PORT="${K8S_SCHEDULER_PORT:-${P}259}"
K8S_KWOK_PORT="${K8S_KWOK_PORT:-${P}247}"
K8S_KUBELET_PORT="${K8S_KUBELET_PORT:-${P}250}"
K8S_KUBELET_HEALTHZ_PORT="${K8S_KUBELET_HEALTHZ_PORT:-${P}248}"
unset P
K8S_NODES="${K8S_NODES:-2}"
SERVICE_CIDR=10.96.0.0/16
SERVICE_IP=10.96.0.1
POD_CIDR=10.244.0.1/16

# ---------------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------------

# mod_version DIR MODULE: the version DIR/go.mod requires of MODULE.
mod_version() {
  awk -v m="$2" '
    $1 == "require" && $2 == m { print $3; exit }
    $1 == m && $2 ~ /^v[0-9]/ { print $2; exit }' "$BUILD_DIR/$1/go.mod"
}

K8S_VERSION="$(mod_version kubernetes k8s.io/kubernetes)"
ETCD_VERSION="$(mod_version etcd go.etcd.io/etcd/server/v3)"
KWOK_VERSION="$(mod_version kwok sigs.k8s.io/kwok)"
HELM_VERSION="$(mod_version helm helm.sh/helm/v4)"
[ -n "$K8S_VERSION" ] && [ -n "$ETCD_VERSION" ] && [ -n "$KWOK_VERSION" ] && [ -n "$HELM_VERSION" ] \
  || die "could not read the versions from $BUILD_DIR/*/go.mod"
BIN_ROOT="$CACHE_DIR/k8s-$K8S_VERSION"
BIN_CACHE="$BIN_ROOT/bin"
# shellcheck source=lib/node.sh
. "$HERE/lib/node.sh"

# Binaries of each wrapper module (the directory under dev/cluster/build).
group_binaries() {
  case "$1" in
    kubernetes) echo kube-apiserver kube-controller-manager kube-scheduler kubectl ;;
    kubelet) echo kubelet ;;
    etcd) echo etcd ;;
    kwok) echo kwok kwokctl ;;
    helm) echo helm ;;
  esac
}
group_packages() {
  case "$1" in
    kubernetes) echo k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
                     k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl ;;
    kubelet) echo k8s.io/kubernetes/cmd/kubelet ;;
    etcd) echo go.etcd.io/etcd/server/v3 ;;
    kwok) echo sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl ;;
    helm) echo helm.sh/helm/v4/cmd/helm ;;
  esac
}
# Version stamping, as each project's own release build does it. $2: the build date to stamp.
group_ldflags() {
  local flags="-s -w" date="${2:-unknown}"
  case "$1" in
    kubernetes | kubelet)
      local v="${K8S_VERSION#v}" major minor
      major="${v%%.*}"; minor="${v#*.}"; minor="${minor%%.*}"
      local pkg
      for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        flags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
        flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
      done ;;
    etcd) flags+=" -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION" ;;
    kwok) flags+=" -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=$K8S_VERSION" ;;
    helm) flags+=" -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.metadata="
          flags+=" -X helm.sh/helm/v4/internal/version.gitTreeState=clean" ;;
  esac
  echo "$flags"
}
# The release time of k8s.io/kubernetes as the module proxy records it, so that the stamped
# build date is the release's, not the build machine's.
k8s_release_date() {
  (cd "$BUILD_DIR/kubernetes" && GOFLAGS=-mod=mod GOWORK=off "$GO_BIN" list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes) \
    2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ
}

# A stamp per module: what went into the binaries. A binary is rebuilt when it is missing or
# the stamp (go.mod, go.sum, packages, flags) differs; a newer Go alone does not rebuild.
group_stamp() {
  {
    cat "$BUILD_DIR/$1/go.mod" "$BUILD_DIR/$1/go.sum" 2>/dev/null
    echo "$(group_packages "$1")|$(group_ldflags "$1" stamp)|CGO_ENABLED=0"
  } | sha256sum | cut -c1-64
}

group_is_built() {
  local g="$1" b
  [ "$(cat "$BIN_CACHE/.stamp-$g" 2>/dev/null)" = "$(group_stamp "$g")" ] || return 1
  for b in $(group_binaries "$g"); do [ -x "$BIN_CACHE/$b" ] || return 1; done
}

build_group() {
  local g="$1" tmp start
  GO_BIN="${GO_BIN:-$(find_go)}"
  tmp="$(mktemp -d "$BIN_ROOT/tmp.XXXXXX")"
  start=$(date +%s)
  log "building $(group_binaries "$g") ($g module, this takes a while the first time)"
  local date=unknown out="$tmp/"
  case "$g" in kubernetes | kubelet) date="$(k8s_release_date)" ;; esac
  # A single binary gets its name explicitly (etcd's package is go.etcd.io/etcd/server/v3).
  local bins; read -r -a bins <<< "$(group_binaries "$g")"
  [ "${#bins[@]}" = 1 ] && out="$tmp/${bins[0]}"
  # shellcheck disable=SC2046
  if ! ( cd "$BUILD_DIR/$g" && CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" GOWORK=off \
         nice -n 10 "$GO_BIN" build -p "${K8S_BUILD_JOBS:-2}" -trimpath -ldflags "$(group_ldflags "$g" "$date")" \
         -o "$out" $(group_packages "$g") ) >&2; then
    rm -rf "$tmp"
    die "building the $g binaries failed"
  fi
  local b; for b in $(group_binaries "$g"); do mv -f "$tmp/$b" "$BIN_CACHE/$b"; done
  rm -rf "$tmp"
  group_stamp "$g" > "$BIN_CACHE/.stamp-$g"
  log "built $g in $(( $(date +%s) - start ))s"
}

# Every staging module must be replaced by the release that matches k8s.io/kubernetes, and the
# kubelet comes from the control plane's release (it may be older than the API server, never newer).
check_staging_replaces() {
  local want="v0.${K8S_VERSION#v1.}" bad m
  [ "$(mod_version kubelet k8s.io/kubernetes)" = "$K8S_VERSION" ] \
    || die "$BUILD_DIR/kubelet/go.mod requires k8s.io/kubernetes $(mod_version kubelet k8s.io/kubernetes), the control plane $K8S_VERSION"
  for m in kubernetes kubelet; do
    bad="$(awk -v w="$want" '$1 ~ /^k8s\.io\// && $2 == "=>" && $4 != w { print $1 " " $4 }' "$BUILD_DIR/$m/go.mod")"
    [ -z "$bad" ] || die "staging modules in $BUILD_DIR/$m/go.mod are not at $want: $bad"
  done
}

cmd_build() {
  check_staging_replaces
  mkdir -p "$BIN_CACHE"
  local start; start=$(date +%s)
  # One build at a time per cache directory (other checkouts on this machine share it).
  exec 9>"$BIN_ROOT/.lock"
  flock 9
  local g built=0
  for g in kubernetes kubelet etcd kwok helm; do
    if ! group_is_built "$g"; then build_group "$g"; built=1; fi
  done
  if [ "$built" = 1 ] || [ ! -f "$BIN_CACHE/.stamp" ]; then
    {
      echo "kubernetes=$K8S_VERSION"
      echo "etcd=$ETCD_VERSION"
      echo "kwok=$KWOK_VERSION"
      echo "helm=$HELM_VERSION"
      echo "kubelet=$K8S_VERSION"
      [ -n "${GO_BIN:-}" ] && echo "go=$("$GO_BIN" env GOVERSION)"
    } > "$BIN_CACHE/.stamp"
  fi
  flock -u 9
  exec 9>&-
  [ "$built" = 1 ] && log "build finished in $(( $(date +%s) - start ))s" \
    || log "binaries are cached in $BIN_CACHE"
  link_binaries
}

link_binaries() {
  mkdir -p "$LOCAL_BIN"
  local b
  for b in kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet etcd kwok kwokctl helm; do
    ln -sfn "$BIN_CACHE/$b" "$LOCAL_BIN/$b"
  done
}

# ---------------------------------------------------------------------------------------------
# Certificates and kubeconfigs (generated once per checkout, kept across up/down)
# ---------------------------------------------------------------------------------------------

# issue_cert NAME SUBJECT EXTENDED_KEY_USAGE [SUBJECT_ALT_NAMES]
issue_cert() {
  local name="$1" subj="$2" eku="$3" san="${4:-}"
  local ext="$PKI/$name.ext"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [ -n "$san" ] && echo "subjectAltName=$san"
  } > "$ext"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$PKI/$name.key" -out "$PKI/$name.csr" \
    -subj "$subj" 2>/dev/null
  local ca="${PKI_CA:-$PKI/ca}"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

ensure_pki() {
  [ -f "$PKI/.complete" ] || new_pki
  [ -f "$PKI/front-proxy-client.crt" ] || new_front_proxy_pki
}

# The aggregation layer (front proxy): its own CA and the client cert kube-apiserver uses when
# it proxies to extension API servers; the other components read the CA to trust that proxy.
new_front_proxy_pki() {
  local ca="$PKI/front-proxy-ca"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 -subj "/CN=payment-pipeline-front-proxy-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -keyout "$ca.key" -out "$ca.crt" 2>/dev/null
  PKI_CA="$ca" issue_cert front-proxy-client "/CN=front-proxy-client" clientAuth
  chmod 600 "$PKI"/*.key
}

new_pki() {
  log "generating certificates in $PKI"
  rm -rf "$PKI"; mkdir -p "$PKI"; chmod 700 "$PKI"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 -subj "/CN=payment-pipeline-local-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -keyout "$PKI/ca.key" -out "$PKI/ca.crt" 2>/dev/null
  issue_cert apiserver "/CN=kube-apiserver" serverAuth \
    "IP:127.0.0.1,DNS:localhost,IP:$SERVICE_IP,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  issue_cert admin "/O=system:masters/CN=payment-pipeline-admin" clientAuth
  issue_cert controller-manager "/CN=system:kube-controller-manager" clientAuth
  issue_cert scheduler "/CN=system:kube-scheduler" clientAuth
  # kwok plays the kubelet of every fake node and needs to write nodes, leases and pod status.
  issue_cert kwok "/O=system:masters/CN=kwok-controller" clientAuth
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  chmod 600 "$PKI"/*.key
  touch "$PKI/.complete"
}

# write_kubeconfig FILE CERT_NAME USER
write_kubeconfig() {
  local file="$1" cert="$2" user="$3" tmp="$1.tmp"
  mkdir -p "$(dirname "$file")"
  cat > "$tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: payment-pipeline-local
  cluster:
    server: https://127.0.0.1:$K8S_API_PORT
    certificate-authority-data: $(base64 -w0 < "$PKI/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 < "$PKI/$cert.crt")
    client-key-data: $(base64 -w0 < "$PKI/$cert.key")
contexts:
- name: payment-pipeline-local
  context:
    cluster: payment-pipeline-local
    user: $user
current-context: payment-pipeline-local
EOF
  chmod 600 "$tmp"
  mv "$tmp" "$file"
}

write_kubeconfigs() {
  write_kubeconfig "$STACK_DIR/kubeconfigs/controller-manager.kubeconfig" controller-manager system:kube-controller-manager
  write_kubeconfig "$STACK_DIR/kubeconfigs/scheduler.kubeconfig" scheduler system:kube-scheduler
  write_kubeconfig "$STACK_DIR/kubeconfigs/kwok.kubeconfig" kwok kwok-controller
  write_kubeconfig "$KUBECONFIG_OUT" admin payment-pipeline-admin
}

# ---------------------------------------------------------------------------------------------
# Components
# ---------------------------------------------------------------------------------------------

component_port() {
  case "$1" in
    etcd) echo "$K8S_ETCD_PORT" ;;
    kube-apiserver) echo "$K8S_API_PORT" ;;
    kube-controller-manager) echo "$K8S_KCM_PORT" ;;
    kube-scheduler) echo "$K8S_SCHEDULER_PORT" ;;
    kwok) echo "$K8S_KWOK_PORT" ;;
    kubelet) echo "$K8S_KUBELET_HEALTHZ_PORT" ;;
    containerd) echo 0 ;; # a unix socket only
  esac
}
component_port_var() {
  case "$1" in
    etcd) echo K8S_ETCD_PORT ;; kube-apiserver) echo K8S_API_PORT ;;
    kube-controller-manager) echo K8S_KCM_PORT ;; kube-scheduler) echo K8S_SCHEDULER_PORT ;;
    kwok) echo K8S_KWOK_PORT ;; kubelet) echo K8S_KUBELET_HEALTHZ_PORT ;;
  esac
}

# The real node's kubelet is authorized by the Node authorizer (its own node and pods only).
authorization_modes() { if [ "$K8S_NODE" = real ]; then echo Node,RBAC; else echo RBAC; fi; }

kubectl_admin() { "$BIN_CACHE/kubectl" --kubeconfig "$KUBECONFIG_OUT" "$@"; }

healthy() {
  case "$1" in
    etcd) curl -sf "http://127.0.0.1:$K8S_ETCD_PORT/health" | grep -q '"health":"true"' ;;
    kube-apiserver) curl -sf --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
                      "https://127.0.0.1:$K8S_API_PORT/readyz" >/dev/null ;;
    kube-controller-manager) curl -sfk "https://127.0.0.1:$K8S_KCM_PORT/healthz" >/dev/null ;;
    kube-scheduler) curl -sfk "https://127.0.0.1:$K8S_SCHEDULER_PORT/healthz" >/dev/null ;;
    kwok) curl -sf "http://127.0.0.1:$K8S_KWOK_PORT/healthz" >/dev/null ;;
    containerd) containerd_healthy ;;
    kubelet) kubelet_healthy ;;
  esac
}

# Healthy, and still our process (fails fast when the process died).
alive_and_healthy() { is_running "$1" || return 2; healthy "$1"; }

await() {
  local name="$1" timeout="$2"
  local deadline=$(( $(date +%s) + timeout ))
  while true; do
    alive_and_healthy "$name" && { log "$name is ready"; return 0; }
    if ! is_running "$name"; then
      tail -n 30 "$LOGS/$name.log" >&2 || true
      die "$name exited; log: $LOGS/$name.log"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      tail -n 30 "$LOGS/$name.log" >&2 || true
      die "$name did not become healthy in ${timeout}s; log: $LOGS/$name.log"
    fi
    sleep 0.3
  done
}

start_component() {
  local name="$1" i
  if is_running "$name"; then
    # Ours but not healthy: it is still starting, or still shutting down. Give it a moment to
    # settle; start a new one only once the old one has gone.
    for (( i=0; i<50; i++ )); do
      healthy "$name" && return 0
      is_running "$name" || break
      sleep 0.2
    done
    is_running "$name" && return 0
  fi
  [ "$name" = containerd ] || require_free_port "$name" "$(component_port "$name")" "$(component_port_var "$name")"
  local k="$STACK_DIR/kubeconfigs"
  local args=()
  case "$name" in
    etcd)
      args=("$BIN_CACHE/etcd" --name=payments --data-dir="$STACK_DIR/etcd"
        --listen-client-urls="http://127.0.0.1:$K8S_ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$K8S_ETCD_PORT"
        --listen-peer-urls="http://127.0.0.1:$K8S_ETCD_PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$K8S_ETCD_PEER_PORT"
        --initial-cluster="payments=http://127.0.0.1:$K8S_ETCD_PEER_PORT" --initial-cluster-state=new
        --unsafe-no-fsync --quota-backend-bytes=2147483648 --auto-compaction-retention=1h --log-level=warn) ;;
    kube-apiserver)
      args=("$BIN_CACHE/kube-apiserver" --bind-address=127.0.0.1 --advertise-address=127.0.0.1
        --secure-port="$K8S_API_PORT" --etcd-servers="http://127.0.0.1:$K8S_ETCD_PORT"
        --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" --client-ca-file="$PKI/ca.crt"
        --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key"
        --service-account-issuer=https://kubernetes.default.svc.cluster.local
        --service-cluster-ip-range="$SERVICE_CIDR" --authorization-mode="$(authorization_modes)" --allow-privileged=true
        --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client
        --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group
        --requestheader-extra-headers-prefix=X-Remote-Extra-
        --proxy-client-cert-file="$PKI/front-proxy-client.crt" --proxy-client-key-file="$PKI/front-proxy-client.key"
        --endpoint-reconciler-type=none --profiling=false --event-ttl=1h --v=1)
      # The real node's kubelet: the Node authorizer limits it to its own node and pods; the API
      # server reaches it (logs, exec) with a client certificate of its own.
      [ "$K8S_NODE" = real ] && args+=(--enable-admission-plugins=NodeRestriction
        --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key"
        --kubelet-certificate-authority="$PKI/ca.crt" --kubelet-preferred-address-types=InternalIP) ;;
    kube-controller-manager)
      args=("$BIN_CACHE/kube-controller-manager" --bind-address=127.0.0.1 --secure-port="$K8S_KCM_PORT"
        --kubeconfig="$k/controller-manager.kubeconfig" --authentication-kubeconfig="$k/controller-manager.kubeconfig"
        --authorization-kubeconfig="$k/controller-manager.kubeconfig" --leader-elect=false
        --use-service-account-credentials=true --service-account-private-key-file="$PKI/sa.key"
        --root-ca-file="$PKI/ca.crt" --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key"
        --service-cluster-ip-range="$SERVICE_CIDR" --profiling=false --v=1) ;;
    kube-scheduler)
      args=("$BIN_CACHE/kube-scheduler" --bind-address=127.0.0.1 --secure-port="$K8S_SCHEDULER_PORT"
        --kubeconfig="$k/scheduler.kubeconfig" --authentication-kubeconfig="$k/scheduler.kubeconfig"
        --authorization-kubeconfig="$k/scheduler.kubeconfig" --leader-elect=false --profiling=false --v=1) ;;
    kwok)
      # kwok manages only nodes annotated kwok.x-k8s.io/node=fake (the ones `up` creates); its
      # stages (node heartbeat via leases, pod ready/complete/delete) are the kwokctl defaults.
      args=("$BIN_CACHE/kwok" --kubeconfig="$k/kwok.kubeconfig" --config="$ROOT_DIR/dev/cluster/kwok/stages.yaml"
        --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake
        --node-ip=127.0.0.1 --cidr="$POD_CIDR" --node-lease-duration-seconds=40
        --server-address="127.0.0.1:$K8S_KWOK_PORT") ;;
    containerd) read -r -a args <<< "$(containerd_args)" ;;
    kubelet) read -r -a args <<< "$(kubelet_args)" ;;
  esac
  [ "$name" = kwok ] && release_node_leases
  log "starting $name (port $(component_port "$name"))"
  # HOME is pointed into the stack so that no user-level config (~/.kwok) leaks in.
  start_daemon "$name" "$LOGS/$name.log" env HOME="$STACK_DIR/home" "${args[@]}"
}

# kwok holds each fake node's lease (kube-node-lease/<node>) under a random identity per process;
# a new kwok would wait for a dead one's leases to expire (40s) before it takes over the nodes.
# No kwok of ours runs when this is called, so those leases are stale: drop them.
release_node_leases() {
  local nodes
  nodes="$(kubectl_admin get nodes -l type=kwok -o jsonpath='{.items[*].metadata.name}' 2>/dev/null || true)"
  [ -n "$nodes" ] || return 0
  # shellcheck disable=SC2086
  kubectl_admin -n kube-node-lease delete lease $nodes --ignore-not-found --wait=false >/dev/null 2>&1 || true
}

# Fake nodes: Node objects annotated kwok.x-k8s.io/node=fake, which kwok then keeps Ready
# (status, conditions, lease heartbeats) as a kubelet would. Unlike kwok's documentation
# example they carry no NoSchedule taint, so ordinary Deployments land on them.
apply_nodes() {
  local i docs=""
  for (( i=0; i<K8S_NODES; i++ )); do
    docs+="---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    node.alpha.kubernetes.io/ttl: \"0\"
    kwok.x-k8s.io/node: fake
  labels:
    beta.kubernetes.io/arch: amd64
    beta.kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    kubernetes.io/role: agent
    node-role.kubernetes.io/agent: \"\"
    type: kwok
status:
  allocatable: {cpu: \"32\", memory: 256Gi, pods: \"110\"}
  capacity: {cpu: \"32\", memory: 256Gi, pods: \"110\"}
  nodeInfo:
    architecture: amd64
    kubeletVersion: $K8S_VERSION
    operatingSystem: linux
"
  done
  printf '%s' "$docs" | kubectl_admin apply -f - >/dev/null
}

all_healthy() {
  local c; for c in "${COMPONENTS[@]}"; do is_running "$c" && healthy "$c" || return 1; done
}

cmd_up() {
  local start; start=$(date +%s)
  if all_healthy; then
    log "cluster is already running (API https://127.0.0.1:$K8S_API_PORT, kubeconfig $KUBECONFIG_OUT)"
    link_binaries
    return 0
  fi
  cmd_build
  command -v openssl >/dev/null || apt_install openssl
  command -v curl >/dev/null || apt_install curl
  mkdir -p "$STACK_DIR/run" "$LOGS" "$STACK_DIR/home"
  {
    echo "# Written by dev/cluster.sh up; the ports of the running cluster."
    echo "K8S_API_PORT=$K8S_API_PORT"
    echo "K8S_ETCD_PORT=$K8S_ETCD_PORT"
    echo "K8S_ETCD_PEER_PORT=$K8S_ETCD_PEER_PORT"
    echo "K8S_KCM_PORT=$K8S_KCM_PORT"
    echo "K8S_SCHEDULER_PORT=$K8S_SCHEDULER_PORT"
    echo "K8S_KWOK_PORT=$K8S_KWOK_PORT"
    echo "K8S_KUBELET_PORT=$K8S_KUBELET_PORT"
    echo "K8S_KUBELET_HEALTHZ_PORT=$K8S_KUBELET_HEALTHZ_PORT"
    if [ "$K8S_NODE" = real ]; then
      echo "K8S_NODE_BRIDGE=$NODE_BRIDGE"
      echo "K8S_NODE_POD_CIDR=$NODE_POD_CIDR"
    fi
  } > "$CLUSTER_ENV"
  # Check every port before starting anything, so a conflict leaves nothing half-started.
  local c
  for c in "${COMPONENTS[@]}"; do
    [ "$c" = containerd ] && continue
    is_running "$c" || require_free_port "$c" "$(component_port "$c")" "$(component_port_var "$c")"
  done
  is_running etcd || require_free_port "etcd peer" "$K8S_ETCD_PEER_PORT" K8S_ETCD_PEER_PORT
  ensure_pki
  [ "$K8S_NODE" = real ] && { node_tools; ensure_node_pki; }
  write_kubeconfigs

  start_component etcd
  await etcd 30
  start_component kube-apiserver
  await kube-apiserver 120
  start_component kube-controller-manager
  start_component kube-scheduler
  if [ "$K8S_NODE" = real ]; then
    node_up
  else
    start_component kwok
  fi
  await kube-controller-manager 60
  await kube-scheduler 60
  if [ "$K8S_NODE" = real ]; then
    wait_for "node $NODE_NAME Ready" 120 \
      kubectl_admin wait --for=condition=Ready "node/$NODE_NAME" --timeout=5s \
      || die "node $NODE_NAME did not become Ready; see $LOGS/kubelet.log"
  else
    await kwok 60
    apply_nodes
    wait_for "$K8S_NODES fake node(s) Ready" 90 \
      kubectl_admin wait --for=condition=Ready node -l type=kwok --timeout=5s \
      || die "fake nodes did not become Ready; see $LOGS/kwok.log"
  fi
  wait_for "default service account" 60 kubectl_admin -n default get serviceaccount default \
    || die "the default service account was not created; see $LOGS/kube-controller-manager.log"
  log "cluster is up in $(( $(date +%s) - start ))s: API https://127.0.0.1:$K8S_API_PORT"
  log "use: $LOCAL_BIN/kubectl --kubeconfig $KUBECONFIG_OUT get nodes   (or: eval \"\$(dev/cluster.sh env)\")"
}

cmd_down() {
  # The node first (its kubelet, containers, mounts and network), then the API clients (in parallel,
  # each takes a second or two to shut down), then the apiserver, then etcd.
  local c
  [ "$K8S_NODE" = real ] && node_down
  for c in kwok kube-scheduler kube-controller-manager; do stop_daemon "$c" 30 & done
  wait
  stop_daemon kube-apiserver 60
  stop_daemon etcd 30
  local port busy=0
  for c in "${COMPONENTS[@]}"; do
    port="$(component_port "$c")"
    [ "$port" = 0 ] && continue
    if port_in_use "$port"; then log "port $port ($c) is still in use by another process"; busy=1; fi
  done
  if port_in_use "$K8S_ETCD_PEER_PORT"; then log "port $K8S_ETCD_PEER_PORT (etcd peer) is still in use"; busy=1; fi
  if [ "$K8S_NODE" = real ] && ! node_leftovers; then busy=1; fi
  [ "$busy" = 0 ] && log "cluster is stopped"
  return 0
}

cmd_status() {
  local c pid ok=0
  for c in "${COMPONENTS[@]}"; do
    if pid="$(running_pid "$c")"; then
      if healthy "$c"; then
        printf '%-24s running (pid %s, 127.0.0.1:%s)\n' "$c" "$pid" "$(component_port "$c")"
      else
        printf '%-24s running but not healthy (pid %s, 127.0.0.1:%s)\n' "$c" "$pid" "$(component_port "$c")"; ok=1
      fi
    else
      printf '%-24s stopped\n' "$c"; ok=1
    fi
  done
  echo "binaries: $BIN_CACHE ($(tr '\n' ' ' 2>/dev/null < "$BIN_CACHE/.stamp" || echo 'not built'))"
  if [ "$ok" = 0 ]; then
    echo "kubeconfig: $KUBECONFIG_OUT"
    kubectl_admin get nodes -o wide 2>/dev/null || true
  fi
  return "$ok"
}

cmd_env() {
  echo "export KUBECONFIG=$KUBECONFIG_OUT"
  echo "export PATH=$LOCAL_BIN:\$PATH"
  # The real node's containerd, for `$CTR images ls` and the like (namespace k8s.io is the kubelet's).
  if [ "$K8S_NODE" = real ] && [ -n "$(containerd_root)" ]; then
    echo "export CONTAINERD_ADDRESS=$CTRD_SOCK CONTAINERD_NAMESPACE=k8s.io"
    echo "export CTR=$(containerd_root)/usr/bin/ctr"
  fi
}

cmd_clean() {
  cmd_down
  rm -rf "$STACK_DIR"
  rm -f "$KUBECONFIG_OUT"
  log "removed $STACK_DIR (the binary cache $BIN_CACHE is kept)"
}

case "${1:-}" in
  build) cmd_build ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  clean) cmd_clean ;;
  import-images)
    [ "$K8S_NODE" = real ] || die "import-images is for the real node (K8S_NODE=real)"
    is_running containerd || die "the real node is not running (K8S_NODE=real dev/cluster.sh up)"
    node_import_project_images ;;
  *) echo "usage: $0 build|up|down|status|env|clean|import-images" >&2; exit 2 ;;
esac
