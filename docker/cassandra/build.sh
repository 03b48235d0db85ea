#!/usr/bin/env bash
# Builds the local Cassandra 5.0 image without any container registry:
#   1. a Debian bookworm root filesystem with OpenJDK 17 (mmdebstrap), imported
#      as stickybucket/jre17:bookworm;
#   2. Apache Cassandra 5.0's jars and dependencies from Maven Central (pom.xml);
#   3. docker build of this directory's Dockerfile on top.
# The image is named by tag.sh after a hash of its build inputs (Dockerfile,
# entrypoint.sh, cassandra.yaml, logback.xml, pom.xml) and labelled
# dev.stickybucket.inputs=<hash>: editing any input makes the next run build
# a new image instead of silently reusing the old one.
# Idempotent: does nothing when the image for the current inputs exists,
# unless FORCE=1 (which rebuilds the base image too).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
image=$("$here/tag.sh")
hash=$("$here/tag.sh" --hash)
base=stickybucket/jre17:bookworm
work="$here/build"

"$here/../engine.sh"

if [ "${FORCE:-0}" != 1 ]; then
	have=$(docker image inspect --format '{{ index .Config.Labels "dev.stickybucket.inputs" }}' "$image" 2>/dev/null || true)
	if [ "$have" = "$hash" ]; then
		echo "build.sh: $image already present"
		exit 0
	fi
fi

# need installs Debian package $2 when command $1 is missing.
need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "$2" >/dev/null
}

step() { echo "build.sh: $1 ($(( $(date +%s) - start ))s so far)"; }
start=$(date +%s)
mkdir -p "$work"

if [ "${FORCE:-0}" = 1 ] || ! docker image inspect "$base" >/dev/null 2>&1; then
	need mmdebstrap mmdebstrap
	step "building the base root filesystem with mmdebstrap"
	rm -f "$work/rootfs.tar"
	mmdebstrap --quiet --variant=apt --include=openjdk-17-jre-headless,procps bookworm "$work/rootfs.tar"
	docker import "$work/rootfs.tar" "$base" >/dev/null
	rm -f "$work/rootfs.tar"
	step "imported $base"
fi

need mvn maven
step "fetching Cassandra jars from Maven Central"
rm -rf "$work/context"
mkdir -p "$work/context/lib"
mvn -B -q -f "$here/pom.xml" dependency:copy-dependencies \
	-DincludeScope=runtime -DoutputDirectory="$work/context/lib"
cp "$here/Dockerfile" "$here/cassandra.yaml" "$here/logback.xml" "$here/entrypoint.sh" "$work/context/"

step "building $image"
DOCKER_BUILDKIT=0 docker build --quiet --network host \
	--label "dev.stickybucket.inputs=$hash" -t "$image" "$work/context" >/dev/null
rm -rf "$work/context"
step "built $image"
