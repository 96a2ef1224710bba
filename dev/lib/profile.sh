#!/usr/bin/env bash
# Picks the stack profile: "dev" (make up), "test" (make test), "outage" (a private MariaDB and
# Kafka that the outage suite stops and restarts) or "chaos" (a private MariaDB, Redis and Kafka that
# the chaos suite kills with SIGKILL). They never share ports or data. Every port stays below 32768,
# the kernel's ephemeral range: a client reconnecting to a stopped server could otherwise be handed
# that very port as its source and connect to itself.
# Every port, STACK_DIR and STACK_ENV_FILE can be overridden from the environment.
STACK_NAME="${STACK_NAME:-dev}"
case "$STACK_NAME" in
  dev)
    : "${MYSQL_PORT:=13306}" "${REDIS_PORT:=16379}" "${KAFKA_PORT:=19092}" "${KAFKA_CONTROLLER_PORT:=19093}"
    : "${API_PORT:=18080}" "${API_OPS_PORT:=18083}" "${PRODUCER_METRICS_PORT:=18081}" "${CONSUMER_METRICS_PORT:=18082}"
    : "${STRIPE_MOCK_PORT:=18111}"
    STACK_ENV_FILE="${STACK_ENV_FILE:-$ROOT_DIR/.local/stack.env}" ;;
  test)
    : "${MYSQL_PORT:=23306}" "${REDIS_PORT:=26379}" "${KAFKA_PORT:=29092}" "${KAFKA_CONTROLLER_PORT:=29093}"
    : "${API_PORT:=28080}" "${API_OPS_PORT:=28083}" "${PRODUCER_METRICS_PORT:=28081}" "${CONSUMER_METRICS_PORT:=28082}"
    : "${STRIPE_MOCK_PORT:=28111}"
    STACK_ENV_FILE="${STACK_ENV_FILE:-$ROOT_DIR/.local/test-stack.env}" ;;
  outage)
    : "${MYSQL_PORT:=31306}" "${REDIS_PORT:=31379}" "${KAFKA_PORT:=31092}" "${KAFKA_CONTROLLER_PORT:=31093}"
    : "${API_PORT:=31080}" "${API_OPS_PORT:=31083}" "${PRODUCER_METRICS_PORT:=31081}" "${CONSUMER_METRICS_PORT:=31082}"
    : "${STRIPE_MOCK_PORT:=31111}"
    STACK_ENV_FILE="${STACK_ENV_FILE:-$ROOT_DIR/.local/outage-stack.env}" ;;
  chaos)
    : "${MYSQL_PORT:=30306}" "${REDIS_PORT:=30379}" "${KAFKA_PORT:=30092}" "${KAFKA_CONTROLLER_PORT:=30093}"
    : "${API_PORT:=30080}" "${API_OPS_PORT:=30083}" "${PRODUCER_METRICS_PORT:=30081}" "${CONSUMER_METRICS_PORT:=30082}"
    : "${STRIPE_MOCK_PORT:=30111}"
    STACK_ENV_FILE="${STACK_ENV_FILE:-$ROOT_DIR/.local/chaos-stack.env}" ;;
  *) echo "unknown STACK_NAME=$STACK_NAME (expected dev, test, outage or chaos)" >&2; exit 2 ;;
esac
for v in MYSQL_PORT REDIS_PORT KAFKA_PORT KAFKA_CONTROLLER_PORT STRIPE_MOCK_PORT API_PORT API_OPS_PORT PRODUCER_METRICS_PORT CONSUMER_METRICS_PORT; do
  case "${!v}" in
    ''|*[!0-9]*) echo "$v must be a port number, got '${!v}'" >&2; exit 2 ;;
  esac
  if [ "${!v}" -lt 1 ] || [ "${!v}" -gt 65535 ]; then echo "$v out of range: ${!v}" >&2; exit 2; fi
done
STACK_DIR="${STACK_DIR:-$ROOT_DIR/.local/$STACK_NAME}"
export STACK_NAME STACK_DIR STACK_ENV_FILE MYSQL_PORT REDIS_PORT KAFKA_PORT KAFKA_CONTROLLER_PORT STRIPE_MOCK_PORT API_PORT API_OPS_PORT PRODUCER_METRICS_PORT CONSUMER_METRICS_PORT

# The topic prefix the stack's env file gives the services (the Kafka ACLs of the secure profile use it).
stack_topic_prefix() { if [ "$STACK_NAME" = dev ]; then echo payments; else echo paytest; fi; }
