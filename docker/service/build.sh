#!/usr/bin/env bash
# Builds the service image locally, with nothing pulled from any registry:
#   1. the stickybucket binary, static (CGO_ENABLED=0), -trimpath, stripped,
#      with the version and commit linked into internal/buildinfo
#      (VERSION and COMMIT override git's describe and HEAD);
#   2. docker build of this directory's Dockerfile (FROM scratch) over it
#      and the host's CA bundle (Debian's ca-certificates, installed when
#      missing).
# The image is named by tag.sh after a hash of the build context and
# labelled dev.stickybucket.inputs=<hash>, so changed sources make a new
# image and unchanged ones reuse it; it is also tagged
# stickybucket/stickybucket:latest. Prints the image's name on stdout
# (progress goes to stderr). FORCE=1 rebuilds an image already present.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work="$here/build/context"
GO=${GO:-go}
bundle=/etc/ssl/certs/ca-certificates.crt

# The variables the version and commit are linked into.
pkg=github.com/stickybucket/stickybucket/internal/buildinfo
version=${VERSION:-$(git -C "$root" describe --tags --always --dirty 2>/dev/null || echo dev)}
commit=${COMMIT:-$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)}

"$here/../engine.sh" >&2

if [ ! -s "$bundle" ]; then
	echo "build.sh: installing Debian's ca-certificates for $bundle" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq ca-certificates >/dev/null
fi

rm -rf "$work"
mkdir -p "$work"
echo "build.sh: compiling stickybucket $version ($commit)" >&2
(cd "$root" && CGO_ENABLED=0 GOOS=linux "$GO" build -trimpath -buildvcs=false \
	-ldflags "-s -w -X $pkg.version=$version -X $pkg.commit=$commit" \
	-o "$work/stickybucket" ./cmd/stickybucket)
cp "$here/Dockerfile" "$work/"
cp "$bundle" "$work/ca-certificates.crt"
chmod 0755 "$work/stickybucket"
chmod 0644 "$work/Dockerfile" "$work/ca-certificates.crt"

image=$("$here/tag.sh" "$work")
hash=$("$here/tag.sh" --hash "$work")
have=$(docker image inspect --format '{{ index .Config.Labels "dev.stickybucket.inputs" }}' "$image" 2>/dev/null || true)
if [ "${FORCE:-0}" != 1 ] && [ "$have" = "$hash" ]; then
	echo "build.sh: $image already present" >&2
else
	echo "build.sh: building $image" >&2
	# The legacy builder (BuildKit is not in Debian's docker.io) warns
	# that it is deprecated on every run: its output is shown on failure.
	if ! out=$(DOCKER_BUILDKIT=0 docker build --quiet --network none \
		--label "dev.stickybucket.inputs=$hash" \
		--label "org.opencontainers.image.title=stickybucket" \
		--label "org.opencontainers.image.version=$version" \
		--label "org.opencontainers.image.revision=$commit" \
		-t "$image" "$work" 2>&1); then
		echo "$out" >&2
		echo "build.sh: docker build failed" >&2
		exit 1
	fi
fi
docker tag "$image" stickybucket/stickybucket:latest
rm -rf "$work"
size=$(docker image inspect --format '{{ .Size }}' "$image")
echo "build.sh: $image ($(( size / 1024 / 1024 )) MiB, also tagged stickybucket/stickybucket:latest)" >&2
echo "$image"
