#!/usr/bin/env bash
# Prints the name of the service image for a build context (build.sh's
# build/context: Dockerfile, the stickybucket binary, the CA bundle):
# stickybucket/stickybucket:<hash>, where <hash> is the first 12 hex digits
# of a SHA-256 over those files (names and contents). The binary is built
# reproducibly (-trimpath, fixed ldflags), so the same sources, toolchain,
# version and commit give the same name, and any change gives a new one.
# With --hash, prints the hash alone (build.sh records it as the image's
# dev.stickybucket.inputs label).
#
#   tag.sh [--hash] CONTEXT_DIR
set -euo pipefail
hash_only=0
if [ "${1:-}" = --hash ]; then
	hash_only=1
	shift
fi
if [ $# -ne 1 ] || [ ! -d "$1" ]; then
	echo "usage: tag.sh [--hash] CONTEXT_DIR" >&2
	exit 2
fi
cd "$1"
hash=$(sha256sum Dockerfile stickybucket ca-certificates.crt | sha256sum | cut -c1-12)
if [ "$hash_only" = 1 ]; then
	echo "$hash"
else
	echo "stickybucket/stickybucket:$hash"
fi
