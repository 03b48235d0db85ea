#!/usr/bin/env bash
# Runs the service image the way the README shows, and checks it: host
# network on a loopback address, read-only root file system, every
# capability dropped, no privilege escalation, the configuration and a
# datafile mounted read-only. It must turn healthy (its HEALTHCHECK),
# run as the unprivileged user, decide a user and export metrics. The
# container is removed whatever happens. Every wait is bounded.
#
#   smoke.sh IMAGE
set -euo pipefail
image=${1:?usage: smoke.sh IMAGE}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
addr=127.0.$(( RANDOM % 200 + 20 )).$(( RANDOM % 250 + 2 ))
name=stickybucket-smoke-$$
dir=$(mktemp -d)
cleanup() {
	docker rm -f "$name" >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The files must be readable by the image's user (65532).
cp "$root/examples/datafile-v1.json" "$dir/sample.json"
cat >"$dir/stickybucket.yaml" <<YAML
environments:
  development:
    replication: {class: SimpleStrategy, replication_factor: 1}
server:
  listen: $addr:8080
  admin_listen: $addr:8088
datafiles:
  - {sdk_key: sample, file: /etc/stickybucket/sample.json}
YAML
chmod 0755 "$dir"
chmod 0644 "$dir"/*

docker run -d --name "$name" --network host --read-only --cap-drop ALL \
	--security-opt no-new-privileges -v "$dir:/etc/stickybucket:ro" "$image" >/dev/null

fail() {
	echo "smoke.sh: $1" >&2
	docker logs --tail 20 "$name" >&2 || true
	exit 1
}
status=
for _ in $(seq 1 60); do
	status=$(docker inspect --format '{{ .State.Status }}/{{ .State.Health.Status }}' "$name")
	case $status in
	running/healthy) break ;;
	running/*) sleep 1 ;;
	*) fail "container is $status" ;;
	esac
done
[ "$status" = running/healthy ] || fail "not healthy after 60s ($status)"

user=$(docker inspect --format '{{ .Config.User }}' "$image")
uid=$(docker top "$name" -o pid,uid | awk 'NR > 1 { print $2 }' | sort -u)
[ "$user" = 65532:65532 ] && [ "$uid" = 65532 ] || fail "runs as $user (uid $uid), want 65532:65532"

answer=$(curl -sS -m 5 -H 'Content-Type: application/json' "http://$addr:8080/v1/decide?keys=new_search" \
	-d '{"userId":"alice","userAttributes":{"plan":"pro","app_version":"3.2.0"}}')
case $answer in
*'"variationKey":'*) ;;
*) fail "decide answered: $answer" ;;
esac
curl -sS -m 5 -o "$dir/metrics" "http://$addr:8088/metrics" || fail "GET /metrics failed"
grep -q '^stickybucket_decisions_total' "$dir/metrics" || fail "/metrics has no stickybucket_decisions_total"
health=$(docker inspect --format '{{ (index .State.Health.Log 0).Output }}' "$name" | tr -d '\n')
# PID 1 gets SIGTERM from docker stop: it must drain and exit 0 well
# within the stop timeout (no SIGKILL).
start=$(date +%s%N)
docker stop -t 20 "$name" >/dev/null
stopped_ms=$(( ($(date +%s%N) - start) / 1000000 ))
code=$(docker inspect --format '{{ .State.ExitCode }}' "$name")
[ "$code" = 0 ] || fail "exited $code after docker stop"
size=$(docker image inspect --format '{{ .Size }}' "$image")

echo "smoke.sh: $image ($(( size / 1024 / 1024 )) MiB): healthy in a read-only container as uid $uid on $addr"
echo "smoke.sh:   health check: $health"
echo "smoke.sh:   decide: $answer"
echo "smoke.sh:   docker stop: exit 0 after $stopped_ms ms"
