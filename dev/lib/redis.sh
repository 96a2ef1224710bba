#!/usr/bin/env bash
# Redis from Debian packages. The cache is rebuildable from MySQL, so no persistence; noeviction
# because an evicted version or tombstone key could let an older event resurrect a row.
# REDIS_MODE=standalone (the default): one server on REDIS_PORT.
# REDIS_MODE=cluster: a Redis Cluster of 3 masters and 3 replicas on REDIS_PORT .. REDIS_PORT+5, their
# cluster bus on REDIS_CLUSTER_BUS_OFFSET above each (default 100: the default 10000 would leave the
# stack's port range). stack.env then names all six as seed nodes.
REDIS_MODE="${REDIS_MODE:-standalone}"
case "$REDIS_MODE" in
  standalone|cluster) ;;
  *) echo "unknown REDIS_MODE=$REDIS_MODE (expected standalone or cluster)" >&2; exit 2 ;;
esac
REDIS_CLUSTER_BUS_OFFSET="${REDIS_CLUSTER_BUS_OFFSET:-100}"
# Low, so a killed master's replica takes over within seconds (the failover tests bound on it).
REDIS_CLUSTER_NODE_TIMEOUT_MS="${REDIS_CLUSTER_NODE_TIMEOUT_MS:-2000}"
REDIS_CLUSTER_NODES=6

redis_install() { apt_install redis-server redis-tools; }

# redis_conf PORT DIR: the settings every server of the stack shares.
redis_conf() {
  cat <<CNF
bind 127.0.0.1
protected-mode yes
port $1
daemonize no
dir $2
save ""
appendonly no
maxmemory 2gb
maxmemory-policy noeviction
tcp-backlog 511
maxclients 10000
CNF
}

redis_cluster_ports() { local i; for (( i=0; i<REDIS_CLUSTER_NODES; i++ )); do echo $(( REDIS_PORT + i )); done; }

# One mode at a time per stack (same ports): starting one stops the other's servers, by pid.
redis_stop_cluster_nodes() {
  local f
  for f in "$STACK_DIR"/run/redis-*.pid; do [ -e "$f" ] && stop_daemon "$(basename "$f" .pid)" 30; done
  return 0
}

redis_start() {
  if [ "$REDIS_MODE" = cluster ]; then stop_daemon redis 30; redis_cluster_start; return; fi
  redis_stop_cluster_nodes
  if is_running redis; then log "redis is already running (pid $(running_pid redis))"; return 0; fi
  require_free_port redis "$REDIS_PORT" REDIS_PORT
  local dir="$STACK_DIR/redis"
  mkdir -p "$dir" "$STACK_DIR/logs"
  redis_conf "$REDIS_PORT" "$dir" > "$dir/redis.conf"
  start_and_wait redis "$STACK_DIR/logs/redis.log" 30 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping \
    -- redis-server "$dir/redis.conf"
}

redis_cluster_start() {
  local port dir
  mkdir -p "$STACK_DIR/logs"
  for port in $(redis_cluster_ports); do
    if is_running "redis-$port"; then continue; fi
    require_free_port "redis cluster node" "$port" REDIS_PORT
    require_free_port "redis cluster bus" $(( port + REDIS_CLUSTER_BUS_OFFSET )) REDIS_CLUSTER_BUS_OFFSET
    dir="$STACK_DIR/redis-cluster/$port"
    mkdir -p "$dir"
    {
      redis_conf "$port" "$dir"
      cat <<CNF
cluster-enabled yes
cluster-config-file nodes.conf
cluster-port $(( port + REDIS_CLUSTER_BUS_OFFSET ))
cluster-node-timeout $REDIS_CLUSTER_NODE_TIMEOUT_MS
# A replica always takes over (no persistence: a restarted master comes back empty, as a replica).
cluster-replica-validity-factor 0
# The other masters keep serving while one is failing over.
cluster-require-full-coverage no
CNF
    } > "$dir/redis.conf"
    start_daemon "redis-$port" "$STACK_DIR/logs/redis-$port.log" redis-server "$dir/redis.conf"
  done
  for port in $(redis_cluster_ports); do
    wait_for "redis cluster node on 127.0.0.1:$port" 30 redis-cli -h 127.0.0.1 -p "$port" ping \
      || die "redis did not start; see $STACK_DIR/logs/redis-$port.log"
  done
  # Formed once; a restart of the stack finds its nodes.conf files and the cluster as it was.
  if ! redis_cluster_formed; then
    local nodes=(); for port in $(redis_cluster_ports); do nodes+=("127.0.0.1:$port"); done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >> "$STACK_DIR/logs/redis-cluster-create.log" 2>&1 \
      || die "redis-cli --cluster create failed; see $STACK_DIR/logs/redis-cluster-create.log"
  fi
  if ! wait_for "redis cluster (3 masters, 3 replicas)" 60 redis_cluster_healthy; then
    redis_cluster_report >&2
    die "the redis cluster did not become healthy; see $STACK_DIR/logs/redis-*.log"
  fi
}

