#!/usr/bin/env bash
# Apache Kafka in KRaft mode (one combined broker+controller node) for the local stack.
# Sourced by the stack script after dev/lib/common.sh and dev/lib/profile.sh; never executed.
#
#   kafka_install   resolve the broker jars from Maven Central into $CACHE_DIR/kafka-<version>/libs (once)
#   kafka_start     write config, format storage once, start the broker, wait until it answers metadata
#   kafka_stop      SIGTERM the recorded pid (clean shutdown), SIGKILL after 60s
#   kafka_status    one line: "kafka: running (pid N) on 127.0.0.1:PORT" or "kafka: stopped"
#   kafka_env       KEY=value lines for the stack env file (KAFKA_BROKERS)
#
# Needs: java (17+), mvn, kcat (installed from Debian when missing).
# Uses: KAFKA_PORT, KAFKA_CONTROLLER_PORT, STACK_DIR (profile.sh), CACHE_DIR (common.sh).
# Optional: KAFKA_HEAP_OPTS (default "-Xms256m -Xmx1g"), KAFKA_JVM_OPTS (extra JVM flags),
#           KAFKA_START_TIMEOUT (seconds, default 90), MAVEN_OPTS (e.g. -Dmaven.repo.local=...).
#
# Broker settings worth knowing:
# - Listeners bind to 127.0.0.1 only: PLAINTEXT on $KAFKA_PORT, CONTROLLER on $KAFKA_CONTROLLER_PORT.
# - auto.create.topics.enable=false: the producer creates its topics explicitly (with the partition
#   count from its configuration), so a mistyped topic name fails loudly instead of silently creating
#   a topic with the wrong layout. Tests create their own topics through the admin API.
# - num.partitions=3 is only the default for create-topic requests that leave the count unset.
# - Single node: every replication factor is 1 and min.insync.replicas=1, so acks=all, idempotent
#   and transactional producers work.
# - Static quorum (controller.quorum.voters), so changing KAFKA_CONTROLLER_PORT later keeps working
#   with already formatted storage.
# State: $STACK_DIR/kafka/{server.properties,log4j2.properties,cluster.id,data/}; log: $STACK_DIR/logs/kafka.log.
#
# Secure profile (opt-in, KAFKA_SECURITY=sasl_ssl): the client listener is SASL_SSL (SCRAM-SHA-512 over
# TLS, a certificate from the stack's own CA: dev/lib/tls.sh) with the standard authorizer (KRaft's
# StandardAuthorizer, nothing allowed without an ACL) and four users made at format time (passwords in
# $STACK_DIR/kafka/credentials.env): admin (super user; the broker's own inter-broker identity),
# producer, consumer and operator, each with only its ACLs (dev/kafka/acls.ts, applied on every start):
#   producer  create/write/describe the topics `<prefix>.*` (change topics and the checkpoint topic),
#             read the checkpoint topic, transactional ids `<prefix>.*`, its checkpoint-reader groups
#   consumer  read/describe `<prefix>.*`, commit its group `<prefix>.consumer`, write its dead letters
#             `<prefix>.dlq` (and nothing else: it cannot forge change events)
#   operator  describe groups and topics `<prefix>.*`, read the checkpoint topic
# Its data is a directory of its own (data-sasl_ssl/): switching the profile starts an empty broker.
# The controller listener stays plaintext on loopback (KRaft's controllers cannot take SCRAM); its
# anonymous principal is a super user so the node can talk to itself, and clients never see it.

KAFKA_POM="$ROOT_DIR/dev/kafka/pom.xml"

# plaintext (default) or sasl_ssl; while a broker runs, the profile it was started with.
_kafka_mode() {
  local f="$STACK_DIR/run/kafka.security"
  if is_running kafka && [ -f "$f" ]; then cat "$f"; else echo "${KAFKA_SECURITY:-plaintext}"; fi
}
_kafka_secure() { [ "$(_kafka_mode)" = sasl_ssl ]; }
_kafka_data() { if _kafka_secure; then echo "$STACK_DIR/kafka/data-sasl_ssl"; else echo "$STACK_DIR/kafka/data"; fi; }
_kafka_tls_dir() { echo "$STACK_DIR/kafka/tls"; }
KAFKA_SCRAM_USERS=(admin producer consumer operator)

