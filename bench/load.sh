#!/usr/bin/env bash
# Measures `stickybucket serve` and Optimizely Agent side by side: starts
# each on loopback with the same datafile, waits until each decides, runs
# cmd/loadbench over them in alternating rounds, writes the results as
# JSON and SVG under bench/results/, and stops everything it started.
#
# The runs, in this order (RUNS picks some; each writes RESULTS<suffix>.json
# and .svg):
#   decide  [suffix none] POST /v1/decide, closed loop: every server (Agent,
#           stickybucket, the SB_CONFIGS and SB_ENVS ones)
#   rates   [-rate<N>] POST /v1/decide on the open loop, Agent against
#           stickybucket (and the SB_CONFIGS and SB_ENVS ones), one run per
#           rate of RATES (needs both binaries)
#   ups     [-ups] on stickybucket's server: POST /v1/lookup,
#           /v1/ups/lookup and /v1/ups/save (Agent's /v1/lookup too, when
#           AGENT_BIN is set), closed loop; then [-ups-rate<N>] the
#           lookups alone, open loop, at each rate of UPS_RATES
# Runs go on after one fails; the exit status is then 1.
#
# Binaries come from the environment; this script builds neither service:
#   STICKYBUCKET_BIN  stickybucket binary with the serve command
#   AGENT_BIN         Optimizely Agent binary (optional; built elsewhere)
# At least one is needed; with both, Agent is the baseline.
#   LOADBENCH_BIN     the driver (default: built from cmd/loadbench)
#   SB_NAME           the name STICKYBUCKET_BIN's figures go under [stickybucket]
#                     (another program that takes the same command line can
#                     stand in for it)
#   SB_CONFIGS        more stickybucket targets, each NAME=CONFIG.yaml,
#                     space-separated: serve --config CONFIG.yaml on the
#                     next ports after SB_ADMIN_PORT (bench/load-cassandra.sh
#                     uses it for the Cassandra store with and without cache)
#   SB_ENVS           more stickybucket targets, each NAME:VAR=VALUE[,VAR=VALUE…],
#                     space-separated: the default serve with those environment
#                     variables (e.g. SB_ENVS=stickybucket-1p:GOMAXPROCS=1), on
#                     the ports after SB_CONFIGS'
#   FLOORS            reference servers measured beside the others, in the
#                     decide and rates runs: any of nethttp fasthttp,
#                     space-separated, each cmd/httpfloor with that --server
#                     (named floor-nethttp, floor-fasthttp): HTTP and nothing
#                     else, the same fixed answer to every request, so their
#                     CPU per request is the floor every server above pays
#
# Settings (defaults in brackets):
#   DATAFILE [examples/datafile-v1.json]  SDK_KEY [bench]  FLAG [new_search]
#   CLIENTS [16]  USERS [5000]  ROUNDS [3]  DURATION [10s]  WARMUP [2s]
#   MAX_REQUESTS [2000000 per round]  ATTRIBUTES [none; a JSON object, see loadbench -h]
#   HOST [127.0.0.1]  SB_PORT [18180]  SB_ADMIN_PORT [18188]
#   AGENT_PORT [18080]  AGENT_ADMIN_PORT [18088]  AGENT_WEBHOOK_PORT [18089]
#   DATAFILE_PORT [8111]  (Agent fetches <SDK_KEY>.json there: python3 -m http.server)
#   RESULTS [bench/results/load-<UTC time>]  (suffixes, .json and .svg are appended)
#   RUNS [decide rates ups]  RATES [2000 5000 10000]  UPS_RATES [5000]
#   EVENTS [off]  on: both services send their impressions to a local sink
#     (cmd/eventsink on EVENTS_PORT [8112], which answers 204 and counts
#     them): Agent's client.eventURL and serve --events-url point at it; the
#     counts each side sent and the sink received are printed at the end
#   EVENTS_BATCH [each side's default: Agent 10, stickybucket 100] events
#     per request for both (Agent's client.batchSize and events.batch_size),
#     to compare them on equal batches; not with SB_CONFIGS
#   RATE_CLIENTS [32] clients per target on the open loop: the bound on
#     requests in flight (a request due while all are busy waits, and the
#     wait counts in its latency)
#   READY_TIMEOUT [60] seconds to wait for each service
#
# stickybucket is started as
#   $STICKYBUCKET_BIN serve --listen HOST:SB_PORT --admin-listen HOST:SB_ADMIN_PORT --datafile SDK_KEY=DATAFILE
# and Agent as OPTIMIZELY_CONFIG_FILENAME=<generated config> $AGENT_BIN, with
# an in-memory profile service, logging at warn, events posted to the
# datafile server (which refuses them: Agent retries a little and drops
# them), or to the sink with EVENTS=on.
#
# Relative paths given in the environment are taken from the directory the
# script is run in; the defaults are in the repository, where the script
# runs (so stickybucket gets --datafile bench=examples/datafile-v1.json).
set -euo pipefail

