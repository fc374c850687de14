#!/usr/bin/env bash
# The test command (README): everything a fresh machine needs, then every test.
#
#   tests/run.sh
#
# Installs the wasm32-wasip2 target if missing, Chromium (Debian's package)
# if missing, and DuckDB's Python package (PyPI) for the ledger test, builds
# the Python plugin (its componentize-py comes from PyPI the first time),
# then runs the host's tests (unit and integration, against real hubs and
# real plugins) and the plugins' own unit tests.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2
fi

# The dashboard's end-to-end test (tests/it/dashboard.rs) drives headless
# Chromium at /usr/bin/chromium (ENTREX_CHROMIUM names another), which
# Debian's package `chromium` provides. Installed with apt-get as root, or
# through sudo; a machine where neither works is told what to install before
# any test runs, rather than failing that test after ten minutes.
chromium="${ENTREX_CHROMIUM:-/usr/bin/chromium}"
no_chromium() {
  echo "tests/run.sh: the dashboard test needs Chromium at $chromium, and $1." >&2
  echo "  install the Debian package chromium (as root: apt-get install -y chromium), then run tests/run.sh again" >&2
  exit 1
}
if [ ! -x "$chromium" ]; then
  if [ "$(id -u)" = 0 ]; then
    as_root=(env)
  elif command -v sudo >/dev/null; then
    as_root=(sudo env)
  else
    no_chromium "this is not root and sudo is not installed, so it cannot be installed here"
  fi
  command -v apt-get >/dev/null || no_chromium "apt-get is not there to install it"
  echo "== installing chromium (Debian package) for the dashboard test"
  "${as_root[@]}" DEBIAN_FRONTEND=noninteractive apt-get update \
    && "${as_root[@]}" DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium \
    || no_chromium "apt-get could not install it"
  [ -x "$chromium" ] || no_chromium "the package did not provide it"
fi

# The ledger test (tests/it/ledger.rs) reads the Parquet export with DuckDB's
# Python package, pinned in tests/duckdb-requirements.txt: a venv made once
# in target/duckdb-venv, from PyPI the first time.
duckdb_venv="$PWD/target/duckdb-venv"
duckdb_pinned="$(grep -E '^duckdb==' tests/duckdb-requirements.txt)"
if [ "$("$duckdb_venv/bin/python" -c 'import duckdb; print("duckdb==" + duckdb.__version__)' 2>/dev/null)" != "$duckdb_pinned" ]; then
  echo "== installing $duckdb_pinned into $duckdb_venv (for the ledger test)"
  "${PYTHON:-python3}" -m venv "$duckdb_venv"
  "$duckdb_venv/bin/pip" install --quiet --disable-pip-version-check -r tests/duckdb-requirements.txt
fi
export ENTREX_DUCKDB_PYTHON="$duckdb_venv/bin/python"

plugins/python-normaliser/build.sh "$PWD/target/plugins/python_normaliser.wasm"
export ENTREX_PYTHON_PLUGIN="$PWD/target/plugins/python_normaliser.wasm"

cargo test --workspace
cargo test --manifest-path plugins/Cargo.toml
