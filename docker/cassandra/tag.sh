#!/usr/bin/env bash
# Prints the name of the local Cassandra image for this directory's build
# inputs: stickybucket/cassandra:5.0-local-<hash>, where <hash> is the first
# 12 hex digits of a SHA-256 over the inputs (names and contents). A change to
# any input names a new image, so build.sh builds it and the tests never run
# a stale entrypoint or configuration; checkouts with different inputs (other
# branches) use different images side by side. With --hash, prints the hash
# alone (build.sh records it as the image's dev.stickybucket.inputs label).
set -euo pipefail
cd "$(dirname "$0")"
hash=$(sha256sum Dockerfile entrypoint.sh cassandra.yaml logback.xml pom.xml | sha256sum | cut -c1-12)
if [ "${1:-}" = --hash ]; then
	echo "$hash"
else
	echo "stickybucket/cassandra:5.0-local-$hash"
fi
