#!/usr/bin/env bash
# MariaDB from Debian packages with a private datadir, ROW binlog with full metadata and strict GTIDs.
MARIADB_DIR() { echo "$STACK_DIR/mariadb"; }
MARIADB_SOCKET() { echo "$STACK_DIR/run/mariadb.sock"; }

mariadb_install() {
  apt_install mariadb-server mariadb-client
}

# Credentials are generated once per stack and kept beside its data.
mariadb_credentials() { db_credentials "$(MARIADB_DIR)"; }

mariadb_server_id() { db_server_id; }

# TLS profile (opt-in, MYSQL_TLS=on): the server takes TLS only (require_secure_transport; the local
# socket the scripts use stays allowed), with a certificate from the stack's own CA (dev/lib/tls.sh);
# the env file's URLs then carry ?ssl-ca=<that CA> (verify-full: runtime/core/db/tls.ts).
# While the server runs, the profile it was started with.
_mariadb_tls() {
  local f="$STACK_DIR/run/mariadb.tls"
  if is_running mariadb && [ -f "$f" ]; then [ "$(cat "$f")" = on ]; else [ "${MYSQL_TLS:-off}" = on ]; fi
}

_mariadb_tls_config() {
  _mariadb_tls || return 0
  local tls; tls="$(MARIADB_DIR)/tls"
  tls_server_cert "$tls" mariadb
  cat <<CNF
ssl_ca=$tls/ca.crt
ssl_cert=$tls/mariadb.crt
ssl_key=$tls/mariadb.key
require_secure_transport=ON
CNF
}

mariadb_write_config() {
  local dir; dir="$(MARIADB_DIR)"
  local tls_config; tls_config="$(_mariadb_tls_config)" || exit 1
  mkdir -p "$dir/data" "$dir/binlog" "$dir/tmp" "$STACK_DIR/run" "$STACK_DIR/logs"
  cat > "$dir/my.cnf" <<CNF
[mariadbd]
user=root
datadir=$dir/data
tmpdir=$dir/tmp
socket=$(MARIADB_SOCKET)
pid-file=$STACK_DIR/run/mariadbd.internal.pid
bind-address=127.0.0.1
port=$MYSQL_PORT
skip-name-resolve
log-error=$STACK_DIR/logs/mariadb.err
character-set-server=utf8mb4
collation-server=utf8mb4_unicode_ci
default-time-zone=+00:00
sql-mode=STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION
max_connections=600
innodb_buffer_pool_size=256M
innodb_log_file_size=128M
innodb_flush_log_at_trx_commit=1
# Change data capture: every committed row change, with column names, in the binary log.
server_id=$(mariadb_server_id)
log_bin=$dir/binlog/mariadb-bin
binlog_format=ROW
binlog_row_image=FULL
binlog_row_metadata=FULL
sync_binlog=1
gtid_strict_mode=1
log_slave_updates=1
binlog_expire_logs_seconds=604800
max_binlog_size=256M
$tls_config
CNF
}

mariadb_client() {
  mariadb --no-defaults --socket="$(MARIADB_SOCKET)" -uroot "$@"
}

