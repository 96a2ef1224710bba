#!/usr/bin/env bash
# `make deploy` / `make undeploy`: the pipeline on the real node (K8S_NODE=real dev/cluster.sh up, i.e.
# `make cluster-node`) against the dev stack (`make up`), the way a user runs it: the images built
# here and imported into the node, `helm install` of helm/ (the operator and its RBAC), the Secrets
# and a PaymentPipeline from the stack's settings, then wait until it is Ready.
#
#   dev/deploy.sh up     # writes .local/deploy.env: API_URL, AUTH_JWT_SECRET, KUBECONFIG (sh-sourceable)
#   dev/deploy.sh down   # deletes the pipeline, the release and the namespace (the CRD stays, as the
#                        # chart keeps it on uninstall)
#
# Environment: STACK_ENV_FILE (.local/stack.env), DEPLOY_NAMESPACE (payments), DEPLOY_TOPIC_PREFIX and
# DEPLOY_KEY_PREFIX (k8s: topics and Redis keys of their own, beside the dev stack's own services),
# DEPLOY_SERVER_ID (4201).
set -euo pipefail
STACK_NAME=deploy
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
cd "$ROOT_DIR"
export PATH="$ROOT_DIR/node_modules/.bin:$ROOT_DIR/.local/bin:$PATH"

ENV_FILE="${STACK_ENV_FILE:-$ROOT_DIR/.local/stack.env}"
NS="${DEPLOY_NAMESPACE:-payments}"
RELEASE=payment-pipeline-operator
PIPELINE=payments
OUT="$ROOT_DIR/.local/deploy.env"
STATE="$ROOT_DIR/.local/deploy"
export KUBECONFIG="$ROOT_DIR/.local/kubeconfig-real"
VERSION="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' package.json)"

# url_part URL user|password|host|port|db
url_part() {
  node -e 'const u = new URL(process.argv[1]); const k = process.argv[2];
    const v = { user: u.username, password: u.password, host: u.hostname, port: u.port, db: u.pathname.slice(1) }[k];
    process.stdout.write(decodeURIComponent(v));' "$1" "$2"
}

need_node() {
  K8S_NODE=real dev/cluster.sh status >/dev/null 2>&1 \
    || die "the real node is not running: start it with \`make cluster-node\`"
}

