#!/usr/bin/env bash
# Runs every test of the Node client: installs its dev dependencies
# (npm ci), builds the stickybucket server unless STICKYBUCKET_BIN names
# one, type-checks the declarations and runs the tests (node --test)
# against a real `stickybucket serve`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"

node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  echo "test.sh: Node >= 20 is needed, this is $(node --version)" >&2
  exit 1
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/stickybucket-js.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

if [ -z "${STICKYBUCKET_BIN:-}" ]; then
  echo "test.sh: building stickybucket into $tmp" >&2
  (cd "$root" && go build -o "$tmp/stickybucket" ./cmd/stickybucket)
  STICKYBUCKET_BIN="$tmp/stickybucket"
fi
export STICKYBUCKET_BIN

npm ci --no-audit --no-fund --loglevel=error

echo "test.sh: tsc -p test/types" >&2
npx --no-install tsc -p test/types

echo "test.sh: node --test" >&2
# One file at a time: the timing tests should not share 2 cores with the others.
node --test --test-concurrency=1 --test-timeout=120000 \
  test/unit.test.mjs test/modules.test.cjs test/failopen.test.mjs test/sticky.test.mjs