# abs PATH: PATH from the caller's directory, if it is relative.
abs() { [[ -z $1 || $1 == /* ]] && printf '%s' "$1" || printf '%s/%s' "$PWD" "$1"; }
STICKYBUCKET_BIN=$(abs "${STICKYBUCKET_BIN:-}")
AGENT_BIN=$(abs "${AGENT_BIN:-}")
LOADBENCH_BIN=$(abs "${LOADBENCH_BIN:-}")
[[ -z ${DATAFILE:-} ]] || DATAFILE=$(abs "$DATAFILE")
[[ -z ${RESULTS:-} ]] || RESULTS=$(abs "$RESULTS")

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

SB_NAME=${SB_NAME:-stickybucket}
DATAFILE=${DATAFILE:-examples/datafile-v1.json}
SDK_KEY=${SDK_KEY:-bench}
FLAG=${FLAG:-new_search}
CLIENTS=${CLIENTS:-16}
USERS=${USERS:-5000}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
MAX_REQUESTS=${MAX_REQUESTS:-2000000}
ATTRIBUTES=${ATTRIBUTES:-}
HOST=${HOST:-127.0.0.1}
SB_PORT=${SB_PORT:-18180}
SB_ADMIN_PORT=${SB_ADMIN_PORT:-18188}
AGENT_PORT=${AGENT_PORT:-18080}
AGENT_ADMIN_PORT=${AGENT_ADMIN_PORT:-18088}
AGENT_WEBHOOK_PORT=${AGENT_WEBHOOK_PORT:-18089}
DATAFILE_PORT=${DATAFILE_PORT:-8111}
RESULTS=${RESULTS:-bench/results/load-$(date -u +%Y%m%d-%H%M%S)}
READY_TIMEOUT=${READY_TIMEOUT:-60}
RUNS=${RUNS:-decide rates ups}
RATES=${RATES:-2000 5000 10000}
UPS_RATES=${UPS_RATES:-5000}
RATE_CLIENTS=${RATE_CLIENTS:-32}
EVENTS=${EVENTS:-off}
EVENTS_PORT=${EVENTS_PORT:-8112}
EVENTS_BATCH=${EVENTS_BATCH:-}

log() { printf 'load.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[[ -n $STICKYBUCKET_BIN || -n $AGENT_BIN ]] || die "set STICKYBUCKET_BIN and/or AGENT_BIN"
for bin in "$STICKYBUCKET_BIN" "$AGENT_BIN" "$LOADBENCH_BIN"; do
	[[ -z $bin || -x $bin ]] || die "$bin is not an executable file"
done
[[ -r $DATAFILE ]] || die "datafile $DATAFILE is not readable"
[[ $SDK_KEY =~ ^[A-Za-z0-9_=+-]+$ ]] || die "SDK_KEY $SDK_KEY: letters, digits and _=+- only"
[[ $SB_NAME =~ ^[A-Za-z0-9_.-]+$ && $SB_NAME != agent && $SB_NAME != datafiles && $SB_NAME != loadbench ]] ||
	die "SB_NAME $SB_NAME: letters, digits and _.- only, and not agent, datafiles or loadbench"
for r in $RUNS; do
	[[ $r == decide || $r == rates || $r == ups ]] || die "RUNS: unknown run $r (want decide, rates, ups)"
done
for r in $RATES $UPS_RATES; do
	[[ $r =~ ^[0-9]+$ && $r -gt 0 ]] || die "RATES and UPS_RATES: positive whole requests per second, not $r"
done
[[ $RATE_CLIENTS =~ ^[0-9]+$ && $RATE_CLIENTS -gt 0 ]] || die "RATE_CLIENTS $RATE_CLIENTS: want a positive number"
[[ $EVENTS == on || $EVENTS == off ]] || die "EVENTS $EVENTS: want on or off"
for f in ${FLOORS:-}; do
	[[ $f == nethttp || $f == fasthttp ]] || die "FLOORS: unknown server $f (want nethttp, fasthttp)"
done
command -v curl >/dev/null || die "curl is needed to wait for the services"
if [[ -n $AGENT_BIN ]]; then
	command -v python3 >/dev/null || die "python3 is needed to serve Agent its datafile"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/stickybucket-load.XXXXXX")
pids=()
names=()

# stop ends every process this script started and that still runs (and
# only those: a pid is signalled only while it is one of our running jobs),
# the last started first: TERM, then KILL after 10 s. The driver writes what
# it measured before it exits on TERM.
# shellcheck disable=SC2317 # called by the EXIT trap
stop() {
	local status=$? i pid running
	trap - EXIT INT TERM
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		pid=${pids[$i]}
		running=" $(jobs -pr | tr '\n' ' ') "
		[[ $running == *" $pid "* ]] || continue
		kill -TERM "$pid" 2>/dev/null || continue
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			log "${names[$i]} (pid $pid) ignored TERM; killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
	done
	if [[ $EVENTS == on ]]; then
		grep -h '"msg":"events closed"' "$work"/*.log 2>/dev/null | sed 's/^/load.sh: serve: /' >&2 || true
		grep -h '^eventsink: {' "$work/eventsink.log" 2>/dev/null | sed 's/^/load.sh: /' >&2 || true
	fi
	if ((status != 0)) && [[ -d $work ]]; then
		for f in "$work"/*.log; do
			[[ -s $f ]] || continue
			log "last lines of $(basename "$f"):"
			tail -n 20 "$f" >&2
		done
	fi
	rm -rf "$work"
	exit "$status"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME CMD…: runs CMD in the background with its output in
# $work/NAME.log and remembers its pid.
start() {
	local name=$1
	shift
	"$@" >"$work/$name.log" 2>&1 &
	pids+=("$!")
	names+=("$name")
	log "started $name (pid $!)"
}

# port_free PORT: nothing listens on HOST:PORT, so what we measure is what
# we started.
port_free() {
	! (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# alive NAME: the process started as NAME is still one of our running jobs.
alive() {
	local i running
	running=" $(jobs -pr | tr '\n' ' ') "
	for i in "${!names[@]}"; do
		[[ ${names[$i]} == "$1" && $running == *" ${pids[$i]} "* ]] && return 0
	done
	return 1
}

# wait_until NAME DESCRIPTION CMD…: retries CMD every 0.2 s until it
# succeeds, NAME exits, or READY_TIMEOUT passes.
wait_until() {
	local name=$1 what=$2 deadline=$((SECONDS + READY_TIMEOUT))
	shift 2
	until "$@" >/dev/null 2>&1; do
		alive "$name" || die "$name exited before $what"
		((SECONDS < deadline)) || die "$name: no $what after ${READY_TIMEOUT}s"
		sleep 0.2
	done
	log "$name: $what"
}

# decides PORT: a decide request for FLAG answers 200 with the flag's key.
# shellcheck disable=SC2317 # called through wait_until
decides() {
	curl -sf --max-time 2 -X POST \
		-H "X-Optimizely-SDK-Key: $SDK_KEY" -H 'Content-Type: application/json' \
		"http://$HOST:$1/v1/decide?keys=$FLAG" -d '{"userId":"load-sh-probe"}' |
		grep -q "\"flagKey\": *\"$FLAG\""
}

# usage NAME: resident memory and CPU time of a process we started.
usage() {
	local i pid rss ticks
	for i in "${!names[@]}"; do
		[[ ${names[$i]} == "$1" ]] || continue
		pid=${pids[$i]}
		rss=$(awk '/^VmRSS:/ {printf "%.0f MB", $2/1024}' "/proc/$pid/status" 2>/dev/null || echo "? MB")
		ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo "")
		if [[ -n $ticks ]]; then
			printf '%s: %s resident, %s s of CPU in all\n' "$1" "$rss" "$(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", t / hz}')"
		else
			printf '%s: %s resident\n' "$1" "$rss"
		fi
	done
}

if [[ -z $LOADBENCH_BIN ]]; then
	LOADBENCH_BIN=$work/loadbench
	go build -o "$LOADBENCH_BIN" ./cmd/loadbench
fi

targets=()
extra_names=() extra_targets=()
agent_target=() sb_target=()
events_url="http://$HOST:$DATAFILE_PORT/events" sb_events=()
if [[ $EVENTS == on ]]; then
	port_free "$EVENTS_PORT" || die "port $HOST:$EVENTS_PORT is in use"
	go build -o "$work/eventsink" ./cmd/eventsink
	start eventsink "$work/eventsink" "$HOST:$EVENTS_PORT"
	wait_until eventsink "listens" curl -s --max-time 2 -o /dev/null -X POST -H 'Content-Type: application/json' -d '{}' "http://$HOST:$EVENTS_PORT/probe"
	events_url="http://$HOST:$EVENTS_PORT/agent/v1/events"
	sb_events=(--events-url "http://$HOST:$EVENTS_PORT/stickybucket/v1/events")
	if [[ -n $EVENTS_BATCH ]]; then
		[[ $EVENTS_BATCH =~ ^[1-9][0-9]*$ ]] || die "EVENTS_BATCH $EVENTS_BATCH: want a positive number"
		[[ -z ${SB_CONFIGS:-} ]] || die "EVENTS_BATCH and SB_CONFIGS cannot be used together"
		printf 'events:\n  batch_size: %s\n' "$EVENTS_BATCH" >"$work/events.yaml"
		sb_events+=(--config "$work/events.yaml")
		agent_batch="  batchSize: $EVENTS_BATCH"
	fi
fi
if [[ -n $AGENT_BIN ]]; then
	for p in "$AGENT_PORT" "$AGENT_ADMIN_PORT" "$AGENT_WEBHOOK_PORT" "$DATAFILE_PORT"; do
		port_free "$p" || die "port $HOST:$p is in use"
	done
	mkdir -p "$work/datafiles"
	cp "$DATAFILE" "$work/datafiles/$SDK_KEY.json"
	start datafiles python3 -m http.server "$DATAFILE_PORT" --bind "$HOST" --directory "$work/datafiles"
	wait_until datafiles "serves $SDK_KEY.json" curl -sf --max-time 2 -o /dev/null "http://$HOST:$DATAFILE_PORT/$SDK_KEY.json"
	cat >"$work/agent.yaml" <<-EOF
		log:
		  level: warn
		server:
		  host: $HOST
		api:
		  port: "$AGENT_PORT"
		admin:
		  port: "$AGENT_ADMIN_PORT"
		webhook:
		  port: "$AGENT_WEBHOOK_PORT"
		client:
		  datafileURLTemplate: "http://$HOST:$DATAFILE_PORT/%s.json"
		  eventURL: "$events_url"
		${agent_batch:-}
		  pollingInterval: 1m
		  odp:
		    disable: true
		  userProfileService:
		    default: "in-memory"
		    services:
		      in-memory:
		        capacity: 0
		        storageStrategy: "fifo"
	EOF
	start agent env OPTIMIZELY_CONFIG_FILENAME="$work/agent.yaml" "$AGENT_BIN"
	wait_until agent "decides $FLAG" decides "$AGENT_PORT"
	targets+=(--target "agent=http://$HOST:$AGENT_PORT" --pid "agent=${pids[-1]}")
	agent_url=http://$HOST:$AGENT_PORT agent_pid=${pids[-1]}
	agent_target=(--target "agent=$agent_url" --pid "agent=$agent_pid")
fi
# start_extra NAME CMD…: one more stickybucket target, CMD (a serve
# command line) on the next two ports from $port, with the datafile and
# the events flags; waits until it decides.
start_extra() {
	local name=$1 p
	shift
	for p in "$port" "$((port + 1))"; do
		port_free "$p" || die "port $HOST:$p is in use"
	done
	start "$name" "$@" --listen "$HOST:$port" --admin-listen "$HOST:$((port + 1))" \
		--datafile "$SDK_KEY=$DATAFILE" "${sb_events[@]}"
	wait_until "$name" "decides $FLAG" decides "$port"
	targets+=(--target "$name=http://$HOST:$port" --pid "$name=${pids[-1]}")
	extra_targets+=(--target "$name=http://$HOST:$port" --pid "$name=${pids[-1]}")
	extra_names+=("$name")
	port=$((port + 2))
}

if [[ -n $STICKYBUCKET_BIN ]]; then
	for p in "$SB_PORT" "$SB_ADMIN_PORT"; do
		port_free "$p" || die "port $HOST:$p is in use"
	done
	start "$SB_NAME" "$STICKYBUCKET_BIN" serve --listen "$HOST:$SB_PORT" --admin-listen "$HOST:$SB_ADMIN_PORT" \
		--datafile "$SDK_KEY=$DATAFILE" "${sb_events[@]}"
	wait_until "$SB_NAME" "decides $FLAG" decides "$SB_PORT"
	targets+=(--target "$SB_NAME=http://$HOST:$SB_PORT" --pid "$SB_NAME=${pids[-1]}")
	sb_url=http://$HOST:$SB_PORT sb_pid=${pids[-1]}
	sb_target=(--target "$SB_NAME=$sb_url" --pid "$SB_NAME=$sb_pid")
	port=$((SB_ADMIN_PORT + 1))
	for spec in ${SB_CONFIGS:-}; do
		name=${spec%%=*} cfg=$(abs "${spec#*=}")
		[[ $name =~ ^[A-Za-z0-9_.-]+$ && -f $cfg ]] || die "SB_CONFIGS entry $spec: want NAME=CONFIG.yaml with an existing file"
		start_extra "$name" "$STICKYBUCKET_BIN" serve --config "$cfg"
	done
	for spec in ${SB_ENVS:-}; do
		name=${spec%%:*} vars=${spec#*:}
		[[ $spec == *:* && $name =~ ^[A-Za-z0-9_.-]+$ && $vars =~ ^[A-Za-z_][A-Za-z0-9_]*=[^,]*(,[A-Za-z_][A-Za-z0-9_]*=[^,]*)*$ ]] ||
			die "SB_ENVS entry $spec: want NAME:VAR=VALUE[,VAR=VALUE…]"
		IFS=, read -ra envs <<<"$vars"
		start_extra "$name" env "${envs[@]}" "$STICKYBUCKET_BIN" serve
	done
fi
if [[ -n ${FLOORS:-} ]]; then
	go build -o "$work/httpfloor" ./cmd/httpfloor
	port=${port:-$((SB_ADMIN_PORT + 1))}
	for f in $FLOORS; do
		port_free "$port" || die "port $HOST:$port is in use"
		start "floor-$f" "$work/httpfloor" --server "$f" --flag "$FLAG" "$HOST:$port"
		wait_until "floor-$f" "answers" decides "$port"
		targets+=(--target "floor-$f=http://$HOST:$port" --pid "floor-$f=${pids[-1]}")
		extra_targets+=(--target "floor-$f=http://$HOST:$port" --pid "floor-$f=${pids[-1]}")
		extra_names+=("floor-$f")
		port=$((port + 1))
	done
fi

common=(--users "$USERS" --rounds "$ROUNDS" --duration "$DURATION" --warmup "$WARMUP" --max-requests "$MAX_REQUESTS")
[[ -n $ATTRIBUTES ]] && common+=(--attributes "$ATTRIBUTES")
mkdir -p "$(dirname "$RESULTS")"
status=0
written=()

# measure SUFFIX ARGS…: one loadbench run, to RESULTS<SUFFIX>.json and
# .svg; a failed run is logged and sets the exit status.
measure() {
	local suffix=$1 rc=0
	shift
	local args=("$@" "${common[@]}" --out "$RESULTS$suffix.json" --svg "$RESULTS$suffix.svg")
	log "running: loadbench ${args[*]}"
	# In the background, so that a TERM or INT for this script is handled
	# at once (stop passes it on to the driver) rather than after the run.
	"$LOADBENCH_BIN" "${args[@]}" &
	pids+=("$!")
	names+=(loadbench)
	wait "$!" || rc=$?
	if ((rc != 0)); then
		log "loadbench exited with status $rc"
		status=1
	fi
	[[ -s $RESULTS$suffix.json ]] && written+=("$RESULTS$suffix")
	return 0
}

has_run() { [[ " $RUNS " == *" $1 "* ]]; }

if has_run decide; then
	args=("${targets[@]}" --flag "$FLAG" --sdk-key "$SDK_KEY" --clients "$CLIENTS")
	[[ -n $AGENT_BIN && -n $STICKYBUCKET_BIN ]] && args+=(--baseline agent)
	measure "" "${args[@]}"
fi
if has_run rates && [[ -n $AGENT_BIN && -n $STICKYBUCKET_BIN ]]; then
	for rate in $RATES; do
		measure "-rate$rate" "${agent_target[@]}" "${sb_target[@]}" "${extra_targets[@]}" --flag "$FLAG" --sdk-key "$SDK_KEY" \
			--rate "$rate" --clients "$RATE_CLIENTS" --baseline agent
	done
fi
if has_run ups && [[ -n $STICKYBUCKET_BIN ]]; then
	# Every lookup target after the decide runs, so profiles exist; the
	# saves last, since they rewrite them.
	lookups=(
		--target "$SB_NAME-lookup=$sb_url" --route "$SB_NAME-lookup=lookup" --pid "$SB_NAME-lookup=$sb_pid"
		--target "$SB_NAME-ups-lookup=$sb_url" --route "$SB_NAME-ups-lookup=ups-lookup" --pid "$SB_NAME-ups-lookup=$sb_pid"
	)
	if [[ -n $AGENT_BIN ]]; then
		lookups=(--target "agent-lookup=$agent_url" --route "agent-lookup=lookup" --pid "agent-lookup=$agent_pid" "${lookups[@]}")
	fi
	measure "-ups" "${lookups[@]}" \
		--target "$SB_NAME-ups-save=$sb_url" --route "$SB_NAME-ups-save=ups-save" --pid "$SB_NAME-ups-save=$sb_pid" \
		--sdk-key "$SDK_KEY" --clients "$CLIENTS" --baseline "$SB_NAME-lookup"
	for rate in $UPS_RATES; do
		measure "-ups-rate$rate" "${lookups[@]}" --sdk-key "$SDK_KEY" --rate "$rate" --clients "$RATE_CLIENTS" \
			--baseline "$SB_NAME-lookup"
	done
fi
for name in agent "$SB_NAME" "${extra_names[@]}"; do
	alive "$name" && usage "$name"
done
for f in "${written[@]}"; do
	log "wrote $f.json and $f.svg"
done
exit "$status"