# Each node's view (what redis_cluster_healthy checks), for the error that says it never held.
redis_cluster_report() {
  local port
  for port in $(redis_cluster_ports); do
    echo "--- 127.0.0.1:$port"
    redis-cli -h 127.0.0.1 -p "$port" cluster info 2>&1 | grep -E '^cluster_(state|slots_ok|slots_pfail|slots_fail|known_nodes|current_epoch)' | tr -d '\r'
    redis-cli -h 127.0.0.1 -p "$port" cluster nodes 2>&1 | cut -d' ' -f1-4,8- | cut -c1-160
  done
}

redis_cluster_formed() {
  redis-cli -h 127.0.0.1 -p "$REDIS_PORT" cluster info 2>/dev/null | grep -q '^cluster_slots_assigned:16384'
}

# Every node sees a complete cluster of six with every slot served.
redis_cluster_healthy() {
  local port info
  for port in $(redis_cluster_ports); do
    info="$(redis-cli -h 127.0.0.1 -p "$port" cluster info 2>/dev/null)" || return 1
    grep -q '^cluster_state:ok' <<< "$info" || return 1
    grep -q '^cluster_slots_ok:16384' <<< "$info" || return 1
    grep -q "^cluster_known_nodes:$REDIS_CLUSTER_NODES" <<< "$info" || return 1
    # Each master has its replica (CLUSTER REPLICATE reaches every node's view a little later).
    [ "$(redis-cli -h 127.0.0.1 -p "$port" cluster nodes 2>/dev/null | grep -cE '[ ,]slave ')" = $(( REDIS_CLUSTER_NODES / 2 )) ] || return 1
  done
}

# Whatever this stack runs (standalone and cluster pids alike), so `down` never leaves one behind.
redis_stop() {
  stop_daemon redis 30
  redis_stop_cluster_nodes
}

redis_status() {
  if is_running redis; then echo "redis: running (pid $(running_pid redis)) on 127.0.0.1:$REDIS_PORT"; fi
  local port up=0 any=0
  for port in $(redis_cluster_ports); do
    [ -e "$(pid_file "redis-$port")" ] || continue
    any=1
    if is_running "redis-$port"; then up=$(( up + 1 )); fi
  done
  if [ "$any" = 1 ]; then
    echo "redis: cluster, $up of $REDIS_CLUSTER_NODES nodes running on 127.0.0.1:$REDIS_PORT-$(( REDIS_PORT + REDIS_CLUSTER_NODES - 1 ))"
  elif ! is_running redis; then
    echo "redis: stopped"
  fi
}

redis_env() {
  echo "REDIS_MODE=$REDIS_MODE"
  if [ "$REDIS_MODE" = cluster ]; then
    local seeds port
    seeds="$(for port in $(redis_cluster_ports); do printf '127.0.0.1:%s,' "$port"; done)"
    echo "REDIS_URL=redis://${seeds%,}"
  else
    echo "REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
  fi
}