# The secure profile's passwords (generated once, beside the data), sourced.
_kafka_credentials() {
  local f="$STACK_DIR/kafka/credentials.env" u
  if [ ! -f "$f" ]; then
    mkdir -p "$STACK_DIR/kafka"
    for u in "${KAFKA_SCRAM_USERS[@]}"; do
      echo "KAFKA_${u^^}_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
    done > "$f"
    chmod 600 "$f"
  fi
  # shellcheck disable=SC1090
  . "$f"
}

# COMMAND... with the admin user's connection settings in its environment.
_kafka_as_admin() {
  _kafka_credentials
  KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT" KAFKA_SECURITY_PROTOCOL=SASL_SSL KAFKA_SASL_USERNAME=admin \
    KAFKA_SASL_PASSWORD="$KAFKA_ADMIN_PASSWORD" KAFKA_TLS_CA_FILE="$(_kafka_tls_dir)/ca.crt" "$@"
}

# The broker version is pinned once, in dev/kafka/pom.xml.
kafka_version() {
  sed -n 's:.*<kafka\.version>\([^<]*\)</kafka\.version>.*:\1:p;T;q' "$KAFKA_POM"
}

kafka_home() { echo "$CACHE_DIR/kafka-$(kafka_version)"; }
kafka_libs() { echo "$(kafka_home)/libs"; }

# The stamp holds the pom's checksum: editing the pom (e.g. a new version of a dependency) reinstalls.
_kafka_pom_sum() { sha256sum "$KAFKA_POM" | cut -d' ' -f1; }
_kafka_installed() {
  local stamp; stamp="$(kafka_home)/.installed"
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(_kafka_pom_sum)" ] && [ -f "$(kafka_libs)/kafka_2.13-$(kafka_version).jar" ]
}

_kafka_require_java() {
  command -v java >/dev/null 2>&1 || die "java not found on PATH; Kafka $(kafka_version) needs Java 17+ (Debian: apt-get install openjdk-17-jre-headless)"
  local v
  v="$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\)[^"]*".*/\1/p' | head -n1)"
  if [ -n "$v" ] && [ "$v" -lt 17 ] 2>/dev/null; then
    die "java on PATH is version $v; Kafka $(kafka_version) needs Java 17+"
  fi
}

kafka_install() {
  [ -f "$KAFKA_POM" ] || die "missing $KAFKA_POM"
  local version; version="$(kafka_version)"
  [ -n "$version" ] || die "cannot read <kafka.version> from $KAFKA_POM"
  _kafka_require_java
  command -v kcat >/dev/null 2>&1 || apt_install kcat || die "could not install kcat (Debian package 'kcat'), needed to check that Kafka answers"
  _kafka_installed && return 0
  command -v mvn >/dev/null 2>&1 || die "mvn not found on PATH; Maven resolves the Kafka jars (Debian: apt-get install maven)"

  local home libs; home="$(kafka_home)"; libs="$(kafka_libs)"
  mkdir -p "$home"
  (
    # One installer at a time per version (the dev and test stacks may start together).
    flock -w 600 9 || die "timed out waiting for another Kafka install ($home/.lock)"
    _kafka_installed && exit 0
    log "resolving Kafka $version jars with Maven into $libs (first run downloads ~45 MB)"
    local tmp="$home/libs.tmp.$$"
    rm -rf "$tmp"
    if ! mvn -q -B -Dstyle.color=never -f "$KAFKA_POM" dependency:copy-dependencies \
        -DoutputDirectory="$tmp" -DincludeScope=runtime >"$home/mvn.log" 2>&1; then
      tail -n 30 "$home/mvn.log" >&2
      rm -rf "$tmp"
      die "Maven could not resolve the Kafka jars (is Maven Central reachable?); full output in $home/mvn.log"
    fi
    [ -f "$tmp/kafka_2.13-$version.jar" ] || { rm -rf "$tmp"; die "Maven finished but kafka_2.13-$version.jar is missing in $tmp"; }
    rm -rf "$libs" && mv "$tmp" "$libs"
    _kafka_pom_sum > "$home/.installed"
    log "Kafka $version installed ($(find "$libs" -name '*.jar' | wc -l) jars)"
  ) 9>"$home/.lock" || exit 1
}

