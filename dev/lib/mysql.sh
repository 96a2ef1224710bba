#!/usr/bin/env bash
# Oracle MySQL 9.7 (LTS) from Debian's `sid` debs, unpacked into a private folder and started through that
# folder's own loader: its libraries (libc, libstdc++, ICU...) are newer than the host's, so nothing is
# installed system-wide. Same shape as mariadb.sh: private datadir, ROW binlog with full metadata, GTIDs.
MYSQL_SERIES="${MYSQL_SERIES:-9.7}"
MYSQL_DIR() { echo "$STACK_DIR/mysql"; }
MYSQL_SOCKET() { echo "$STACK_DIR/run/mysql.sock"; }
MYSQL_APT_DIR() { echo "$CACHE_DIR/mysql-apt"; }

# The newest complete unpacked cache of the series, e.g. ~/.cache/payment-pipeline/mysql-9.7.4-2.
mysql_root() { newest_cache_root mysql-"$MYSQL_SERIES"; }

# apt-get / apt-cache (first argument) with MySQL's private sid state (sid_apt in common.sh).
mysql_apt() { sid_apt "$(MYSQL_APT_DIR)" "$@"; }

# Fetches the current sid build: re-resolves the dependency closure of the two roots every time (sid
# changes daily; no other package name is pinned), downloads the debs and unpacks them into a new
# versioned folder, marked complete only at the end.
mysql_fetch() {
  local a; a="$(MYSQL_APT_DIR)"
  log "resolving MySQL $MYSQL_SERIES from Debian sid (private apt state in $a)"
  sid_apt_update "$a" || return 1
  local version
  version="$(mysql_apt apt-cache show mysql-server-core 2>/dev/null | sed -n 's/^Version: //p' | head -1)"
  case "$version" in
    "$MYSQL_SERIES".*) ;;
    *) log "sid serves mysql-server-core '${version:-none}', not $MYSQL_SERIES.x"; return 1 ;;
  esac
  local target="$CACHE_DIR/mysql-$version"
  if [ -f "$target/.complete" ]; then log "MySQL $version is already cached in $target"; return 0; fi
  local pkgs
  pkgs="$(mysql_apt apt-get -s install --no-install-recommends mysql-server-core mysql-client-core 2>/dev/null \
    | awk '$1 == "Inst" { print $2 }')"
  [ -n "$pkgs" ] || { log "could not resolve the dependency closure of mysql-server-core"; return 1; }
  local tmp="$target.partial"
  rm -rf "$tmp" && mkdir -p "$tmp/debs" "$tmp/root"
  # shellcheck disable=SC2086 # one package name per word
  (cd "$tmp/debs" && mysql_apt apt-get download $pkgs) >"$tmp/download.log" 2>&1 \
    || { log "downloading the MySQL debs failed; see $tmp/download.log"; return 1; }
  local deb
  for deb in "$tmp"/debs/*.deb; do dpkg-deb -x "$deb" "$tmp/root" || return 1; done
  echo "$pkgs" > "$tmp/packages.txt"
  rm -rf "$target" && mv "$tmp" "$target" && touch "$target/.complete"
  log "MySQL $version unpacked into $target ($(echo "$pkgs" | wc -l) packages)"
}

# Offline once filled: a cached build is used as is; MYSQL_REFRESH=1 fetches sid's current one (and
# keeps the old cache when that fails).
mysql_install() {
  if [ -n "$(mysql_root)" ] && [ "${MYSQL_REFRESH:-0}" != 1 ]; then return 0; fi
  if ! mysql_fetch; then
    [ -n "$(mysql_root)" ] || die "could not fetch MySQL $MYSQL_SERIES (see the log lines above)"
    log "keeping the cached MySQL in $(mysql_root)"
  fi
}

# Runs one of the cache's programs through the cache's own dynamic loader and libraries.
mysql_exec() {
  local root; root="$(mysql_root)" || die "MySQL $MYSQL_SERIES is not installed; run: DB_FLAVOR=mysql dev/stack.sh install"
  local prog="$1"; shift
  "$root/usr/lib64/ld-linux-x86-64.so.2" --library-path "$root/usr/lib/x86_64-linux-gnu" "$root$prog" "$@"
}

# Credentials are generated once per stack and kept beside its data.
mysql_credentials() { db_credentials "$(MYSQL_DIR)"; }

mysql_server_id() { db_server_id; }

# Every path is explicit and --no-defaults comes first: otherwise mysqld also reads the host's my.cnf
# (on these machines MariaDB's), and its compiled-in paths point at a system install that is not there.
mysql_server_args() {
  local dir root; dir="$(MYSQL_DIR)"; root="$(mysql_root)"
  local args=(
    --no-defaults
    --basedir="$root/usr"
    --lc-messages-dir="$root/usr/share/mysql"
    --character-sets-dir="$root/usr/share/mysql/charsets"
    --plugin-dir="$root/usr/lib/mysql/plugin"
    --datadir="$dir/data"
    --tmpdir="$dir/tmp"
    --secure-file-priv="$dir/files"
    --socket="$(MYSQL_SOCKET)"
    --pid-file="$STACK_DIR/run/mysqld.internal.pid"
    --log-error="$STACK_DIR/logs/mysql.err"
  )
  if [ "$(id -u)" = 0 ]; then args+=(--user=root); fi
  args+=(
    --bind-address=127.0.0.1
    --port="$MYSQL_PORT"
    --mysqlx=OFF # the X protocol would listen on 33060 by default
    --skip-name-resolve
    --plugin-load-add=auth_socket.so # the script's own SQL logs in as root over the socket, no password
    --character-set-server=utf8mb4
    --collation-server=utf8mb4_unicode_ci
    --default-time-zone=+00:00
    --sql-mode=STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION
    --max-connections=600
    # Idle RSS: ~540 MB with the defaults, about half with these two.
    --performance-schema=OFF
    --innodb-buffer-pool-size=64M
    --innodb-redo-log-capacity=128M
    --innodb-flush-log-at-trx-commit=1
    # Change data capture: every committed row change, with column names, in the binary log; GTIDs.
    --server-id="$(mysql_server_id)"
    --log-bin="$dir/binlog/mysql-bin"
    --binlog-format=ROW
    --binlog-row-image=FULL
    --binlog-row-metadata=FULL
    --binlog-transaction-compression=OFF # zongji reads plain row events only
    --sync-binlog=1
    --gtid-mode=ON
    --enforce-gtid-consistency=ON
    --log-replica-updates=ON
    --binlog-expire-logs-seconds=604800
    --max-binlog-size=256M
  )
  printf '%s\n' "${args[@]}"
}

mysql_client() {
  mysql_exec /usr/bin/mysql --no-defaults --socket="$(MYSQL_SOCKET)" -uroot "$@"
}

mysql_start() {
  if is_running mysql; then log "mysql is already running (pid $(running_pid mysql))"; return 0; fi
  if have mariadb_stop && is_running mariadb; then
    log "this stack's MariaDB is running; stopping it for MySQL (its data stays in $(MARIADB_DIR))"
    mariadb_stop
  fi
  require_free_port mysql "$MYSQL_PORT" MYSQL_PORT
  mysql_install
  local dir; dir="$(MYSQL_DIR)"
  mkdir -p "$dir/binlog" "$dir/tmp" "$dir/files" "$STACK_DIR/run" "$STACK_DIR/logs"
  chmod 700 "$dir/tmp" "$dir/files"
  local args; mapfile -t args < <(mysql_server_args)
  if [ ! -d "$dir/data/mysql" ]; then
    log "initialising MySQL datadir"
    rm -rf "$dir/data"
    # Root gets an empty password here and socket-only authentication in mysql_bootstrap_users.
    mysql_exec /usr/sbin/mysqld "${args[@]}" --initialize-insecure --log-error="$STACK_DIR/logs/mysql-install.log" \
      >>"$STACK_DIR/logs/mysql-install.log" 2>&1 \
      || die "mysqld --initialize-insecure failed; see $STACK_DIR/logs/mysql-install.log"
  fi
  local root; root="$(mysql_root)"
  start_daemon mysql "$STACK_DIR/logs/mysql.out" "$root/usr/lib64/ld-linux-x86-64.so.2" \
    --library-path "$root/usr/lib/x86_64-linux-gnu" "$root/usr/sbin/mysqld" "${args[@]}"
  wait_for "mysql on 127.0.0.1:$MYSQL_PORT" 90 mysql_ready \
    || die "mysql did not start; see $STACK_DIR/logs/mysql.err"
  mysql_bootstrap_users
}

# Ready once root can log in over the socket: without a password right after initialisation, as the
# matching OS user (auth_socket) after the bootstrap.
mysql_ready() { is_running mysql && mysql_client -e 'SELECT 1'; }

# The same accounts as MariaDB's, with caching_sha2_password (9.x no longer loads mysql_native_password).
# Over TCP its first login per account needs TLS (the server generates certificates at initialisation)
# or RSA key exchange; mysql2 asks the server for its public key by itself. Least privilege as in
# mariadb.sh: DML for the api on payments%, replication rights plus SELECT on the captured database for
# the producer. Re-applied at every start.
mysql_bootstrap_users() {
  mysql_credentials
  mysql_client <<SQL
ALTER USER 'root'@'localhost' IDENTIFIED WITH auth_socket AS '$(id -un)';
CREATE USER IF NOT EXISTS 'payments_admin'@'127.0.0.1' IDENTIFIED WITH caching_sha2_password BY '$MYSQL_ADMIN_PASSWORD';
ALTER USER 'payments_admin'@'127.0.0.1' IDENTIFIED WITH caching_sha2_password BY '$MYSQL_ADMIN_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO 'payments_admin'@'127.0.0.1' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS 'payments_app'@'127.0.0.1' IDENTIFIED WITH caching_sha2_password BY '$MYSQL_APP_PASSWORD';
ALTER USER 'payments_app'@'127.0.0.1' IDENTIFIED WITH caching_sha2_password BY '$MYSQL_APP_PASSWORD';
GRANT SELECT, INSERT, UPDATE, DELETE ON \`payments%\`.* TO 'payments_app'@'127.0.0.1';
CREATE USER IF NOT EXISTS 'payments_cdc'@'127.0.0.1' IDENTIFIED WITH caching_sha2_password BY '$MYSQL_CDC_PASSWORD';
ALTER USER 'payments_cdc'@'127.0.0.1' IDENTIFIED WITH caching_sha2_password BY '$MYSQL_CDC_PASSWORD';
GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'payments_cdc'@'127.0.0.1';
CREATE DATABASE IF NOT EXISTS payments CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
GRANT SELECT ON \`payments\`.* TO 'payments_cdc'@'127.0.0.1';
SQL
}

mysql_stop() { stop_daemon mysql 60; }

mysql_status() {
  if is_running mysql; then echo "mysql: running (pid $(running_pid mysql)) on 127.0.0.1:$MYSQL_PORT"; else echo "mysql: stopped"; fi
}

mysql_env() {
  mysql_credentials
  db_env mysql
}
