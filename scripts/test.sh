#!/usr/bin/env bash
# Every check a reviewer would run, in one command: formatting, lints, docs, and all
# tests (unit, integration, doc tests, and one checked pass of each benchmark).
# It sets up what it needs itself; a fresh machine needs only Rust.
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
