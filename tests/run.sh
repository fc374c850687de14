#!/usr/bin/env bash
# The test command (README): everything a fresh machine needs, then every test.
#
#   tests/run.sh
#
# Installs the wasm32-wasip2 target if missing, builds the Python plugin (its
# componentize-py comes from PyPI the first time), then runs the host's tests
# (unit and integration, against real hubs and real plugins) and the plugins'
# own unit tests.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2
fi

plugins/python-normaliser/build.sh "$PWD/target/plugins/python_normaliser.wasm"
export ENTREX_PYTHON_PLUGIN="$PWD/target/plugins/python_normaliser.wasm"

cargo test --workspace
cargo test --manifest-path plugins/Cargo.toml