# The listeners of the running profile.
_kafka_listener_config() {
  if ! _kafka_secure; then
    cat <<EOF
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
EOF
    return
  fi
  local tls; tls="$(_kafka_tls_dir)"
  tls_server_cert "$tls" broker
  # Kafka's PEM key store: the private key and its certificate in one file.
  cat "$tls/broker.key" "$tls/broker.crt" > "$tls/broker.pem" && chmod 600 "$tls/broker.pem"
  _kafka_credentials
  cat <<EOF
listeners=SASL_SSL://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=SASL_SSL://127.0.0.1:$KAFKA_PORT
inter.broker.listener.name=SASL_SSL
controller.listener.names=CONTROLLER
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$KAFKA_ADMIN_PASSWORD";
ssl.keystore.type=PEM
ssl.keystore.location=$tls/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$tls/ca.crt
ssl.client.auth=none
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:ANONYMOUS
EOF
}

_kafka_write_config() {
  local dir="$STACK_DIR/kafka" data; data="$(_kafka_data)"
  mkdir -p "$data" "$STACK_DIR/logs"
  local listeners; listeners="$(_kafka_listener_config)" || exit 1
  cat > "$dir/server.properties" <<EOF
# Generated by dev/lib/kafka.sh on every start; edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
$listeners
log.dirs=$data

# Topics are created explicitly (see dev/lib/kafka.sh).
auto.create.topics.enable=false
delete.topic.enable=true
num.partitions=3
default.replication.factor=1
min.insync.replicas=1

# Internal topics on one node.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0

# Sized for a small shared machine.
num.network.threads=3
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=168
log.segment.bytes=268435456
EOF
  cat > "$dir/log4j2.properties" <<'EOF'
# Broker logs go to stdout, which the stack redirects to $STACK_DIR/logs/kafka.log.
status = warn
name = kafka
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = WARN
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.zstd.name = com.github.luben
logger.zstd.level = WARN
EOF
}

_kafka_java_opts() {
  # shellcheck disable=SC2086
  printf '%s\n' ${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g} \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dlog4j2.shutdownHookEnabled=false \
    "-Dlog4j2.configurationFile=$STACK_DIR/kafka/log4j2.properties" \
    "-Dkafka.logs.dir=$STACK_DIR/logs" \
    ${KAFKA_JVM_OPTS:-}
}

