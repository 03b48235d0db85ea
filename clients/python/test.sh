#!/usr/bin/env bash
# The Python client's tests, from a clean clone: a venv in clients/python/.venv,
# the package installed the way users install it (pip install clients/python),
# and a stickybucket binary from $STICKYBUCKET_BIN or built with go build.
# Extra arguments go to pytest (e.g. ./test.sh -k unit).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="${PYTHON:-python3}"
venv="$here/.venv"

"$python" -c 'import sys; sys.exit(sys.version_info < (3, 9))' || {
  echo "test.sh: Python 3.9 or newer is needed ($python is $("$python" -V 2>&1))" >&2
  exit 1
}
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip -q --disable-pip-version-check)
# The dependencies at the versions of constraints.txt, then the package itself,
# rebuilt from the source every time.
"${pip[@]}" install -c "$here/constraints.txt" "$here" pytest
"${pip[@]}" install --no-deps --force-reinstall "$here"

tmp=""
cleanup() { [[ -z "$tmp" ]] || rm -rf "$tmp"; }
trap cleanup EXIT
if [[ -z "${STICKYBUCKET_BIN:-}" ]]; then
  tmp="$(mktemp -d)"
  echo "test.sh: building stickybucket" >&2
  (cd "$root" && go build -o "$tmp/stickybucket" ./cmd/stickybucket)
  export STICKYBUCKET_BIN="$tmp/stickybucket"
fi

cd "$here"
timeout 900 "$venv/bin/python" -m pytest -q "$@"
