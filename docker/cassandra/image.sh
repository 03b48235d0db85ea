#!/usr/bin/env bash
# Prints the name of the Cassandra image the integration tests should use
# (on stdout; progress goes to stderr), making sure the Docker engine runs
# and the image is present:
#   1. $STICKYBUCKET_CASSANDRA_IMAGE, or the official cassandra:5.0, if it is
#      already local or can be pulled;
#   2. otherwise the image built from Debian's JRE and Maven Central's
#      Cassandra jars by build.sh (machines that cannot reach a registry),
#      named after a hash of its build inputs (tag.sh), so a changed
#      entrypoint or configuration is always rebuilt before it is used.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
local_image=$("$here/tag.sh")
want=${STICKYBUCKET_CASSANDRA_IMAGE:-cassandra:5.0}

"$here/../engine.sh" >&2

if docker image inspect "$want" >/dev/null 2>&1; then
	echo "$want"
	exit 0
fi
if [ "$want" != "$local_image" ]; then
	echo "image.sh: trying to pull $want" >&2
	if timeout "${PULL_TIMEOUT:-120}" docker pull "$want" >&2; then
		echo "$want"
		exit 0
	fi
	if [ -n "${STICKYBUCKET_CASSANDRA_IMAGE:-}" ]; then
		echo "image.sh: STICKYBUCKET_CASSANDRA_IMAGE=$want cannot be pulled; unset it to build $local_image" >&2
		exit 1
	fi
	echo "image.sh: $want cannot be pulled here; building $local_image instead" >&2
fi
"$here/build.sh" >&2
echo "$local_image"
