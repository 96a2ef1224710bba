#!/usr/bin/env bash
# Redis from Debian packages. The cache is rebuildable from MySQL, so no persistence; noeviction
# because an evicted version or tombstone key could let an older event resurrect a row.
redis_install() { apt_install redis-server redis-tools; }

redis_start() {
  if is_running redis; then log "redis is already running (pid $(running_pid redis))"; return 0; fi
  require_free_port redis "$REDIS_PORT" REDIS_PORT
  local dir="$STACK_DIR/redis"
  mkdir -p "$dir" "$STACK_DIR/logs"
  cat > "$dir/redis.conf" <<CNF
bind 127.0.0.1
protected-mode yes
port $REDIS_PORT
daemonize no
dir $dir
save ""
appendonly no
maxmemory 2gb
maxmemory-policy noeviction
tcp-backlog 511
maxclients 10000
CNF
  start_daemon redis "$STACK_DIR/logs/redis.log" redis-server "$dir/redis.conf"
  wait_for "redis on 127.0.0.1:$REDIS_PORT" 30 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping \
    || die "redis did not start; see $STACK_DIR/logs/redis.log"
}

redis_stop() { stop_daemon redis 30; }

redis_status() {
  if is_running redis; then echo "redis: running (pid $(running_pid redis)) on 127.0.0.1:$REDIS_PORT"; else echo "redis: stopped"; fi
}

redis_env() { echo "REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"; }
