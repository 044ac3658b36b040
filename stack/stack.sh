#!/usr/bin/env bash
# The local stack: Apache Kafka (KRaft, one node) on 127.0.0.1:9092, Redis on 127.0.0.1:6379 and
# Apicurio Registry 3 (Confluent-compatible API under /apis/ccompat/v7) on 127.0.0.1:8080.
# Kafka and Apicurio come from Maven Central through Maven, Redis from Debian. Everything the
# stack writes lives under .stack/ (ignored by git).
#
#   stack.sh up [--secure] [--redis-cluster]
#                     start whatever is not running yet, wait for real readiness (idempotent);
#                     --secure adds the secured Kafka, --redis-cluster the Redis Cluster (below)
#   stack.sh down     stop what this script started (including the optional parts)
#   stack.sh status   say what is running, with its resident memory
#   stack.sh kafka-secure up|down   a second Kafka with TLS and SASL: SASL_SSL on 127.0.0.1:19093
#                     (SCRAM users courier/courier-secret for SHA-512 and SHA-256), SSL with client
#                     certificates on 127.0.0.1:19094; certificates under .stack/kafka-secure/certs
#   stack.sh redis-cluster up|down  a three-node Redis Cluster on 127.0.0.1:7101-7103
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK_DIR="${COURIER_STACK_DIR:-$ROOT/.stack}"
POM="$ROOT/stack/pom.xml"
KAFKA_PORT=9092
REDIS_PORT=6379
REGISTRY_PORT=8080
REGISTRY_URL="http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7"
READY_DEADLINE_S="${STACK_READY_DEADLINE_S:-120}"

mkdir -p "$STACK_DIR/logs" "$STACK_DIR/pids"

