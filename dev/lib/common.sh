#!/usr/bin/env bash
# Shared helpers for the local stack scripts. Sourced, never executed.
# Every process we start gets a pid file under $STACK_DIR/run; we stop only those pids.

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export ROOT_DIR
# Caches that survive between checkouts on the same machine (Maven repo, built binaries).
export CACHE_DIR="${PAYMENTS_CACHE_DIR:-$HOME/.cache/payment-pipeline}"

log() { printf '[%s] %s\n' "${STACK_NAME:-stack}" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "${STACK_NAME:-stack}" "$*" >&2; exit 1; }

pid_file() { echo "$STACK_DIR/run/$1.pid"; }

# Prints the pid recorded for NAME if that process is still alive.
running_pid() {
  local f; f="$(pid_file "$1")"
  [ -f "$f" ] || return 1
  local pid; pid="$(cat "$f" 2>/dev/null)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

is_running() { running_pid "$1" >/dev/null; }

# True when something listens on 127.0.0.1:PORT.
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Refuse to start when a port is held by a process this stack did not start.
require_free_port() {
  local name="$1" port="$2"
  if port_in_use "$port"; then
    die "port $port (for $name) is already in use by a process this stack did not start; stop it or choose another port (e.g. ${3:-PORT}=NNNN)"
  fi
}

# wait_for DESCRIPTION TIMEOUT_SECONDS COMMAND...: poll until COMMAND succeeds.
wait_for() {
  local what="$1" timeout="$2"; shift 2
  local deadline=$(( $(date +%s) + timeout ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      return 1
    fi
    sleep 0.2
  done
  log "$what is ready"
}

# start_daemon NAME LOGFILE COMMAND...: start COMMAND in the background in its own session, record its pid.
start_daemon() {
  local name="$1" logfile="$2"; shift 2
  mkdir -p "$STACK_DIR/run" "$(dirname "$logfile")"
  # Launched from a subshell, which never has job control: the job stays in our process group, so
  # setsid does not fork and $! is the daemon itself, also when sourced from an interactive shell.
  ( setsid "$@" >>"$logfile" 2>&1 < /dev/null & echo $! > "$(pid_file "$name")" )
}

# start_and_wait NAME LOGFILE TIMEOUT READY... -- COMMAND...: start COMMAND as daemon NAME
# (start_daemon) and poll the command READY... until it succeeds. If the daemon exits first, or
# TIMEOUT seconds pass (then it is stopped), the log's tail goes to stderr and the script dies naming
# the log.
start_and_wait() {
  local name="$1" logfile="$2" timeout="$3"; shift 3
  local -a ready=()
  while [ "$#" -gt 0 ] && [ "$1" != -- ]; do ready+=("$1"); shift; done
  [ "$#" -gt 1 ] && [ "${#ready[@]}" -gt 0 ] || die "usage: start_and_wait NAME LOGFILE TIMEOUT READY... -- COMMAND..."
  shift
  start_daemon "$name" "$logfile" "$@"
  local deadline=$(( $(date +%s) + timeout ))
  until "${ready[@]}" >/dev/null 2>&1; do
    if ! is_running "$name"; then
      rm -f "$(pid_file "$name")"
      tail -n 20 "$logfile" >&2 || true
      die "$name exited during startup; see $logfile"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      tail -n 20 "$logfile" >&2 || true
      stop_daemon "$name" 30
      die "$name did not become ready within ${timeout}s (stopped it); see $logfile"
    fi
    sleep 0.2
  done
  log "$name is ready"
}

# stop_daemon NAME [TIMEOUT]: SIGTERM the recorded pid, wait, then SIGKILL. Only our own pid.
stop_daemon() {
  local name="$1" timeout="${2:-30}" pid
  if ! pid="$(running_pid "$name")"; then
    rm -f "$(pid_file "$name")"
    return 0
  fi
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$(( $(date +%s) + timeout ))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "$name did not stop in ${timeout}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  rm -f "$(pid_file "$name")"
}

# The Go binary the builds use (dev/cluster.sh, dev/lib/stripe.sh): $GO, go on PATH, or the usual install.
find_go() {
  if [ -n "${GO:-}" ]; then echo "$GO"; return; fi
  command -v go 2>/dev/null && return
  [ -x /usr/local/go/bin/go ] && { echo /usr/local/go/bin/go; return; }
  die "Go is not installed (looked for \$GO, go in PATH and /usr/local/go/bin/go)"
}

# Install Debian packages that are missing, without letting their maintainer scripts start system services.
apt_install() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  local own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
  fi
  local stamp=/var/lib/apt/periodic/payment-pipeline-update
  if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +720 2>/dev/null)" ]; then
    apt-get update -qq && mkdir -p "$(dirname "$stamp")" && touch "$stamp"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  local rc=$?
  [ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  return $rc
}

# The database flavors (dev/lib/mariadb.sh, dev/lib/mysql.sh) share their accounts and URLs.
# db_credentials DIR: the stack's generated passwords (once, beside the data in DIR), sourced.
db_credentials() {
  local f="$1/credentials.env"
  if [ ! -f "$f" ]; then
    mkdir -p "$1"
    {
      echo "MYSQL_ADMIN_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
      echo "MYSQL_APP_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
      echo "MYSQL_CDC_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
    } > "$f"
    chmod 600 "$f"
  fi
  # shellcheck disable=SC1090
  . "$f"
}

# One server id per stack (the dev and test stacks' binlogs never claim the same server).
# DB_SERVER_ID overrides it (a second server replicating from the first needs its own).
db_server_id() {
  if [ -n "${DB_SERVER_ID:-}" ]; then echo "$DB_SERVER_ID"; elif [ "$STACK_NAME" = dev ]; then echo 1; else echo 2; fi
}

# db_env FLAVOR [QUERY]: the stack.env lines of the running database (credentials loaded by the
# caller); QUERY (e.g. the TLS profile's ?ssl-mode=...) goes on every URL.
db_env() {
  echo "DB_FLAVOR=$1"
  echo "MYSQL_URL=mysql://payments_app:$MYSQL_APP_PASSWORD@127.0.0.1:$MYSQL_PORT/payments${2:-}"
  echo "MYSQL_ADMIN_URL=mysql://payments_admin:$MYSQL_ADMIN_PASSWORD@127.0.0.1:$MYSQL_PORT/payments${2:-}"
  echo "MYSQL_CDC_URL=mysql://payments_cdc:$MYSQL_CDC_PASSWORD@127.0.0.1:$MYSQL_PORT/payments${2:-}"
}

# Debian sid packages for what bookworm ships too old (Oracle MySQL, containerd 2.x): fetched with a
# private apt state in DIR and unpacked into the cache, never installed system-wide.
# sid_apt DIR TOOL ARGS...: apt-get / apt-cache with sid's index only, an empty dpkg status (so a
# simulation resolves the whole library closure, not what the host happens to have), its own lists
# and archives.
sid_apt() {
  local a="$1" tool="$2"; shift 2
  "$tool" -q -o Dir::Etc::sourcelist=/dev/null -o Dir::Etc::sourceparts="$a/sources" \
    -o Dir::State::Lists="$a/lists" -o Dir::State::status="$a/status" -o Dir::Cache="$a/cache" \
    -o Dir::Cache::archives="$a/archives" -o Debug::NoLocking=1 -o APT::Sandbox::User=root \
    -o APT::Architectures=amd64 -o Acquire::Languages=none \
    -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false \
    -o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false \
    -o Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false \
    -o Acquire::IndexTargets::deb::CNF::DefaultEnabled=false "$@"
}

# sid_apt_update DIR: (re)creates the private state in DIR and downloads sid's current index.
sid_apt_update() {
  local a="$1"
  mkdir -p "$a/sources" "$a/lists/partial" "$a/cache" "$a/archives/partial"
  : > "$a/status"
  cat > "$a/sources/sid.sources" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  sid_apt "$a" apt-get update >"$a/update.log" 2>&1 || { log "apt-get update for sid failed; see $a/update.log"; return 1; }
}

# newest_cache_root NAME-SERIES: the newest complete unpacked cache of a package series, e.g.
# newest_cache_root mysql-9.7 -> ~/.cache/payment-pipeline/mysql-9.7.4-2/root (nothing when none).
newest_cache_root() {
  local d best=""
  while IFS= read -r d; do
    [ -f "$d/.complete" ] && best="$d"
  done < <(printf '%s\n' "$CACHE_DIR/$1".* | sort -V)
  [ -n "$best" ] && echo "$best/root"
}