cmd_up() {
  [ -f "$ENV_FILE" ] || die "$ENV_FILE is missing: start the dev stack with \`make up\`"
  need_node
  # shellcheck disable=SC1090
  set -a; . "$ENV_FILE"; set +a
  STACK_NAME=deploy # the env file names its own stack
  local start=$SECONDS
  dev/images.sh build
  K8S_NODE=real dev/cluster.sh import-images
  # The schema and catalog the api needs (idempotent; `make up` has done it for the dev stack).
  node runtime/core/db/cli.ts migrate >/dev/null
  node runtime/core/db/cli.ts seed >/dev/null

  log "helm install $RELEASE (namespace $NS)"
  helm upgrade --install "$RELEASE" helm --namespace "$NS" --create-namespace --take-ownership \
    --set replicaCount=1 --set image.tag="$VERSION" --wait --timeout 180s >/dev/null

  mkdir -p "$STATE"
  # Signs the api's consistency tokens; kept across deploys so that tokens stay valid.
  [ -s "$STATE/consistency-token-secret" ] || head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' > "$STATE/consistency-token-secret"
  kubectl -n "$NS" create secret generic payments-mysql --dry-run=client -o yaml \
    --from-literal=username="$(url_part "$MYSQL_URL" user)" --from-literal=password="$(url_part "$MYSQL_URL" password)" \
    --from-literal=cdcUsername="$(url_part "$MYSQL_CDC_URL" user)" \
    --from-literal=cdcPassword="$(url_part "$MYSQL_CDC_URL" password)" | kubectl apply -f - >/dev/null
  kubectl -n "$NS" create secret generic payments-auth --dry-run=client -o yaml \
    --from-literal=jwtSecret="$AUTH_JWT_SECRET" \
    --from-literal=consistencyTokenSecret="$(cat "$STATE/consistency-token-secret")" | kubectl apply -f - >/dev/null

  local prefix="${DEPLOY_TOPIC_PREFIX:-k8s}"
  kubectl -n "$NS" apply -f - >/dev/null <<EOF
apiVersion: payments.example.com/v1alpha1
kind: PaymentPipeline
metadata:
  name: $PIPELINE
spec:
  image: payment-pipeline:$VERSION
  mysql:
    host: $(url_part "$MYSQL_URL" host)
    port: $(url_part "$MYSQL_URL" port)
    database: $(url_part "$MYSQL_URL" db)
    credentialsSecret: payments-mysql
    serverId: ${DEPLOY_SERVER_ID:-4201}
    tables: [customers, packages, purchases, payments]
  kafka:
    bootstrap: $KAFKA_BROKERS
    topicPrefix: $prefix
    partitions: 3
    replicationFactor: 1
  redis:
    url: $REDIS_URL
    keyPrefix: ${DEPLOY_KEY_PREFIX:-$prefix}
  producer:
    startFrom: {kind: latest}
    snapshot: initial
  consumer: {minReplicas: 1, maxReplicas: 3, lagThreshold: 1000}
  api:
    replicas: 1
    authSecret: payments-auth
    allowSimulatedProvider: true
    service: {type: ClusterIP, port: 80}
  monitoring: {serviceMonitor: false}
EOF
  log "waiting for PaymentPipeline $PIPELINE to be Ready"
  kubectl -n "$NS" wait --for=condition=Ready "paymentpipeline/$PIPELINE" --timeout=300s >/dev/null \
    || { kubectl -n "$NS" get pods >&2; die "PaymentPipeline $PIPELINE did not become Ready"; }
  kubectl -n "$NS" wait --for=condition=Available deployment -l "app.kubernetes.io/instance=$PIPELINE" \
    --timeout=180s >/dev/null
  # No kube-proxy on the node: the host reaches the api pod at its pod IP (routed over the bridge).
  local ip
  ip="$(kubectl -n "$NS" get pods -l "app.kubernetes.io/instance=$PIPELINE,app.kubernetes.io/component=api" \
    --field-selector=status.phase=Running -o jsonpath='{.items[0].status.podIP}')"
  [ -n "$ip" ] || die "no running api pod"
  {
    echo "# Written by dev/deploy.sh (make deploy); sh-sourceable. The api pod's address changes when it is replaced: make deploy again."
    echo "API_URL=http://$ip:8080"
    echo "AUTH_JWT_SECRET=$AUTH_JWT_SECRET"
    echo "KUBECONFIG=$KUBECONFIG"
    echo "DEPLOY_NAMESPACE=$NS"
  } > "$OUT.tmp"
  chmod 600 "$OUT.tmp"
  mv "$OUT.tmp" "$OUT"
  log "deployed in $((SECONDS - start)) s; settings in $OUT"
  kubectl -n "$NS" get paymentpipelines
  kubectl -n "$NS" get pods -o wide
}

cmd_down() {
  if K8S_NODE=real dev/cluster.sh status >/dev/null 2>&1; then
    if kubectl get crd paymentpipelines.payments.example.com >/dev/null 2>&1; then
      kubectl -n "$NS" delete paymentpipeline "$PIPELINE" --ignore-not-found --wait=true --timeout=120s >/dev/null || true
    fi
    helm uninstall "$RELEASE" --namespace "$NS" --wait >/dev/null 2>&1 || true
    kubectl delete namespace "$NS" --ignore-not-found --wait=true --timeout=120s >/dev/null || true
    log "removed the pipeline, release $RELEASE and namespace $NS"
  else
    log "the real node is not running; nothing deployed there to remove"
  fi
  rm -f "$OUT"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
