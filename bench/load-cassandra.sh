#!/usr/bin/env bash
# The load benchmark with the Cassandra store: starts one Cassandra node
# (the project's image, host network, a loopback address), creates the
# schema with `stickybucket migrate`, then runs bench/load.sh with
# stickybucket on the in-memory store, on Cassandra with the cache and on
# Cassandra without it (and Agent, if AGENT_BIN is set), side by side in
# one run. Removes the node at the end.
#
#   STICKYBUCKET_BIN (required), AGENT_BIN (optional), and every setting of
#   bench/load.sh (RUNS defaults to decide here: the open-loop and profile
#   runs are bench/load.sh's, on the memory store); CASSANDRA_ADDR
#   [127.0.0.150]; CASSANDRA_IMAGE [what docker/cassandra/image.sh gives].
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
log() { printf 'load-cassandra.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[[ -n ${STICKYBUCKET_BIN:-} ]] || die "STICKYBUCKET_BIN is required"
[[ $STICKYBUCKET_BIN == /* ]] || STICKYBUCKET_BIN=$PWD/$STICKYBUCKET_BIN
addr=${CASSANDRA_ADDR:-127.0.0.150}
[[ $addr == 127.* ]] || die "CASSANDRA_ADDR $addr: loopback only"
image=${CASSANDRA_IMAGE:-$("$root/docker/cassandra/image.sh")}
name=sb-load-cassandra-$$
work=$(mktemp -d)

cleanup() {
	docker rm -f "$name" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "starting Cassandra ($image) on $addr"
docker run -d --name "$name" --network host \
	-e CASSANDRA_LISTEN_ADDRESS="$addr" -e CASSANDRA_SEEDS="$addr" \
	-e CASSANDRA_CLUSTER_NAME=sb-load -e MAX_HEAP_SIZE=1G -e HEAP_NEWSIZE=256M \
	-e JVM_EXTRA_OPTS="-Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.ring_delay_ms=100" \
	"$image" >/dev/null

for store in cache nocache; do
	cache="cache: {size: 0}" # a cache is on by default with Cassandra
	[[ $store == cache ]] && cache="cache: {size: 100000, ttl: 30s}"
	cat >"$work/$store.yaml" <<-YAML
		environment: load
		cassandra: {hosts: [$addr], port: 9042, timeout: 2s}
		environments:
		  load:
		    retention: 30d
		    keyspace: sb_load
		    replication: {class: SimpleStrategy, replication_factor: 1}
		    read_consistency: LOCAL_ONE
		    write_consistency: LOCAL_ONE
		store:
		  kind: cassandra
		  saves: {mode: async}
		  $cache
		log: {level: warn}
	YAML
done

log "waiting for CQL and creating the schema"
for i in $(seq 1 120); do
	if "$STICKYBUCKET_BIN" migrate --config "$work/nocache.yaml" >/dev/null 2>&1; then
		break
	fi
	[[ $i == 120 ]] && die "Cassandra did not accept the schema within 4 minutes"
	sleep 2
done
log "schema ready"

cd "$root"
RUNS=${RUNS:-decide} SB_NAME=${SB_NAME:-memory} \
	SB_CONFIGS="cassandra-cache=$work/cache.yaml cassandra=$work/nocache.yaml" \
	STICKYBUCKET_BIN=$STICKYBUCKET_BIN "$here/load.sh"
