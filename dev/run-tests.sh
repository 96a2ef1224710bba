#!/usr/bin/env bash
# `make test`: static checks, unit tests, then the test stack and every suite against real services.
# Stops the test stack (and cluster) afterwards only if this run started them.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PWD/.local/bin:$PATH"
RESULTS=.local/test-results
rm -rf "$RESULTS" && mkdir -p "$RESULTS"

step() { printf '\n==> %s\n' "$*"; }
suite() { # suite NAME: one vitest project, with a JSON report for the closing tally
  vitest run --project "$1" --passWithNoTests --reporter=default --reporter=json --outputFile="$RESULTS/$1.json"
}

# down_private PREFIX COMPONENTS: stops the private stacks in PREFIX* folders and removes them.
down_private() {
  local dir
  for dir in "$1"*; do
    [ -d "$dir" ] || continue
    STACK_NAME=outage STACK_COMPONENTS="$2" STACK_DIR="$PWD/$dir" STACK_ENV_FILE="$PWD/$dir/stack.env" \
      dev/stack.sh down >/dev/null 2>&1 || true
    rm -rf "$dir"
  done
}

started_stack=0
started_cluster=0
started_node=0
cleanup() {
  local rc=$?
  node dev/test-summary.ts "$RESULTS" || true
  # The private servers of the outage, CDC-grants, api-outage and chaos suites: their afterAll stops them; this covers a crashed run.
  STACK_NAME=outage dev/stack.sh down >/dev/null 2>&1 || true
  local dir
  for dir in cdc-grants api-outage; do
    STACK_NAME=outage STACK_COMPONENTS=mariadb STACK_DIR="$PWD/.local/$dir" STACK_ENV_FILE="$PWD/.local/$dir/stack.env" \
      dev/stack.sh down >/dev/null 2>&1 || true
  done
  STACK_NAME=chaos dev/stack.sh down >/dev/null 2>&1 || true
  # Likewise the private MySQL servers of the MySQL smoke and positions suites.
  for dir in mysql-smoke mysql-positions test-mysql; do
    DB_FLAVOR=mysql STACK_NAME=outage STACK_COMPONENTS=mysql STACK_DIR="$PWD/.local/$dir" \
      STACK_ENV_FILE="$PWD/.local/$dir/stack.env" dev/stack.sh down >/dev/null 2>&1 || true
  done
  # Likewise the primary-change suite's primaries and replicas.
  for dir in mysql-a mysql-b mariadb-a mariadb-b; do
    DB_FLAVOR="${dir%-*}" STACK_NAME=outage STACK_COMPONENTS="${dir%-*}" STACK_DIR="$PWD/.local/primary-change-$dir" \
      STACK_ENV_FILE="$PWD/.local/primary-change-$dir/stack.env" dev/stack.sh down >/dev/null 2>&1 || true
  done
  # The Redis Cluster suite's private cluster (six redis-servers, stopped by their pid files).
  STACK_NAME=test STACK_COMPONENTS=redis REDIS_MODE=cluster STACK_DIR="$PWD/.local/redis-cluster-test" \
    STACK_ENV_FILE="$PWD/.local/redis-cluster-test/stack.env" dev/stack.sh down >/dev/null 2>&1 || true
  # Likewise the consumer outage suite's private Kafka.
  STACK_NAME=outage STACK_COMPONENTS=kafka STACK_DIR="$PWD/.local/consumer-outage" \
    STACK_ENV_FILE="$PWD/.local/consumer-outage/stack.env" dev/stack.sh down >/dev/null 2>&1 || true
  # Suites with private stacks in `.local/<name>-*` folders (each afterAll stops its own and removes
  # the folder; this covers a crashed run): the Kafka SASL broker, the MySQL TLS MariaDB, the
  # secure-profile e2e stack and the Stripe suite's stripe-mock servers.
  down_private .local/kafka-sasl- kafka
  down_private .local/mysql-tls- mariadb
  down_private .local/secure-e2e- "mariadb redis kafka"
  down_private .local/stripe-mock- stripe
  # Containers of a crashed images suite (its afterAll deletes them): by id, from its private runc root.
  local state id
  for state in .local/images-test-*/runc-state; do
    [ -d "$state" ] || continue
    for id in $(runc --root "$state" list -q 2>/dev/null); do runc --root "$state" delete -f "$id" || true; done
    rm -rf "$(dirname "$state")"
  done
  # The dashboard suite's Prometheus (its afterAll stops it and removes the folder).
  local d; for d in .local/tmp/prometheus-*; do
    [ -d "$d" ] && STACK_NAME=test STACK_DIR="$PWD/$d" dev/stack.sh stop prometheus >/dev/null 2>&1 || true
  done
  # The pods suite's release and pipeline on the real node (its afterAll removes them; this covers a
  # crashed run on a node that stays up).
  if [ -f .local/kubeconfig-real ] && K8S_NODE=real dev/cluster.sh status >/dev/null 2>&1; then
    .local/bin/kubectl --kubeconfig .local/kubeconfig-real delete namespace payments-pods --ignore-not-found \
      --wait=false >/dev/null 2>&1 || true
  fi
  if [ "${KEEP_TEST_STACK:-0}" != 1 ]; then
    if [ "$started_node" = 1 ]; then K8S_NODE=real dev/cluster.sh down || true; fi
    if [ "$started_cluster" = 1 ]; then dev/cluster.sh down || true; fi
    if [ "$started_stack" = 1 ]; then STACK_NAME=test dev/stack.sh down || true; fi
  fi
  exit "$rc"
}
trap cleanup EXIT