log() { printf '[stack] %s\n' "$*"; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

pom_property() { sed -n "s:.*<$1>\(.*\)</$1>.*:\1:p" "$POM" | head -n1; }

pid_alive() { # name
  local f="$STACK_DIR/pids/$1.pid"
  [[ -f "$f" ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

fail_with_log() { # name logfile message
  log "$1 did not become ready: $3"
  if [[ -f "$2" ]]; then
    log "last lines of $2:"
    tail -n 40 "$2" >&2
  fi
  exit 1
}

wait_until() { # name logfile pidname command...
  local name="$1" logfile="$2" pidname="$3"; shift 3
  local deadline=$((SECONDS + READY_DEADLINE_S))
  until "$@" >/dev/null 2>&1; do
    if [[ -n "$pidname" ]] && ! pid_alive "$pidname"; then
      fail_with_log "$name" "$logfile" "the process exited"
    fi
    if ((SECONDS >= deadline)); then
      fail_with_log "$name" "$logfile" "no answer within ${READY_DEADLINE_S}s"
    fi
    sleep 0.5
  done
}

java_major() { # java binary
  "$1" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1
}

# The newest Java on the machine: Apicurio Registry 3.3 needs 21+, Kafka 4 needs 17+.
find_java() {
  local best="" best_major=0 candidate major
  for candidate in "${JAVA_HOME:+$JAVA_HOME/bin/java}" "$(command -v java || true)" /usr/lib/jvm/*/bin/java; do
    [[ -n "$candidate" && -x "$candidate" ]] || continue
    major="$(java_major "$candidate")"
    [[ -n "$major" ]] || continue
    if ((major > best_major)); then best="$candidate"; best_major="$major"; fi
  done
  [[ -n "$best" ]] || die "no Java found: install Java 17 or newer (Kafka and the registry are Java programs)"
  ((best_major >= 17)) || die "Java $best_major found at $best; Kafka 4 needs Java 17 or newer"
  printf '%s %s\n' "$best" "$best_major"
}

# ---------------------------------------------------------------- Kafka

kafka_lib() { echo "$STACK_DIR/kafka-$(pom_property kafka.version)/lib"; }

kafka_ready() { node --disable-warning=TimeoutNegativeWarning "$ROOT/stack/kafka-ready.mjs" "127.0.0.1:$KAFKA_PORT"; }

fetch_kafka() {
  kafka_ready && return 0
  fetch_kafka_jars
}

fetch_kafka_jars() {
  local lib
  lib="$(kafka_lib)"
  [[ -f "$lib/.complete" ]] && return 0
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch Kafka from Maven Central"
  log "resolving Kafka $(pom_property kafka.version) from Maven Central"
  rm -rf "$lib"
  mvn -q -B -f "$POM" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$lib" \
    >"$STACK_DIR/logs/maven-kafka.log" 2>&1 ||
    fail_with_log Maven "$STACK_DIR/logs/maven-kafka.log" "dependency resolution failed"
  touch "$lib/.complete"
}

kafka_up() {
  if kafka_ready; then
    log "kafka: already running on 127.0.0.1:$KAFKA_PORT"
    return 0
  fi
  local java lib data logfile
  read -r java _ < <(find_java)
  lib="$(kafka_lib)"
  data="$STACK_DIR/kafka-data"
  logfile="$STACK_DIR/logs/kafka.log"
  mkdir -p "$data"
  sed "s:@DATA_DIR@:$data:" "$ROOT/stack/kafka/server.properties" >"$STACK_DIR/server.properties"
  if [[ ! -f "$data/meta.properties" ]]; then
    local cluster_id
    cluster_id="$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    log "kafka: formatting storage (cluster $cluster_id)"
    "$java" -cp "$lib/*" kafka.tools.StorageTool format -t "$cluster_id" -c "$STACK_DIR/server.properties" \
      >"$STACK_DIR/logs/kafka-format.log" 2>&1 || fail_with_log kafka "$STACK_DIR/logs/kafka-format.log" "storage format failed"
  fi
  # Every test run leaves its topics behind; a broker holding thousands of partitions takes minutes
  # to load them (12,960 took more than 120 s here), so the deadline grows with them.
  local partitions
  partitions=$(find "$data" -mindepth 1 -maxdepth 1 -type d | wc -l)
  if ((partitions > 2000)); then
    log "kafka: $partitions partitions in $data from earlier runs; loading them takes a while (\`npm run stack:reset\` starts empty)"
  fi
  log "kafka: starting"
  nohup "$java" -Xms256m -Xmx${KAFKA_HEAP:-512m} -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$ROOT/stack/kafka/log4j2.yaml" \
    -cp "$lib/*" kafka.Kafka "$STACK_DIR/server.properties" >"$logfile" 2>&1 &
  echo $! >"$STACK_DIR/pids/kafka.pid"
  READY_DEADLINE_S=$((READY_DEADLINE_S + partitions / 40)) wait_until kafka "$logfile" kafka kafka_ready
  log "kafka: ready on 127.0.0.1:$KAFKA_PORT"
}

# ---------------------------------------------------------------- Chromium (tests only)

# The status-page tests drive Debian's headless Chromium (playwright-core, no browser download).
install_browser() {
  local path="${CHROMIUM_PATH:-/usr/bin/chromium}"
  if [[ -x "$path" ]]; then
    log "chromium: $path"
    return 0
  fi
  command -v apt-get >/dev/null || die "chromium is missing at $path and apt-get is not available: install Chromium or set CHROMIUM_PATH"
  local sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo"
  mkdir -p "$STACK_DIR/logs"
  log "chromium: not found at $path; installing Debian's chromium with apt-get (for the status-page tests)"
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium; } \
    >"$STACK_DIR/logs/apt-chromium.log" 2>&1 || fail_with_log chromium "$STACK_DIR/logs/apt-chromium.log" "apt-get install chromium failed"
  [[ -x "$path" ]] || die "chromium was installed but is not at $path: set CHROMIUM_PATH"
  log "chromium: installed at $path"
}

# ---------------------------------------------------------------- Redis

redis_ready() { [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; }

install_redis() {
  command -v redis-server >/dev/null && return 0
  command -v apt-get >/dev/null || die "redis-server is missing and apt-get is not available: install Redis 6.2+"
  local sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo"
  log "redis: installing redis-server with apt-get"
  { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server; } \
    >"$STACK_DIR/logs/apt-redis.log" 2>&1 || fail_with_log redis "$STACK_DIR/logs/apt-redis.log" "apt-get install redis-server failed"
}

redis_up() {
  install_redis
  if redis_ready; then
    log "redis: already running on 127.0.0.1:$REDIS_PORT"
    return 0
  fi
  local logfile="$STACK_DIR/logs/redis.log"
  mkdir -p "$STACK_DIR/redis-data"
  log "redis: starting"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$STACK_DIR/redis-data" \
    --daemonize yes --pidfile "$STACK_DIR/pids/redis.pid" --logfile "$logfile" \
    --appendonly yes --save "" >/dev/null
  wait_until redis "$logfile" "" redis_ready
  log "redis: ready on 127.0.0.1:$REDIS_PORT"
}

# ---------------------------------------------------------------- Apicurio Registry

registry_ready() { curl -fsS -m 2 "$REGISTRY_URL/subjects" >/dev/null 2>&1; }

registry_version() { # java major
  # Apicurio Registry 3.3 is built for Java 21; on a Java 17-only machine use 3.0, the last for 17.
  if (($1 >= 21)); then pom_property apicurio.version; else pom_property apicurio.java17.version; fi
}

fetch_registry() {
  registry_ready && return 0
  local major version dir
  read -r _ major < <(find_java)
  version="$(registry_version "$major")"
  dir="$STACK_DIR/apicurio-$version"
  [[ -f "$dir/.complete" ]] && return 0
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch Apicurio Registry from Maven Central"
  log "registry: resolving Apicurio Registry $version from Maven Central"
  rm -rf "$dir" && mkdir -p "$dir"
  mvn -q -B -f "$POM" dependency:unpack -Dartifact="io.apicurio:apicurio-registry-app:$version:tar.gz:all" \
    -DoutputDirectory="$dir" -Dmdep.overWriteReleases=true \
    >"$STACK_DIR/logs/maven-registry.log" 2>&1 ||
    fail_with_log registry "$STACK_DIR/logs/maven-registry.log" "dependency resolution failed"
  [[ -f "$dir/quarkus-run.jar" ]] ||
    fail_with_log registry "$STACK_DIR/logs/maven-registry.log" "the unpacked archive has no quarkus-run.jar"
  touch "$dir/.complete"
}

registry_up() {
  if registry_ready; then
    log "registry: already running on 127.0.0.1:$REGISTRY_PORT"
    return 0
  fi
  local java major version dir logfile jar
  read -r java major < <(find_java)
  version="$(registry_version "$major")"
  dir="$STACK_DIR/apicurio-$version"
  jar="$(find "$dir" -maxdepth 1 \( -name quarkus-run.jar -o -name '*-runner.jar' \) | head -n1)"
  [[ -n "$jar" ]] || die "no runnable jar in $dir"
  logfile="$STACK_DIR/logs/registry.log"
  log "registry: starting Apicurio Registry $version (Java $major)"
  (
    cd "$dir"
    nohup "$java" -Xms128m -Xmx${REGISTRY_HEAP:-384m} -XX:+UseSerialGC \
      -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$REGISTRY_PORT" \
      -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port=9009 \
      -jar "$jar" >"$logfile" 2>&1 &
    echo $! >"$STACK_DIR/pids/registry.pid"
  )
  wait_until registry "$logfile" registry registry_ready
  log "registry: ready at $REGISTRY_URL"
}

# ---------------------------------------------------------------- secured Kafka (optional)

SECURE_DIR="$STACK_DIR/kafka-secure"
SECURE_CERTS="$STACK_DIR/certs"
SECURE_INTERNAL_PORT=19096
SCRAM_USER=courier
SCRAM_PASSWORD=courier-secret
STORE_PASSWORD=courier-store

kafka_secure_ready() { node --disable-warning=TimeoutNegativeWarning "$ROOT/stack/kafka-ready.mjs" "127.0.0.1:$SECURE_INTERNAL_PORT"; }

# A private CA, a server certificate for 127.0.0.1/localhost (PEM, and as a PKCS12 keystore for
# Kafka), a truststore holding the CA (to check client certificates) and a client certificate for
# mutual TLS. Shared by the secured Kafka and the TLS Redis.
make_certs() {
  [[ -f "$SECURE_CERTS/.complete" ]] && return 0
  local d="$SECURE_CERTS" java_bin keytool_bin
  rm -rf "$d" && mkdir -p "$d"
  read -r java_bin _ < <(find_java)
  keytool_bin="$(dirname "$java_bin")/keytool"
  [[ -x "$keytool_bin" ]] || keytool_bin="$(command -v keytool)" || die "keytool is needed for the secured Kafka"
  command -v openssl >/dev/null || die "openssl is needed for the secured Kafka"
  {
    openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=Courier local CA" \
      -keyout "$d/ca.key" -out "$d/ca.pem"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$d/broker.key" -out "$d/broker.csr"
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >"$d/broker.ext"
    openssl x509 -req -in "$d/broker.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 825 \
      -extfile "$d/broker.ext" -out "$d/broker.pem"
    openssl pkcs12 -export -in "$d/broker.pem" -inkey "$d/broker.key" -certfile "$d/ca.pem" -name broker \
      -out "$d/broker.p12" -passout "pass:$STORE_PASSWORD"
    "$keytool_bin" -importcert -noprompt -alias ca -file "$d/ca.pem" -keystore "$d/truststore.p12" \
      -storetype PKCS12 -storepass "$STORE_PASSWORD"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=courier-client" -keyout "$d/client.key" -out "$d/client.csr"
    printf 'extendedKeyUsage=clientAuth\n' >"$d/client.ext"
    openssl x509 -req -in "$d/client.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 825 \
      -extfile "$d/client.ext" -out "$d/client.pem"
  } >"$STACK_DIR/logs/kafka-secure-certs.log" 2>&1 ||
    fail_with_log kafka-secure "$STACK_DIR/logs/kafka-secure-certs.log" "certificate generation failed"
  touch "$d/.complete"
}

kafka_secure_up() {
  if kafka_secure_ready; then
    log "kafka-secure: already running (SASL_SSL 127.0.0.1:19093, SSL 127.0.0.1:19094)"
    return 0
  fi
  fetch_kafka_jars
  make_certs
  local java lib data logfile props
  read -r java _ < <(find_java)
  lib="$(kafka_lib)"
  data="$SECURE_DIR/data"
  props="$SECURE_DIR/server.properties"
  logfile="$STACK_DIR/logs/kafka-secure.log"
  mkdir -p "$data"
  sed -e "s:@DATA_DIR@:$data:" -e "s:@CERT_DIR@:$SECURE_CERTS:" -e "s:@STORE_PASSWORD@:$STORE_PASSWORD:" \
    "$ROOT/stack/kafka/server-secure.properties" >"$props"
  if [[ ! -f "$data/meta.properties" ]]; then
    local cluster_id
    cluster_id="$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    log "kafka-secure: formatting storage with SCRAM users"
    "$java" -cp "$lib/*" kafka.tools.StorageTool format -t "$cluster_id" -c "$props" \
      --add-scram "SCRAM-SHA-512=[name=$SCRAM_USER,password=$SCRAM_PASSWORD]" \
      --add-scram "SCRAM-SHA-256=[name=$SCRAM_USER,password=$SCRAM_PASSWORD]" \
      >"$STACK_DIR/logs/kafka-secure-format.log" 2>&1 ||
      fail_with_log kafka-secure "$STACK_DIR/logs/kafka-secure-format.log" "storage format failed"
  fi
  log "kafka-secure: starting"
  nohup "$java" -Xms128m -Xmx${KAFKA_SECURE_HEAP:-256m} -XX:+UseSerialGC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$ROOT/stack/kafka/log4j2.yaml" \
    -cp "$lib/*" kafka.Kafka "$props" >"$logfile" 2>&1 &
  echo $! >"$STACK_DIR/pids/kafka-secure.pid"
  wait_until kafka-secure "$logfile" kafka-secure kafka_secure_ready
  log "kafka-secure: ready (SASL_SSL 127.0.0.1:19093, SSL 127.0.0.1:19094, CA $SECURE_CERTS/ca.pem)"
}

# ---------------------------------------------------------------- Redis Cluster (optional)

REDIS_CLUSTER_PORTS=(7101 7102 7103)

redis_cluster_ready() {
  local port
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do
    redis-cli -h 127.0.0.1 -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
  done
}

redis_cluster_stop() {
  local port
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do
    if pid_alive "redis-$port"; then
      log "redis-cluster: stopping 127.0.0.1:$port"
      redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || stop_one "redis-$port"
    fi
    rm -f "$STACK_DIR/pids/redis-$port.pid"
  done
}

redis_cluster_up() {
  install_redis
  if redis_cluster_ready; then
    log "redis-cluster: already running on 127.0.0.1:${REDIS_CLUSTER_PORTS[0]}-${REDIS_CLUSTER_PORTS[-1]}"
    return 0
  fi
  redis_cluster_stop # a half-formed cluster from an earlier run starts over
  local port dir nodes=()
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do
    dir="$STACK_DIR/redis-cluster/$port"
    rm -rf "$dir" && mkdir -p "$dir"
    redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --cluster-enabled yes \
      --cluster-config-file nodes.conf --cluster-node-timeout 5000 --save "" --appendonly no \
      --daemonize yes --pidfile "$STACK_DIR/pids/redis-$port.pid" --logfile "$STACK_DIR/logs/redis-$port.log" \
      >/dev/null
    wait_until "redis-$port" "$STACK_DIR/logs/redis-$port.log" "" \
      bash -c "[[ \"\$(redis-cli -h 127.0.0.1 -p $port ping)\" == PONG ]]"
    nodes+=("127.0.0.1:$port")
  done
  log "redis-cluster: creating the cluster"
  redis-cli --cluster create "${nodes[@]}" --cluster-yes >"$STACK_DIR/logs/redis-cluster-create.log" 2>&1 ||
    fail_with_log redis-cluster "$STACK_DIR/logs/redis-cluster-create.log" "redis-cli --cluster create failed"
  wait_until redis-cluster "$STACK_DIR/logs/redis-cluster-create.log" "" redis_cluster_ready
  log "redis-cluster: ready on ${nodes[*]}"
}

# ---------------------------------------------------------------- Redis with TLS and ACL (optional)

REDIS_TLS_PORT=7301
REDIS_ACL_USER=courier
REDIS_ACL_PASSWORD=courier-secret

redis_tls_ready() {
  [[ "$(redis-cli --tls --cacert "$SECURE_CERTS/ca.pem" -h 127.0.0.1 -p "$REDIS_TLS_PORT" \
    --user "$REDIS_ACL_USER" --pass "$REDIS_ACL_PASSWORD" --no-auth-warning ping 2>/dev/null)" == PONG ]]
}

redis_tls_up() {
  install_redis
  if redis_tls_ready; then
    log "redis-tls: already running on 127.0.0.1:$REDIS_TLS_PORT"
    return 0
  fi
  make_certs
  local dir="$STACK_DIR/redis-tls" logfile="$STACK_DIR/logs/redis-tls.log"
  rm -rf "$dir" && mkdir -p "$dir"
  redis-server --bind 127.0.0.1 --port 0 --tls-port "$REDIS_TLS_PORT" --dir "$dir" \
    --tls-cert-file "$SECURE_CERTS/broker.pem" --tls-key-file "$SECURE_CERTS/broker.key" \
    --tls-ca-cert-file "$SECURE_CERTS/ca.pem" --tls-auth-clients no \
    --user default off --user "$REDIS_ACL_USER" on ">$REDIS_ACL_PASSWORD" '~*' '&*' '+@all' \
    --save "" --appendonly no --daemonize yes --pidfile "$STACK_DIR/pids/redis-tls.pid" --logfile "$logfile" \
    >/dev/null 2>"$STACK_DIR/logs/redis-tls-start.log" ||
    fail_with_log redis-tls "$STACK_DIR/logs/redis-tls-start.log" "redis-server refused the TLS options"
  wait_until redis-tls "$logfile" "" redis_tls_ready
  log "redis-tls: ready on rediss://127.0.0.1:$REDIS_TLS_PORT (user $REDIS_ACL_USER)"
}

redis_tls_down() {
  if pid_alive redis-tls; then stop_one redis-tls; fi
  rm -f "$STACK_DIR/pids/redis-tls.pid"
}

# ---------------------------------------------------------------- Redis Sentinel (optional)

SENTINEL_MASTER_PORT=7201
SENTINEL_PORT=7211
SENTINEL_NAME=courier-master

redis_sentinel_ready() {
  redis-cli -h 127.0.0.1 -p "$SENTINEL_PORT" sentinel get-master-addr-by-name "$SENTINEL_NAME" 2>/dev/null |
    grep -qx "$SENTINEL_MASTER_PORT"
}

redis_sentinel_up() {
  install_redis
  if redis_sentinel_ready; then
    log "redis-sentinel: already running (sentinel 127.0.0.1:$SENTINEL_PORT, master $SENTINEL_NAME)"
    return 0
  fi
  redis_sentinel_down
  local dir="$STACK_DIR/redis-sentinel"
  rm -rf "$dir" && mkdir -p "$dir/master" "$dir/sentinel"
  redis-server --bind 127.0.0.1 --port "$SENTINEL_MASTER_PORT" --dir "$dir/master" --save "" --appendonly no \
    --daemonize yes --pidfile "$STACK_DIR/pids/redis-sentinel-master.pid" \
    --logfile "$STACK_DIR/logs/redis-sentinel-master.log" >/dev/null
  # Sentinel rewrites its own config file, so it gets a fresh writable copy each time.
  cat >"$dir/sentinel/sentinel.conf" <<CONF
bind 127.0.0.1
port $SENTINEL_PORT
dir $dir/sentinel
daemonize yes
pidfile $STACK_DIR/pids/redis-sentinel.pid
logfile $STACK_DIR/logs/redis-sentinel.log
sentinel monitor $SENTINEL_NAME 127.0.0.1 $SENTINEL_MASTER_PORT 1
sentinel down-after-milliseconds $SENTINEL_NAME 5000
CONF
  redis-server "$dir/sentinel/sentinel.conf" --sentinel >/dev/null
  wait_until redis-sentinel "$STACK_DIR/logs/redis-sentinel.log" "" redis_sentinel_ready
  log "redis-sentinel: ready (sentinel 127.0.0.1:$SENTINEL_PORT, master $SENTINEL_NAME at 127.0.0.1:$SENTINEL_MASTER_PORT)"
}

redis_sentinel_down() {
  local name
  for name in redis-sentinel redis-sentinel-master; do
    if pid_alive "$name"; then stop_one "$name"; fi
    rm -f "$STACK_DIR/pids/$name.pid"
  done
}

# ---------------------------------------------------------------- commands

stop_one() { # name
  local f="$STACK_DIR/pids/$1.pid" pid
  if pid_alive "$1"; then
    pid="$(cat "$f")"
    log "$1: stopping (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  else
    log "$1: not started by this script"
  fi
  rm -f "$f"
}

rss_of() { # name
  local f="$STACK_DIR/pids/$1.pid"
  if pid_alive "$1"; then
    awk '/VmRSS/ {printf "%d MiB", $2/1024}' "/proc/$(cat "$f")/status"
  else
    echo "n/a (not started by this script)"
  fi
}

status() {
  local rc=0
  if kafka_ready; then log "kafka:    up   127.0.0.1:$KAFKA_PORT   rss $(rss_of kafka)"; else log "kafka:    down"; rc=1; fi
  if redis_ready; then log "redis:    up   127.0.0.1:$REDIS_PORT   rss $(rss_of redis)"; else log "redis:    down"; rc=1; fi
  if registry_ready; then log "registry: up   $REGISTRY_URL   rss $(rss_of registry)"; else log "registry: down"; rc=1; fi
  return $rc
}

case "${1:-}" in
  up)
    start=$SECONDS
    secure=0 cluster=0
    for flag in "${@:2}"; do
      case "$flag" in
        --secure) secure=1 ;;
        --redis-cluster) cluster=1 ;;
        *) die "unknown flag for up: $flag (known: --secure, --redis-cluster)" ;;
      esac
    done
    redis_up
    # Resolve artifacts one at a time (Maven's local repository is not safe for concurrent
    # writers), then start Kafka and the registry side by side: they are independent.
    fetch_kafka
    fetch_registry
    kafka_up &
    kafka_job=$!
    registry_up &
    registry_job=$!
    failed=0
    wait "$kafka_job" || failed=1
    wait "$registry_job" || failed=1
    ((failed == 0)) || die "the stack did not come up (see above)"
    ((secure == 0)) || kafka_secure_up
    ((cluster == 0)) || redis_cluster_up
    log "stack up in $((SECONDS - start))s"
    ;;
  kafka-secure)
    case "${2:-}" in
      up) kafka_secure_up ;;
      down) stop_one kafka-secure ;;
      *) die "usage: $0 kafka-secure up|down" ;;
    esac
    ;;
  redis-cluster)
    case "${2:-}" in
      up) redis_cluster_up ;;
      down) redis_cluster_stop ;;
      *) die "usage: $0 redis-cluster up|down" ;;
    esac
    ;;
  certs) make_certs && log "certificates in $SECURE_CERTS" ;;
  browser) install_browser ;;
  redis-tls)
    case "${2:-}" in
      up) redis_tls_up ;;
      down) redis_tls_down ;;
      *) die "usage: $0 redis-tls up|down" ;;
    esac
    ;;
  redis-sentinel)
    case "${2:-}" in
      up) redis_sentinel_up ;;
      down) redis_sentinel_down ;;
      *) die "usage: $0 redis-sentinel up|down" ;;
    esac
    ;;
  down)
    if pid_alive kafka-secure; then stop_one kafka-secure; fi
    redis_cluster_stop
    redis_tls_down
    redis_sentinel_down
    stop_one registry
    stop_one kafka
    if pid_alive redis; then
      log "redis: stopping"
      redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || stop_one redis
      rm -f "$STACK_DIR/pids/redis.pid"
    fi
    ;;
  reset)
    # Stops everything and deletes the data of Kafka, Redis and the secured broker (topics, keys);
    # downloaded jars and certificates stay. The next `up` starts empty.
    bash "${BASH_SOURCE[0]}" down
    rm -rf "$STACK_DIR/kafka-data" "$STACK_DIR/redis-data" "$SECURE_DIR/data"
    log "stack data deleted; \`npm run stack:up\` starts empty"
    ;;
  status) status ;;
  *)
    echo "usage: $0 up [--secure] [--redis-cluster]|down|reset|status|browser|kafka-secure|redis-cluster|redis-tls|redis-sentinel up|down" >&2
    exit 2
    ;;
esac
