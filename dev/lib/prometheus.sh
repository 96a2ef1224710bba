#!/usr/bin/env bash
# A private Prometheus (Debian's `prometheus` package, which also brings promtool) on loopback,
# on request: `WITH_PROMETHEUS=1 make up`. It scrapes the stack's api (its ops port), producer,
# consumer and a local operator (`make operator`; down until one runs), evaluates the chart's alert
# rules (helm/alerts/payment-pipeline.rules.yaml) and keeps its data under $STACK_DIR/prometheus.
# The package's own system service is never started (apt_install blocks it).
# Sourced by dev/stack.sh, never executed.
#
# Every target gets the labels a Kubernetes scrape would attach (namespace, pod), so the chart's
# dashboard and alerts work unchanged; namespace is PROMETHEUS_NAMESPACE (default: the stack name).
case "$STACK_NAME" in
  dev) : "${PROMETHEUS_PORT:=19090}" ;;
  test) : "${PROMETHEUS_PORT:=29090}" ;;
  *) : "${PROMETHEUS_PORT:=31090}" ;; # outage: below the ephemeral port range, like its other ports
esac
case "$PROMETHEUS_PORT" in ''|*[!0-9]*) echo "PROMETHEUS_PORT must be a port number, got '$PROMETHEUS_PORT'" >&2; exit 2 ;; esac
export PROMETHEUS_PORT

prometheus_install() { apt_install prometheus; }

# Where /metrics answers: the api's ops port when it has one (API_OPS_PORT), else its public port.
prometheus_api_metrics_port() { echo "${API_OPS_PORT:-$API_PORT}"; }

prometheus_write_config() {
  local file="$1" ns="${PROMETHEUS_NAMESPACE:-$STACK_NAME}" interval="${PROMETHEUS_SCRAPE_INTERVAL:-5s}"
  local job port
  {
    echo "# Written by dev/stack.sh for the '$STACK_NAME' stack."
    echo "global:"
    echo "  scrape_interval: $interval"
    echo "  evaluation_interval: $interval"
    echo "rule_files:"
    echo "  - $ROOT_DIR/helm/alerts/payment-pipeline.rules.yaml"
    echo "scrape_configs:"
    for job in api producer consumer operator; do
      case "$job" in
        api) port="$(prometheus_api_metrics_port)" ;;
        producer) port="$PRODUCER_METRICS_PORT" ;;
        consumer) port="$CONSUMER_METRICS_PORT" ;;
        operator) port="${OPERATOR_OPS_PORT:-9470}" ;;
      esac
      echo "  - job_name: $job"
      echo "    static_configs:"
      echo "      - targets: ['127.0.0.1:$port']"
      echo "        labels: { namespace: '$ns', pod: '$job' }"
    done
  } > "$file.tmp"
  mv "$file.tmp" "$file"
}

prometheus_ready() { curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$PROMETHEUS_PORT/-/ready"; }

prometheus_start() {
  if is_running prometheus; then log "prometheus is already running (pid $(running_pid prometheus))"; return 0; fi
  command -v prometheus >/dev/null || prometheus_install
  require_free_port prometheus "$PROMETHEUS_PORT" PROMETHEUS_PORT
  local dir="$STACK_DIR/prometheus"
  mkdir -p "$dir/data" "$STACK_DIR/logs"
  prometheus_write_config "$dir/prometheus.yml"
  promtool check config "$dir/prometheus.yml" >&2 || die "invalid $dir/prometheus.yml"
  log "starting prometheus on 127.0.0.1:$PROMETHEUS_PORT"
  start_and_wait prometheus "$STACK_DIR/logs/prometheus.log" 60 prometheus_ready -- prometheus \
    --config.file="$dir/prometheus.yml" \
    --storage.tsdb.path="$dir/data" \
    --storage.tsdb.retention.time="${PROMETHEUS_RETENTION:-7d}" \
    --web.listen-address="127.0.0.1:$PROMETHEUS_PORT"
}

prometheus_stop() { stop_daemon prometheus 30; }

prometheus_status() {
  if is_running prometheus; then
    echo "prometheus: running (pid $(running_pid prometheus)) on 127.0.0.1:$PROMETHEUS_PORT"
  elif [ "${WITH_PROMETHEUS:-0}" = 1 ]; then
    echo "prometheus: stopped"
  fi
}

# Only while it is on (or about to be started), so that scripts can test for PROMETHEUS_URL.
prometheus_env() {
  if [ "${WITH_PROMETHEUS:-0}" = 1 ] || is_running prometheus; then
    echo "PROMETHEUS_URL=http://127.0.0.1:$PROMETHEUS_PORT"
  fi
  return 0
}