step "lint";       biome check .
step "typecheck";  tsc -p tsconfig.json --noEmit
step "unit tests"; suite unit

if ! STACK_NAME=test dev/stack.sh status | grep -q 'mariadb: running'; then started_stack=1; fi
step "test stack"; STACK_NAME=test dev/stack.sh up
# The MySQL 9.7 build the MySQL suites start privately: fetched once into the cache, offline after.
step "mysql 9.7";  DB_FLAVOR=mysql STACK_NAME=test STACK_COMPONENTS=mysql dev/stack.sh install
# stripe-mock for the Stripe adapter's suite: built once from the Go module proxy into the cache.
step "stripe-mock"; STACK_NAME=test STACK_COMPONENTS=stripe dev/stack.sh install

# The images the integration suite runs with runc (test/integration/images.test.ts); a no-op when
# they are up to date.
step "images";            dev/images.sh build
# Debian's chromium for the API reference page test (test/integration/api-docs.test.ts).
step "browser";           (. dev/lib/common.sh && . dev/lib/browser.sh && browser_install)
step "integration tests"; suite integration
step "end-to-end tests";  suite e2e
# The flavor-sensitive suites again, with the database on a MySQL 9.7 test server of its own
# (Redis and Kafka stay the test stack's; vitest.config.ts names the suites).
step "mysql 9.7 server";  DB_FLAVOR=mysql STACK_NAME=outage STACK_COMPONENTS=mysql STACK_DIR="$PWD/.local/test-mysql" \
  STACK_ENV_FILE="$PWD/.local/test-mysql/stack.env" MYSQL_PORT="${TEST_MYSQL_PORT:-25106}" dev/stack.sh up
step "integration tests on mysql 9.7"; suite integration-mysql
step "end-to-end tests on mysql 9.7";  suite e2e-mysql
DB_FLAVOR=mysql STACK_NAME=outage STACK_COMPONENTS=mysql STACK_DIR="$PWD/.local/test-mysql" \
  STACK_ENV_FILE="$PWD/.local/test-mysql/stack.env" dev/stack.sh down
if [ -x dev/cluster.sh ] && compgen -G 'test/operator/*.test.ts' >/dev/null; then
  if ! dev/cluster.sh status >/dev/null 2>&1; then started_cluster=1; fi
  step "kubernetes control plane"; dev/cluster.sh up
  step "operator tests"; suite operator
fi
# The real node (containerd + runc + kubelet, a cluster of its own): the chart and the pipeline as real
# pods from the images built above (imported again when they changed since the node started).
if compgen -G 'test/pods/*.test.ts' >/dev/null; then
  if ! K8S_NODE=real dev/cluster.sh status >/dev/null 2>&1; then started_node=1; fi
  step "real node"; K8S_NODE=real dev/cluster.sh up && K8S_NODE=real dev/cluster.sh import-images
  step "pods tests"; suite pods
fi
