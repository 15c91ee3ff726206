#!/usr/bin/env bash
# Every check a reviewer would run, in one command: formatting, lints, docs, and all
# tests (unit, integration, doc tests, one checked pass of each benchmark, and the
# Python package built as a wheel, installed in a fresh virtualenv and tested there).
# It sets up what it needs itself; a fresh machine needs only Rust and Python 3 with pip.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings denied)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo doc (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

step "Rust tests: unit, integration, examples built, benchmarks checked once"
cargo test --workspace --all-targets --locked

step "Rust doc tests"
cargo test --workspace --doc --locked

step "Python: build the wheel, install it into a fresh virtualenv with the test dependencies"
root=$(pwd)
venv="$(mktemp -d)/venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet "maturin>=1.5,<2"
rm -rf target/wheels
"$venv/bin/maturin" build --release --quiet --out target/wheels
wheel=$(ls target/wheels/relukit-*.whl)
"$venv/bin/python" -m pip install --quiet "${wheel}[test]"

step "Python tests (pytest against the installed package) and stub check"
cd "$(mktemp -d)"
"$venv/bin/python" -c "import relukit; assert 'site-packages' in relukit.__file__, relukit.__file__; print('testing', relukit.__file__)"
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$root/python/tests"
"$venv/bin/python" -m mypy.stubtest relukit
cd "$root"
