#!/bin/sh
# Starts one Cassandra node in the foreground. Reads the same environment
# variables as the official cassandra:5.0 image (CASSANDRA_LISTEN_ADDRESS,
# CASSANDRA_BROADCAST_ADDRESS, CASSANDRA_RPC_ADDRESS,
# CASSANDRA_BROADCAST_RPC_ADDRESS, CASSANDRA_SEEDS, CASSANDRA_CLUSTER_NAME,
# CASSANDRA_NUM_TOKENS, CASSANDRA_DC, CASSANDRA_RACK,
# CASSANDRA_ENDPOINT_SNITCH, MAX_HEAP_SIZE, HEAP_NEWSIZE, JVM_EXTRA_OPTS),
# so tests can use either, plus a few knobs for fast multi-node test
# clusters that the official image does not have:
#
#   CASSANDRA_RING_DELAY_MS          -Dcassandra.ring_delay_ms (how long a
#                                    joining node listens to gossip; 30000
#                                    when unset)
#   CASSANDRA_SKIP_WAIT_FOR_GOSSIP_TO_SETTLE
#                                    -Dcassandra.skip_wait_for_gossip_to_settle
#                                    (0 opens CQL without waiting for gossip
#                                    to settle; Cassandra's default when unset)
#   CASSANDRA_ALLOCATE_TOKENS_FOR_LOCAL_RF
#                                    allocate_tokens_for_local_replication_factor
#                                    in cassandra.yaml (default 3, as in
#                                    Cassandra's own cassandra.yaml): new nodes
#                                    pick tokens that balance ownership for
#                                    that replication factor in their DC.
#                                    Without it tokens are random and three
#                                    nodes came out owning 73/71/56%.
set -eu

: "${CASSANDRA_LISTEN_ADDRESS:=127.0.0.1}"
: "${CASSANDRA_BROADCAST_ADDRESS:=$CASSANDRA_LISTEN_ADDRESS}"
: "${CASSANDRA_RPC_ADDRESS:=$CASSANDRA_LISTEN_ADDRESS}"
: "${CASSANDRA_BROADCAST_RPC_ADDRESS:=$CASSANDRA_BROADCAST_ADDRESS}"
: "${CASSANDRA_SEEDS:=$CASSANDRA_BROADCAST_ADDRESS}"
: "${CASSANDRA_CLUSTER_NAME:=Test Cluster}"
: "${CASSANDRA_NUM_TOKENS:=16}"
: "${CASSANDRA_DC:=datacenter1}"
: "${CASSANDRA_RACK:=rack1}"
: "${CASSANDRA_ENDPOINT_SNITCH:=SimpleSnitch}"
: "${MAX_HEAP_SIZE:=1G}"
: "${HEAP_NEWSIZE:=256M}"
: "${JVM_EXTRA_OPTS:=}"
: "${CASSANDRA_RING_DELAY_MS:=}"
: "${CASSANDRA_SKIP_WAIT_FOR_GOSSIP_TO_SETTLE:=}"
: "${CASSANDRA_ALLOCATE_TOKENS_FOR_LOCAL_RF:=3}"

# fail stops the container with a message naming the bad setting.
fail() { echo "cassandra-entrypoint: $*" >&2; exit 64; }
# number fails unless $2 (the value of setting $1) is a whole number.
number() {
	case $2 in
	'' | *[!0-9]*) fail "$1=\"$2\" is not a whole number" ;;
	esac
}
number CASSANDRA_NUM_TOKENS "$CASSANDRA_NUM_TOKENS"
number CASSANDRA_ALLOCATE_TOKENS_FOR_LOCAL_RF "$CASSANDRA_ALLOCATE_TOKENS_FOR_LOCAL_RF"
[ "$CASSANDRA_ALLOCATE_TOKENS_FOR_LOCAL_RF" -ge 1 ] || fail "CASSANDRA_ALLOCATE_TOKENS_FOR_LOCAL_RF must be at least 1"
knobs=""
if [ -n "$CASSANDRA_RING_DELAY_MS" ]; then
	number CASSANDRA_RING_DELAY_MS "$CASSANDRA_RING_DELAY_MS"
	knobs="$knobs -Dcassandra.ring_delay_ms=$CASSANDRA_RING_DELAY_MS"
fi
if [ -n "$CASSANDRA_SKIP_WAIT_FOR_GOSSIP_TO_SETTLE" ]; then
	number CASSANDRA_SKIP_WAIT_FOR_GOSSIP_TO_SETTLE "$CASSANDRA_SKIP_WAIT_FOR_GOSSIP_TO_SETTLE"
	knobs="$knobs -Dcassandra.skip_wait_for_gossip_to_settle=$CASSANDRA_SKIP_WAIT_FOR_GOSSIP_TO_SETTLE"
