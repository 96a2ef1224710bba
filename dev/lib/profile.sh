#!/usr/bin/env bash
# Picks the stack profile: "dev" (make up), "test" (make test) or "outage" (a private MariaDB and
# Kafka that the outage suite stops and restarts). They never share ports or data.
# Every port, STACK_DIR and STACK_ENV_FILE can be overridden from the environment.
STACK_NAME="${STACK_NAME:-dev}"
case "$STACK_NAME" in
  dev)
    : "${MYSQL_PORT:=13306}" "${REDIS_PORT:=16379}" "${KAFKA_PORT:=19092}" "${KAFKA_CONTROLLER_PORT:=19093}"
    : "${API_PORT:=18080}" "${API_OPS_PORT:=18083}" "${PRODUCER_METRICS_PORT:=18081}" "${CONSUMER_METRICS_PORT:=18082}"
    STACK_ENV_FILE="${STACK_ENV_FILE:-$ROOT_DIR/.local/stack.env}" ;;
  test)
    : "${MYSQL_PORT:=23306}" "${REDIS_PORT:=26379}" "${KAFKA_PORT:=29092}" "${KAFKA_CONTROLLER_PORT:=29093}"
    : "${API_PORT:=28080}" "${API_OPS_PORT:=28083}" "${PRODUCER_METRICS_PORT:=28081}" "${CONSUMER_METRICS_PORT:=28082}"
    STACK_ENV_FILE="${STACK_ENV_FILE:-$ROOT_DIR/.local/test-stack.env}" ;;
  outage)
    : "${MYSQL_PORT:=33306}" "${REDIS_PORT:=36379}" "${KAFKA_PORT:=39092}" "${KAFKA_CONTROLLER_PORT:=39093}"
    : "${API_PORT:=38080}" "${API_OPS_PORT:=38083}" "${PRODUCER_METRICS_PORT:=38081}" "${CONSUMER_METRICS_PORT:=38082}"
    STACK_ENV_FILE="${STACK_ENV_FILE:-$ROOT_DIR/.local/outage-stack.env}" ;;
  *) echo "unknown STACK_NAME=$STACK_NAME (expected dev, test or outage)" >&2; exit 2 ;;
esac
for v in MYSQL_PORT REDIS_PORT KAFKA_PORT KAFKA_CONTROLLER_PORT API_PORT API_OPS_PORT PRODUCER_METRICS_PORT CONSUMER_METRICS_PORT; do
  case "${!v}" in
    ''|*[!0-9]*) echo "$v must be a port number, got '${!v}'" >&2; exit 2 ;;
  esac
  if [ "${!v}" -lt 1 ] || [ "${!v}" -gt 65535 ]; then echo "$v out of range: ${!v}" >&2; exit 2; fi
done
STACK_DIR="${STACK_DIR:-$ROOT_DIR/.local/$STACK_NAME}"
export STACK_NAME STACK_DIR STACK_ENV_FILE MYSQL_PORT REDIS_PORT KAFKA_PORT KAFKA_CONTROLLER_PORT API_PORT API_OPS_PORT PRODUCER_METRICS_PORT CONSUMER_METRICS_PORT
