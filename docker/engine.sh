#!/usr/bin/env bash
# Makes sure a Docker engine answers: installs Debian's docker.io if dockerd
# is missing and starts dockerd in the background if none runs. Idempotent.
set -euo pipefail

if docker info >/dev/null 2>&1; then
	exit 0
fi
if ! command -v dockerd >/dev/null 2>&1; then
	echo "engine.sh: installing docker.io from Debian" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq docker.io >/dev/null
fi
log=${DOCKERD_LOG:-/var/log/stickybucket-dockerd.log}
echo "engine.sh: starting dockerd (log: $log)" >&2
# setsid + nohup: the daemon must outlive make and the CI step that started it.
setsid nohup dockerd >"$log" 2>&1 </dev/null &
for _ in $(seq 1 60); do
	if docker info >/dev/null 2>&1; then
		echo "engine.sh: Docker engine ready" >&2
		exit 0
	fi
	sleep 1
done
echo "engine.sh: dockerd did not become ready within 60s; last lines of $log:" >&2
tail -n 30 "$log" >&2 || true
exit 1
