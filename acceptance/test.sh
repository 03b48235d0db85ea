#!/usr/bin/env bash
# Optimizely Agent's own acceptance suite (tests/acceptance in Agent's
# source, unchanged) against `stickybucket serve`, and against Agent itself
# to measure which tests Agent passes offline. From a clean clone: it
# extracts Agent's source, makes a venv in acceptance/.venv with the suite's
# pinned requirements (PyPI), uses $STICKYBUCKET_BIN or builds stickybucket,
# and Agent's cached binary (built from the same source by
# integration/agentbuild if missing). Everything runs on loopback.
#
#   acceptance/test.sh [all|serve|agent] [--record] [pytest arguments]
#
# all (the default): agent, then serve. agent: Agent must pass exactly the
# tests acceptance/agent_passes.txt lists (--record rewrites the list from
# this run). serve: every listed test must pass on serve, but the known
# gaps of acceptance/expectations.py, which must still fail.
#
# Agent's source: $AGENT_SRC_TGZ, else ../shared/anchors/agent/ next to the
# repository. Without it the suite is skipped, or fails under CI=true.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
python="${PYTHON:-python3}"
target=all
case "${1:-}" in all|serve|agent) target=$1; shift ;; esac
record=()
if [[ "${1:-}" == --record ]]; then record=(--record); shift; fi

tgz="${AGENT_SRC_TGZ:-$(dirname "$root")/shared/anchors/agent/agent-src-471fdcd.tgz}"
if [[ ! -f "$tgz" ]]; then
  msg="acceptance/test.sh: Agent's source $tgz not found; set AGENT_SRC_TGZ"
  if [[ "${CI:-}" == true ]]; then echo "$msg" >&2; exit 1; fi
  echo "SKIP $msg" >&2
  exit 0
fi
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 9))' || {
  echo "acceptance/test.sh: Python 3.9 or newer is needed ($python is $("$python" -V 2>&1))" >&2
  exit 1
}

# Agent's suite and its OpenAPI spec, extracted once per tarball content.
sum="$(sha256sum "$tgz" | cut -c1-16)"
src="$here/.work/agent-src-$sum"
if [[ ! -f "$src/.extracted" ]]; then
  rm -rf "$src" && mkdir -p "$src"
  tar -xzf "$tgz" -C "$src" tests/acceptance api/openapi-spec
  touch "$src/.extracted"
fi

# The venv, reinstalled only when the suite's requirements change.
venv="$here/.venv"
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
req="$src/tests/acceptance/requirements.txt"
stamp="$venv/.requirements-$(sha256sum "$req" | cut -c1-16)"
if [[ ! -f "$stamp" ]]; then
  "$venv/bin/python" -m pip -q --disable-pip-version-check install -r "$req"
  touch "$stamp"
fi

tmp=""
cleanup() { [[ -z "$tmp" ]] || rm -rf "$tmp"; }
trap cleanup EXIT
if [[ "$target" != agent && -z "${STICKYBUCKET_BIN:-}" ]]; then
  tmp="$(mktemp -d)"
  echo "acceptance/test.sh: building stickybucket" >&2
  (cd "$root" && go build -o "$tmp/stickybucket" ./cmd/stickybucket)
  STICKYBUCKET_BIN="$tmp/stickybucket"
fi

status=0
if [[ "$target" != serve ]]; then
  agent="$(cd "$root" && AGENT_SRC_TGZ="$tgz" go run ./integration/cmd/agentbin)"
  echo "== Agent's acceptance suite on Agent ($agent)"
  "$venv/bin/python" "$here/run.py" --target agent --agent-src "$src" --bin "$agent" "${record[@]}" "$@" || status=1
fi
if [[ "$target" != agent ]]; then
  echo "== Agent's acceptance suite on serve ($STICKYBUCKET_BIN)"
  "$venv/bin/python" "$here/run.py" --target serve --agent-src "$src" --bin "$STICKYBUCKET_BIN" "$@" || status=1
fi
exit $status
