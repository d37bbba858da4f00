#!/usr/bin/env bash
# Starts a single-node Apache Kafka broker (KRaft: broker and controller in one JVM) from the jars in lib/.
#   infra/kafka/start.sh [--dir DIR] [--port PORT] [--owner-pid PID]
# DIR (default: a new temp dir) holds server.properties, the log dir, kafka.log and kafka.pid. PORT (default: a free
# one) is the client listener on 127.0.0.1. With --owner-pid, the broker is killed when that process is gone.
# Prints the bootstrap address (127.0.0.1:PORT) on stdout once the broker accepts connections; exits 1 otherwise.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="" port="" owner=""
while (($#)); do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --owner-pid) owner="$2"; shift 2 ;;
    *) echo "infra/kafka/start.sh: unknown argument $1 (--dir DIR, --port PORT, --owner-pid PID)" >&2; exit 2 ;;
  esac
done
fail() { echo "infra/kafka/start.sh: $*" >&2; exit 1; }

[[ -f "$here/lib/.complete" ]] || fail "no jars in $here/lib (run infra/kafka/fetch.sh first)"
command -v java >/dev/null || fail "java not found (Kafka 4 needs Java 17+: Debian's openjdk-17-jre-headless)"
[[ -n "$dir" ]] || dir="$(mktemp -d "${TMPDIR:-/tmp}/vigie-kafka-XXXXXX")"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
[[ -n "$port" ]] || port="$(free_port)"
controller_port="$(free_port)"
[[ "$controller_port" != "$port" ]] || controller_port="$(free_port)"

cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.segment.bytes=16777216
log.retention.hours=24
PROPS

cat >"$dir/log4j2.properties" <<PROPS
appender.out.type=Console
appender.out.name=out
appender.out.layout.type=PatternLayout
appender.out.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=INFO
rootLogger.appenderRef.out.ref=out
logger.state.name=state.change.logger
logger.state.level=WARN
logger.log.name=kafka.log
logger.log.level=WARN
logger.clients.name=org.apache.kafka.clients
logger.clients.level=WARN
PROPS

java_opts=(-Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=$dir/log4j2.properties" -Dkafka.logs.dir="$dir")
cp="$here/lib/*"

# A random cluster id: 16 bytes, base64url without padding (what `kafka-storage random-uuid` prints). A log dir
# formatted before keeps its own: `format --ignore-formatted` fails on a cluster id other than the one it holds.
# Like Kafka's own Uuid.randomUuid, never one starting with "-": the tool would read it as an option.
cluster_id="-"
while [[ "$cluster_id" == -* ]]; do
  cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
done
if [[ -f "$dir/data/meta.properties" ]]; then
  cluster_id="$(sed -n 's/^cluster\.id=//p' "$dir/data/meta.properties")"
fi
java "${java_opts[@]}" -cp "$cp" kafka.tools.StorageTool format --ignore-formatted -t "$cluster_id" \
  -c "$dir/server.properties" >"$dir/format.log" 2>&1 || fail "formatting $dir/data failed: $(tail -n 5 "$dir/format.log")"

nohup java "${java_opts[@]}" -cp "$cp" kafka.Kafka "$dir/server.properties" >"$dir/kafka.log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$dir/kafka.pid"

if [[ -n "$owner" ]]; then
  # Watchdog: a test run killed with SIGKILL must not leave a broker behind.
  (
    trap '' HUP
    while kill -0 "$owner" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
    kill -9 "$pid" 2>/dev/null || true
  ) </dev/null >/dev/null 2>&1 &
  disown
fi

deadline=$((SECONDS + 60))
until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
  kill -0 "$pid" 2>/dev/null || fail "broker exited during start-up; last lines of $dir/kafka.log:
$(tail -n 20 "$dir/kafka.log")"
  ((SECONDS < deadline)) || { kill -9 "$pid" 2>/dev/null; fail "broker not accepting connections on 127.0.0.1:$port after 60 s; see $dir/kafka.log"; }
  sleep 0.2
done
echo "127.0.0.1:$port"