# Format the metadata/log directory once, with a cluster id kept in $STACK_DIR/kafka/cluster.id.
_kafka_format_once() {
  local dir="$STACK_DIR/kafka" meta cid
  meta="$(_kafka_data)/meta.properties"
  local -a opts; mapfile -t opts < <(_kafka_java_opts)
  if [ -f "$meta" ]; then
    # Already formatted: the data directory is the truth; keep cluster.id in line with it.
    cid="$(sed -n 's/^cluster\.id=//p' "$meta")"
    [ -n "$cid" ] && [ "$(cat "$dir/cluster.id" 2>/dev/null)" != "$cid" ] && echo "$cid" > "$dir/cluster.id"
    return 0
  fi
  if [ -s "$dir/cluster.id" ]; then
    cid="$(cat "$dir/cluster.id")"
  else
    cid="$(java -cp "$(kafka_libs)/*" "${opts[@]}" kafka.tools.StorageTool random-uuid 2>>"$STACK_DIR/logs/kafka.log" | tail -n1)"
    [ -n "$cid" ] || die "could not generate a Kafka cluster id (see $STACK_DIR/logs/kafka.log)"
    echo "$cid" > "$dir/cluster.id"
  fi
  log "formatting Kafka storage in $(_kafka_data) (cluster id $cid)"
  # The secure profile's SCRAM users exist from the first start (KRaft stores them in its metadata).
  local -a scram=()
  if _kafka_secure; then
    _kafka_credentials
    local u pw
    for u in "${KAFKA_SCRAM_USERS[@]}"; do
      pw="KAFKA_${u^^}_PASSWORD"
      scram+=(--add-scram "SCRAM-SHA-512=[name=\"$u\",password=\"${!pw}\"]")
    done
  fi
  java -cp "$(kafka_libs)/*" "${opts[@]}" kafka.tools.StorageTool format \
    --cluster-id "$cid" --config "$dir/server.properties" "${scram[@]}" >>"$STACK_DIR/logs/kafka.log" 2>&1 \
    || die "formatting Kafka storage failed; see $STACK_DIR/logs/kafka.log"
}

# True once the broker answers a metadata request and lists itself.
kafka_ready() {
  port_in_use "$KAFKA_PORT" || return 1
  if _kafka_secure; then _kafka_as_admin node "$ROOT_DIR/dev/kafka/probe.ts"; return; fi
  local meta
  meta="$(kcat -b "127.0.0.1:$KAFKA_PORT" -L -m 3 -q 2>/dev/null)" || return 1
  [[ "$meta" == *"broker 1 at 127.0.0.1:$KAFKA_PORT"* ]]
}

kafka_start() {
  if is_running kafka; then
    log "kafka is already running (pid $(running_pid kafka)) on 127.0.0.1:$KAFKA_PORT"
    return 0
  fi
  _kafka_installed || kafka_install
  command -v kcat >/dev/null 2>&1 || kafka_install
  require_free_port kafka "$KAFKA_PORT" KAFKA_PORT
  require_free_port kafka-controller "$KAFKA_CONTROLLER_PORT" KAFKA_CONTROLLER_PORT
  case "${KAFKA_SECURITY:-plaintext}" in plaintext|sasl_ssl) ;; *) die "KAFKA_SECURITY must be plaintext or sasl_ssl, got '$KAFKA_SECURITY'" ;; esac
  mkdir -p "$STACK_DIR/run"; rm -f "$STACK_DIR/run/kafka.security"
  _kafka_write_config
  _kafka_format_once

  local logfile="$STACK_DIR/logs/kafka.log"
  local -a opts; mapfile -t opts < <(_kafka_java_opts)
  log "starting Kafka $(kafka_version) on 127.0.0.1:$KAFKA_PORT (controller 127.0.0.1:$KAFKA_CONTROLLER_PORT), log $logfile"
  # Written before it is ready: kafka_ready reads it to choose the probe.
  echo "${KAFKA_SECURITY:-plaintext}" > "$STACK_DIR/run/kafka.security"
  start_and_wait kafka "$logfile" "${KAFKA_START_TIMEOUT:-90}" kafka_ready -- \
    java "${opts[@]}" -cp "$(kafka_libs)/*" kafka.Kafka "$STACK_DIR/kafka/server.properties"
  if _kafka_secure; then _kafka_apply_acls || { stop_daemon kafka 30; die "could not apply the Kafka ACLs (see above)"; }; fi
  log "kafka is ready on 127.0.0.1:$KAFKA_PORT (pid $(running_pid kafka)$(_kafka_secure && echo ', SASL_SSL'))"
}

# The producer, consumer and operator users' ACLs for the stack's topic prefix (idempotent).
_kafka_apply_acls() {
  KAFKA_ACL_PREFIX="${KAFKA_ACL_PREFIX:-$(stack_topic_prefix)}" _kafka_as_admin node "$ROOT_DIR/dev/kafka/acls.ts" >&2
}

kafka_stop() {
  stop_daemon kafka 60
}

kafka_status() {
  local pid
  if pid="$(running_pid kafka)"; then
    echo "kafka: running (pid $pid) on 127.0.0.1:$KAFKA_PORT$(_kafka_secure && echo ' (SASL_SSL)')"
  else
    echo "kafka: stopped"
  fi
}

kafka_env() {
  echo "KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT"
  _kafka_secure || return 0
  _kafka_credentials
  # Each service takes its own user (dev/lib/services.sh sets KAFKA_SASL_USERNAME/PASSWORD from these).
  echo "KAFKA_SECURITY_PROTOCOL=SASL_SSL"
  echo "KAFKA_SASL_MECHANISM=SCRAM-SHA-512"
  echo "KAFKA_TLS_CA_FILE=$(_kafka_tls_dir)/ca.crt"
  local u pw
  for u in "${KAFKA_SCRAM_USERS[@]}"; do
    pw="KAFKA_${u^^}_PASSWORD"
    echo "KAFKA_${u^^}_USERNAME=$u"
    echo "KAFKA_${u^^}_PASSWORD=${!pw}"
  done
}
