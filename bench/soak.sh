#!/usr/bin/env bash
# Soak: `stickybucket serve` on one Cassandra node, with the store's
# defaults (cache, async saves), under a steady open-loop load of decisions
# for ROUNDS × DURATION, users drawn from a pool larger than the cache, so
# users keep arriving (first decisions, saves) and returning (cache hits
# and misses). After every round it records the server's resident memory,
# goroutines and heap (from its /metrics) and the round's p50/p99 (from
# loadbench's JSON); the table goes to stdout and RESULTS.txt. Everything it
# starts is stopped at the end. Not part of `make test`: about ROUNDS ×
# DURATION (10 minutes by default).
#
#   STICKYBUCKET_BIN (required); RATE [1000] requests/s; USERS [200000];
#   ROUNDS [10]; DURATION [60s]; CASSANDRA_ADDR [127.0.0.151];
#   RESULTS [bench/results/soak-<UTC time>]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
log() { printf 'soak.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[[ -n ${STICKYBUCKET_BIN:-} ]] || die "STICKYBUCKET_BIN is required"
[[ $STICKYBUCKET_BIN == /* ]] || STICKYBUCKET_BIN=$PWD/$STICKYBUCKET_BIN
rate=${RATE:-1000} users=${USERS:-200000} rounds=${ROUNDS:-10} duration=${DURATION:-60s}
addr=${CASSANDRA_ADDR:-127.0.0.151}
[[ $addr == 127.* ]] || die "CASSANDRA_ADDR $addr: loopback only"
results=${RESULTS:-$root/bench/results/soak-$(date -u +%Y%m%d-%H%M%S)}
image=$("$root/docker/cassandra/image.sh")
name=sb-soak-cassandra-$$
work=$(mktemp -d)
serve_pid=""
cleanup() {
	[[ -n $serve_pid ]] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null || true
	docker rm -f "$name" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

loadbench=$work/loadbench
(cd "$root" && go build -o "$loadbench" ./cmd/loadbench)

log "starting Cassandra ($image) on $addr"
docker run -d --name "$name" --network host \
	-e CASSANDRA_LISTEN_ADDRESS="$addr" -e CASSANDRA_SEEDS="$addr" \
	-e CASSANDRA_CLUSTER_NAME=sb-soak -e MAX_HEAP_SIZE=1G -e HEAP_NEWSIZE=256M \
	-e JVM_EXTRA_OPTS="-Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.ring_delay_ms=100" \
	"$image" >/dev/null
cat >"$work/soak.yaml" <<YAML
environment: soak
cassandra: {hosts: [$addr]}
environments:
  soak:
    retention: 30d
    keyspace: sb_soak
    replication: {class: SimpleStrategy, replication_factor: 1}
store: {kind: cassandra}
server: {listen: "127.0.0.1:18280", admin_listen: "127.0.0.1:18288"}
log: {level: warn}
YAML
for i in $(seq 1 120); do
	"$STICKYBUCKET_BIN" migrate --config "$work/soak.yaml" >/dev/null 2>&1 && break
	[[ $i == 120 ]] && die "Cassandra did not accept the schema within 4 minutes"
	sleep 2
done
"$STICKYBUCKET_BIN" serve --config "$work/soak.yaml" --datafile "soak=$root/examples/datafile-v1.json" 2>"$work/serve.log" &
serve_pid=$!
for i in $(seq 1 60); do
	curl -sf http://127.0.0.1:18288/ready >/dev/null && break
	[[ $i == 60 ]] && die "serve not ready: $(tail -5 "$work/serve.log")"
	sleep 1
done

metric() { curl -sf http://127.0.0.1:18288/metrics | awk -v m="$1" '$1 == m { print $2; exit }'; }
printf '%-6s %10s %10s %12s %10s %10s %10s\n' round rss_mb goroutines heap_mb p50_ms p99_ms req_s | tee "$results.txt"
for r in $(seq 1 "$rounds"); do
	warmup=0s
	[[ $r == 1 ]] && warmup=5s
	"$loadbench" --target stickybucket=http://127.0.0.1:18280 --pid "stickybucket=$serve_pid" \
		--flag new_search --sdk-key soak --users "$users" --seed "$r" \
		--attributes '{"plan":["pro"],"app_version":["3.2.0"],"country":["de","fr","us"]}' \
		--rate "$rate" --clients 32 --rounds 1 --duration "$duration" --warmup "$warmup" \
		--out "$results-round$r.json" >/dev/null 2>"$work/loadbench.log" || log "round $r: loadbench reported failures: $(tail -3 "$work/loadbench.log")"
	rss=$(awk '/VmRSS/ { print int($2 / 1024) }' "/proc/$serve_pid/status")
	goroutines=$(metric go_goroutines)
	heap=$(metric go_memstats_heap_inuse_bytes)
	read -r p50 p99 rps < <(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["targets"][0]; l=t["latency_ms"]; print(l["p50"], l["p99"], round(t["requests_per_second"]))' "$results-round$r.json")
	printf '%-6s %10s %10s %12s %10s %10s %10s\n' "$r" "$rss" "$goroutines" "$((${heap%.*} / 1048576))" "$p50" "$p99" "$rps" | tee -a "$results.txt"
done
log "results in $results.txt (and $results-round*.json)"