mariadb_start() {
  if is_running mariadb; then log "mariadb is already running (pid $(running_pid mariadb))"; return 0; fi
  if declare -F mysql_stop >/dev/null && is_running mysql; then
    log "this stack's MySQL is running; stopping it for MariaDB (its data stays in $(MYSQL_DIR))"
    mysql_stop
  fi
  require_free_port mariadb "$MYSQL_PORT" MYSQL_PORT
  case "${MYSQL_TLS:-off}" in on|off) ;; *) die "MYSQL_TLS must be on or off, got '$MYSQL_TLS'" ;; esac
  mkdir -p "$STACK_DIR/run"; rm -f "$STACK_DIR/run/mariadb.tls"
  mariadb_write_config
  local dir; dir="$(MARIADB_DIR)"
  if [ ! -d "$dir/data/mysql" ]; then
    log "initialising MariaDB datadir"
    mariadb-install-db --defaults-file="$dir/my.cnf" --auth-root-authentication-method=socket \
      --skip-test-db >"$STACK_DIR/logs/mariadb-install.log" 2>&1 \
      || die "mariadb-install-db failed; see $STACK_DIR/logs/mariadb-install.log"
  fi
  start_daemon mariadb "$STACK_DIR/logs/mariadb.out" mariadbd --defaults-file="$dir/my.cnf"
  echo "${MYSQL_TLS:-off}" > "$STACK_DIR/run/mariadb.tls"
  wait_for "mariadb on 127.0.0.1:$MYSQL_PORT" 60 mariadb_client -e 'SELECT 1' \
    || die "mariadb did not start; see $STACK_DIR/logs/mariadb.err"
  mariadb_bootstrap_users
}

# Least privilege: the api gets DML on the payments databases only; the producer gets the replication
# rights (global by nature) and SELECT on the captured database only (snapshots, the binlog reader's
# column lookups); the admin runs migrations and test set-up, and grants the producer SELECT on any
# other database it should capture (the test suites do, per database). Re-applied whenever the stack
# starts MariaDB, so a stack bootstrapped with the older SELECT ON *.* is narrowed too.
mariadb_bootstrap_users() {
  mariadb_credentials
  mariadb_client <<SQL
CREATE USER IF NOT EXISTS 'payments_admin'@'127.0.0.1' IDENTIFIED BY '$MYSQL_ADMIN_PASSWORD';
ALTER USER 'payments_admin'@'127.0.0.1' IDENTIFIED BY '$MYSQL_ADMIN_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO 'payments_admin'@'127.0.0.1' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS 'payments_app'@'127.0.0.1' IDENTIFIED BY '$MYSQL_APP_PASSWORD';
ALTER USER 'payments_app'@'127.0.0.1' IDENTIFIED BY '$MYSQL_APP_PASSWORD';
GRANT SELECT, INSERT, UPDATE, DELETE ON \`payments%\`.* TO 'payments_app'@'127.0.0.1';
CREATE USER IF NOT EXISTS 'payments_cdc'@'127.0.0.1' IDENTIFIED BY '$MYSQL_CDC_PASSWORD';
ALTER USER 'payments_cdc'@'127.0.0.1' IDENTIFIED BY '$MYSQL_CDC_PASSWORD';
REVOKE SELECT ON *.* FROM 'payments_cdc'@'127.0.0.1';
GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'payments_cdc'@'127.0.0.1';
CREATE DATABASE IF NOT EXISTS payments CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
GRANT SELECT ON \`payments\`.* TO 'payments_cdc'@'127.0.0.1';
SQL
  # The TLS profile: the accounts themselves require TLS too (REQUIRE SSL), as on a managed service.
  if _mariadb_tls; then
    mariadb_client -e "ALTER USER 'payments_admin'@'127.0.0.1' REQUIRE SSL; ALTER USER 'payments_app'@'127.0.0.1' REQUIRE SSL; ALTER USER 'payments_cdc'@'127.0.0.1' REQUIRE SSL;"
  fi
}

mariadb_stop() { stop_daemon mariadb 60; }

mariadb_status() {
  if is_running mariadb; then echo "mariadb: running (pid $(running_pid mariadb)) on 127.0.0.1:$MYSQL_PORT$(_mariadb_tls && echo ' (TLS only)')"; else echo "mariadb: stopped"; fi
}

mariadb_env() {
  mariadb_credentials
  if _mariadb_tls; then
    # One parameter (ssl-mode defaults to VERIFY_IDENTITY): no '&' in the sh-sourced env file.
    db_env mariadb "?ssl-ca=$(MARIADB_DIR)/tls/ca.crt"
    echo "MYSQL_TLS_CA_FILE=$(MARIADB_DIR)/tls/ca.crt"
  else
    db_env mariadb
  fi
}
