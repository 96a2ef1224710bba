#!/usr/bin/env bash
# The three services under `make up` (WITH_SERVICES=1): producer, consumer, api.
# Each runs `node runtime/<svc>/main.ts` with the stack's env file exported, its own pid file and log
# ($STACK_DIR/logs/<svc>.log), and counts as started once its /readyz answers 200 — on its ops port
# (the api serves /readyz and /metrics on API_OPS_PORT, its public API on API_PORT).
# Sourced by dev/stack.sh, never executed.

# Producer first (it creates the change topics the consumer subscribes to), the api last.
SERVICES=(producer consumer api)

# The port /readyz answers on.
service_port() {
  case "$1" in
    api) echo "$API_OPS_PORT" ;;
    producer) echo "$PRODUCER_METRICS_PORT" ;;
    consumer) echo "$CONSUMER_METRICS_PORT" ;;
    *) die "unknown service $1" ;;
  esac
}

service_port_var() {
  case "$1" in api) echo API_OPS_PORT ;; producer) echo PRODUCER_METRICS_PORT ;; consumer) echo CONSUMER_METRICS_PORT ;; esac
}

service_ready() { curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/readyz"; }

service_start() {
  local svc="$1" port entry logfile
  entry="runtime/$svc/main.ts"
  logfile="$STACK_DIR/logs/$svc.log"
  if is_running "$svc"; then log "$svc is already running (pid $(running_pid "$svc"))"; return 0; fi
  [ -f "$ROOT_DIR/$entry" ] || die "missing $entry"
  port="$(service_port "$svc")"
  require_free_port "$svc" "$port" "$(service_port_var "$svc")"
  if [ "$svc" = api ]; then require_free_port api "$API_PORT" API_PORT; fi
  # The env file first, then defaults only the local stack needs (a replica server_id and the
  # captured tables for the producer).
  start_and_wait "$svc" "$logfile" "${SERVICE_START_TIMEOUT:-90}" service_ready "$port" -- bash -c '
    cd "$1" || exit 1
    set -a; . "$2"; set +a
    export PATH="$1/node_modules/.bin:$PATH" PRODUCER_SERVER_ID="${PRODUCER_SERVER_ID:-4201}"
    # The business tables; idempotency records and the migration ledger stay private to the api.
    export PRODUCER_TABLES="${PRODUCER_TABLES:-packages,purchases,payments}"
    # Kafka secure profile: each service connects as its own user (KAFKA_<SVC>_USERNAME/PASSWORD).
    user="KAFKA_${4^^}_USERNAME" password="KAFKA_${4^^}_PASSWORD"
    if [ -n "${!user:-}" ]; then export KAFKA_SASL_USERNAME="${!user}" KAFKA_SASL_PASSWORD="${!password}"; fi
    exec node "$3"' _ "$ROOT_DIR" "$STACK_ENV_FILE" "$entry" "$svc"
}

services_start() {
  [ -f "$STACK_ENV_FILE" ] || die "no $STACK_ENV_FILE: start the infrastructure first"
  mkdir -p "$STACK_DIR/logs"
  local svc; for svc in "${SERVICES[@]}"; do service_start "$svc"; done
}

# Reverse order: the api stops taking writes first; SIGTERM lets each one drain and commit.
services_stop() {
  local i; for (( i=${#SERVICES[@]}-1; i>=0; i-- )); do stop_daemon "${SERVICES[$i]}" 40; done
}

services_status() {
  local svc port state
  for svc in "${SERVICES[@]}"; do
    port="$(service_port "$svc")"
    if is_running "$svc"; then
      state="running (pid $(running_pid "$svc")), $(service_ready "$port" 2>/dev/null && echo ready || echo 'not ready')"
    else
      state=stopped
    fi
    if [ "$svc" = api ]; then
      echo "$svc: $state on 127.0.0.1:$API_PORT, ops 127.0.0.1:$port (log $STACK_DIR/logs/$svc.log)"
    else
      echo "$svc: $state on 127.0.0.1:$port (log $STACK_DIR/logs/$svc.log)"
    fi
  done
}
