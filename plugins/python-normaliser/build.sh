#!/usr/bin/env bash
# Builds the Python normaliser into a WebAssembly component (world `normaliser`).
#
#   plugins/python-normaliser/build.sh [OUTPUT.wasm]
#
# OUTPUT defaults to target/plugins/python_normaliser.wasm in the repository.
# Needs python3 (3.9+; 3.11+ also runs the unit tests) and, the first time
# only, PyPI for the pinned componentize-py in requirements.txt. After that the
# build needs no network. Environment:
#   PYTHON_NORMALISER_VENV  where the venv lives (default target/python-normaliser-venv)
#   PYTHON                  the interpreter that creates the venv (default python3)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$root/target/plugins/python_normaliser.wasm}"
# The build runs in a scratch directory: make a relative output path absolute.
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
venv="${PYTHON_NORMALISER_VENV:-$root/target/python-normaliser-venv}"
python="${PYTHON:-python3}"
pinned="$(grep -E '^componentize-py==' "$here/requirements.txt")"

# A venv with exactly the pinned componentize-py, made once and reused.
if [ "$("$venv/bin/componentize-py" --version 2>/dev/null | sed 's/ /==/')" != "$pinned" ]; then
  echo "== installing $pinned into $venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
fi
cpy="$venv/bin/componentize-py"

# Build from scratch copies so no bytecode or bindings land in the source tree.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/test" "$work/app" "$work/env/lib/site-packages"

# The unit tests run app.py under the host's CPython with generated bindings.
if "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "== unit tests (CPython $("$python" -c 'import platform; print(platform.python_version())'))"
  cp "$here/app.py" "$here/test_app.py" "$work/test/"
  "$cpy" --quiet -d "$root/wit" -w normaliser bindings "$work/test"
  (cd "$work/test" && PYTHONDONTWRITEBYTECODE=1 "$python" -m unittest -q test_app)
else
  echo "== skipping unit tests: the generated bindings need Python 3.11 or later"
fi

echo "== componentize -> $out"
mkdir -p "$(dirname "$out")"
cp "$here/app.py" "$work/app/"
# The app's path is only $work/app: componentize-py also appends the
# site-packages of $VIRTUAL_ENV (else of the host's Python), so point it at an
# empty one lest whatever the building machine has installed reach the guest.
(cd "$work/app" && VIRTUAL_ENV="$work/env" "$cpy" --quiet -d "$root/wit" -w normaliser \
  componentize -p "$work/app" app -o "$out")
echo "$(wc -c < "$out") bytes"