fi
# Addresses, names, DC and rack end up in sed replacements and YAML:
# reject the characters that would break either.
for v in CASSANDRA_CLUSTER_NAME CASSANDRA_SEEDS CASSANDRA_LISTEN_ADDRESS \
	CASSANDRA_BROADCAST_ADDRESS CASSANDRA_RPC_ADDRESS \
	CASSANDRA_BROADCAST_RPC_ADDRESS CASSANDRA_ENDPOINT_SNITCH CASSANDRA_DC CASSANDRA_RACK; do
	eval "val=\$$v"
	case $val in
	*[\|\'\"\\\&]* | *"
"*) fail "$v=\"$val\" contains a quote, backslash, |, & or newline" ;;
	esac
done

conf=/etc/cassandra
# Rewritten at every start from the pristine template, so a restarted
# container picks up the same settings and its data stays where it was.
sed -e "s|@@CLUSTER_NAME@@|$CASSANDRA_CLUSTER_NAME|" \
    -e "s|@@NUM_TOKENS@@|$CASSANDRA_NUM_TOKENS|" \
    -e "s|@@SEEDS@@|$CASSANDRA_SEEDS|" \
    -e "s|@@LISTEN_ADDRESS@@|$CASSANDRA_LISTEN_ADDRESS|" \
    -e "s|@@BROADCAST_ADDRESS@@|$CASSANDRA_BROADCAST_ADDRESS|" \
    -e "s|@@RPC_ADDRESS@@|$CASSANDRA_RPC_ADDRESS|" \
    -e "s|@@BROADCAST_RPC_ADDRESS@@|$CASSANDRA_BROADCAST_RPC_ADDRESS|" \
    -e "s|@@ENDPOINT_SNITCH@@|$CASSANDRA_ENDPOINT_SNITCH|" \
    -e "s|@@ALLOCATE_TOKENS_FOR_LOCAL_RF@@|$CASSANDRA_ALLOCATE_TOKENS_FOR_LOCAL_RF|" \
    "$conf/cassandra.yaml.template" > "$conf/cassandra.yaml"
printf 'dc=%s\nrack=%s\n' "$CASSANDRA_DC" "$CASSANDRA_RACK" > "$conf/cassandra-rackdc.properties"

# JPMS flags from Cassandra's conf/jvm17-server.options.
jpms="-Djdk.attach.allowAttachSelf=true
--add-exports java.base/jdk.internal.misc=ALL-UNNAMED
--add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
--add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED
--add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
--add-exports java.sql/java.sql=ALL-UNNAMED
--add-exports java.base/java.lang.ref=ALL-UNNAMED
--add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
--add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
--add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED
--add-opens java.base/java.lang.module=ALL-UNNAMED
--add-opens java.base/jdk.internal.loader=ALL-UNNAMED
--add-opens java.base/jdk.internal.ref=ALL-UNNAMED
--add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
--add-opens java.base/jdk.internal.math=ALL-UNNAMED
--add-opens java.base/jdk.internal.module=ALL-UNNAMED
--add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
--add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
--add-opens java.base/sun.nio.ch=ALL-UNNAMED
--add-opens java.base/java.io=ALL-UNNAMED
--add-opens java.base/java.lang.reflect=ALL-UNNAMED
--add-opens java.base/java.lang=ALL-UNNAMED
--add-opens java.base/java.util=ALL-UNNAMED
-Dio.netty.tryReflectionSetAccessible=true
-Dio.netty.allocator.useCacheForAllThreads=true
-Dio.netty.allocator.maxOrder=11"

mkdir -p /var/lib/cassandra
# No JMX port is opened (neither cassandra.jmx.local.port nor
# cassandra.jmx.remote.port is set): several nodes can share a host's
# loopback addresses without clashing, and nothing listens beyond them.
# shellcheck disable=SC2086
exec java -Xms"$MAX_HEAP_SIZE" -Xmx"$MAX_HEAP_SIZE" -Xmn"$HEAP_NEWSIZE" \
	-XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:+ExitOnOutOfMemoryError -Xss256k \
	$jpms \
	-javaagent:"$(ls /opt/cassandra/lib/jamm-*.jar)" \
	-Dcassandra.config=file://$conf/cassandra.yaml \
	-Dcassandra-foreground=yes \
	-Dcassandra.storagedir=/var/lib/cassandra \
	-Dlogback.configurationFile=$conf/logback.xml \
	$knobs \
	$JVM_EXTRA_OPTS \
	-cp "$conf:/opt/cassandra/lib/*" \
	org.apache.cassandra.service.CassandraDaemon
