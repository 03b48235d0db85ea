#!/usr/bin/env bash
# Runs every test of the Java client: unit tests against the JDK's HttpServer,
# and the SDK differential and fail-open tests against a real
# `stickybucket serve` (from $STICKYBUCKET_BIN, else built here with go).
# The benchmark is not part of it: see README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if ! command -v mvn >/dev/null || ! command -v javac >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test.sh: installing Maven and a JDK with apt-get" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven openjdk-17-jdk-headless >/dev/null
  else
    echo "test.sh: needs JDK 17+ (javac) and Maven (mvn) on PATH" >&2
    exit 1
  fi
fi

tmp=""
cleanup() { if [ -n "$tmp" ]; then rm -rf "$tmp"; fi; }
trap cleanup EXIT

if [ -z "${STICKYBUCKET_BIN:-}" ]; then
  tmp="$(mktemp -d)"
  echo "test.sh: building stickybucket from $root" >&2
  (cd "$root" && go build -o "$tmp/stickybucket" ./cmd/stickybucket)
  STICKYBUCKET_BIN="$tmp/stickybucket"
fi
export STICKYBUCKET_BIN

cd "$here"
rm -rf target/surefire-reports
status=0
mvn -q -B test "$@" || status=$?

# -q hides Surefire's own summary; add one from its reports.
if compgen -G "target/surefire-reports/TEST-*.xml" >/dev/null; then
  awk '
    /<testsuite / {
      n = split($0, parts, " ")
      for (i = 1; i <= n; i++) {
        if (match(parts[i], /^(name|tests|failures|errors|skipped|time)="[^"]*"/)) {
          split(parts[i], kv, "=")
          gsub(/"/, "", kv[2]); v[kv[1]] = kv[2]
        }
      }
      sub(/.*\./, "", v["name"])
      printf "%-26s %3d tests, %d failed, %d errors, %d skipped, %ss\n", v["name"], v["tests"], v["failures"], v["errors"], v["skipped"], v["time"]
      t += v["tests"]; f += v["failures"] + v["errors"]; s += v["skipped"]
    }
    END { printf "%d passed, %d failed, %d skipped\n", t - f - s, f, s }
  ' target/surefire-reports/TEST-*.xml
fi
exit "$status"
