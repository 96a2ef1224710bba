#!/usr/bin/env bash
# The local stack: MariaDB (or MySQL), Redis and Kafka (and, for the dev profile, the three services).
# Usage: [DB_FLAVOR=mariadb|mysql] STACK_NAME=dev|test|outage|chaos dev/stack.sh install|up|down|status|env|stop COMPONENT|start COMPONENT
# stop/start act on one running component of the stack (e.g. `stop kafka`), for the outage and chaos tests.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/lib/common.sh"
. "$HERE/lib/profile.sh"
for lib in tls mariadb mysql redis kafka stripe services prometheus; do
  [ -f "$HERE/lib/$lib.sh" ] && . "$HERE/lib/$lib.sh"
done

# DB_FLAVOR picks the database server: MariaDB 10.11 (the default) or Oracle MySQL 9.7. Each keeps its own
# data under STACK_DIR, on the same MYSQL_PORT; starting one stops the other of the same stack.
DB_FLAVOR="${DB_FLAVOR:-mariadb}"
case "$DB_FLAVOR" in
  mariadb|mysql) ;;
  *) echo "unknown DB_FLAVOR=$DB_FLAVOR (expected mariadb or mysql)" >&2; exit 2 ;;
esac
export DB_FLAVOR
DB_FLAVORS=(mariadb mysql)

# SECURE=1: the secure profile, as managed services run: MariaDB TLS-only (MYSQL_TLS=on) and Kafka
# SASL_SSL with one user per service and ACLs (KAFKA_SECURITY=sasl_ssl); each can also be set alone.
if [ "${SECURE:-0}" = 1 ]; then
  export KAFKA_SECURITY="${KAFKA_SECURITY:-sasl_ssl}" MYSQL_TLS="${MYSQL_TLS:-on}"
fi

# STACK_COMPONENTS selects a subset, e.g. "mariadb redis".
read -r -a INFRA <<< "${STACK_COMPONENTS:-$DB_FLAVOR redis kafka}"
have() { declare -F "$1" >/dev/null; }
in_infra() { local c; for c in "${INFRA[@]}"; do [ "$c" = "$1" ] && return 0; done; return 1; }

write_env() {
  local tmp="$STACK_ENV_FILE.tmp"
  mkdir -p "$(dirname "$STACK_ENV_FILE")"
  {
    echo "# Written by dev/stack.sh for the '$STACK_NAME' stack; sh-sourceable."
    echo "STACK_NAME=$STACK_NAME"
    local c; for c in "${INFRA[@]}"; do if have "${c}_env"; then "${c}_env"; fi; done
    echo "API_URL=http://127.0.0.1:$API_PORT"
    echo "API_PORT=$API_PORT"
    echo "API_OPS_URL=http://127.0.0.1:$API_OPS_PORT"
    echo "API_OPS_PORT=$API_OPS_PORT"
    # The API reference page (docs/api.md), on the public port unless API_DOCS_ENABLED turns it off.
    case "${API_DOCS_ENABLED:-true}" in false | 0 | no) ;; *) echo "API_DOCS_URL=http://127.0.0.1:$API_PORT/docs" ;; esac
    echo "PRODUCER_METRICS_PORT=$PRODUCER_METRICS_PORT"
    echo "CONSUMER_METRICS_PORT=$CONSUMER_METRICS_PORT"
    echo "AUTH_JWT_SECRET=$(dev_secret jwt-secret)"
    echo "WEBHOOK_SECRET=$(dev_secret webhook-secret)"
    echo "TOPIC_PREFIX=$(stack_topic_prefix)"
    if have prometheus_env; then prometheus_env; fi
  } > "$tmp"
  chmod 600 "$tmp"
  mv "$tmp" "$STACK_ENV_FILE"
}

# Development-only secrets (JWT HS256, provider webhook HMAC), generated once per stack.
dev_secret() {
  local f="$STACK_DIR/$1"
  [ -f "$f" ] || { mkdir -p "$STACK_DIR"; head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' > "$f"; chmod 600 "$f"; }
  cat "$f"
}

cmd_install() {
  apt_install curl # readiness checks of the services
  local c; for c in "${INFRA[@]}"; do if have "${c}_install"; then "${c}_install"; fi; done
  # The test stack's suites run Prometheus and promtool themselves.
  if { [ "${WITH_PROMETHEUS:-0}" = 1 ] || [ "$STACK_NAME" = test ]; } && have prometheus_install; then prometheus_install; fi
}

cmd_up() {
  cmd_install
  local c; for c in "${INFRA[@]}"; do have "${c}_start" || die "no start function for $c"; "${c}_start"; done
  write_env
  migrate_and_seed
  if [ "${WITH_SERVICES:-0}" = 1 ] && have services_start; then services_start; fi
  if [ "${WITH_PROMETHEUS:-0}" = 1 ] && have prometheus_start; then prometheus_start; fi
}

# The dev stack gets the schema and the demo catalog; test suites create databases of their own.
migrate_and_seed() {
  [ "$STACK_NAME" = dev ] || return 0
  (
    set -a; . "$STACK_ENV_FILE"; set +a
    node "$ROOT_DIR/runtime/core/db/cli.ts" migrate
    node "$ROOT_DIR/runtime/core/db/cli.ts" seed
  ) >&2
}

cmd_down() {
  if have prometheus_stop; then prometheus_stop; fi
  if have services_stop; then services_stop; fi
  local i; for (( i=${#INFRA[@]}-1; i>=0; i-- )); do if have "${INFRA[$i]}_stop"; then "${INFRA[$i]}_stop"; fi; done
  # Whichever database flavor this stack runs, whatever DB_FLAVOR says now.
  if [ -z "${STACK_COMPONENTS:-}" ]; then local f; for f in "${DB_FLAVORS[@]}"; do in_infra "$f" || "${f}_stop"; done; fi
  return 0
}

cmd_status() {
  local c; for c in "${INFRA[@]}"; do if have "${c}_status"; then "${c}_status"; fi; done
  local f; for f in "${DB_FLAVORS[@]}"; do if ! in_infra "$f" && is_running "$f"; then "${f}_status"; fi; done
  if have services_status; then services_status; fi
  if have prometheus_status; then prometheus_status; fi
  if [ -f "$STACK_ENV_FILE" ]; then echo "env: $STACK_ENV_FILE"; fi
  return 0
}

# One component, e.g. "kafka": its own stop/start functions (pid files, idempotent, own pids only).
cmd_component() {
  local action="$1" c="${2:-}"
  [ -n "$c" ] || die "usage: $0 $action COMPONENT (one of: ${INFRA[*]})"
  have "${c}_$action" || die "no $action function for component '$c'"
  "${c}_$action"
}

case "${1:-}" in
  install) cmd_install ;;
  stop|start) cmd_component "$1" "${2:-}" ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) write_env; cat "$STACK_ENV_FILE" ;;
  *) echo "usage: STACK_NAME=dev|test|outage|chaos $0 install|up|down|status|env|stop COMPONENT|start COMPONENT" >&2; exit 2 ;;
esac
