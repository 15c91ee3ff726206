#!/usr/bin/env bash
# Differential fuzzing under AddressSanitizer (cargo-fuzz, nightly toolchain):
#   bash scripts/fuzz.sh [seconds per target]   (default 60)
# Targets: slices (every public slice function against relukit::reference, every element
# type, length, start offset, slope, weight and layout), ndarray (views of every layout
# against the reference and PReLU's C-order weight gradient), csv (the program's CSV
# reader), monitor_bytes (DeadUnitMonitor::from_bytes). Each kernel input also picks the
# instruction set (every level this CPU has, as RELUKIT_ISA would), serial or threaded
# and plain or non-temporal stores, through relukit's `testing` feature. Not part of the
# test command: it needs nightly Rust and `cargo install cargo-fuzz`. The corpus stays
# in target/fuzz-corpus/ (not committed); a finding is saved under fuzz/artifacts/ and
# the script stops with its log.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
command -v cargo-fuzz >/dev/null || { echo "needs cargo-fuzz: cargo install cargo-fuzz" >&2; exit 2; }
cargo +nightly fuzz build --fuzz-dir fuzz -O
run() { # target isa
    local target=$1 isa=$2 corpus="target/fuzz-corpus/$1" log="target/fuzz-$1-$2.log"
    mkdir -p "$corpus"
    echo "==> $target (RELUKIT_ISA=$isa, ${seconds}s)"
    if ! RELUKIT_ISA=$isa cargo +nightly fuzz run --fuzz-dir fuzz -O "$target" "$corpus" -- \
        -max_total_time="$seconds" -max_len=16384 -rss_limit_mb=4096 -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "FINDING: $target with RELUKIT_ISA=$isa (log: $log; input saved under fuzz/artifacts/$target/)" >&2
        exit 1
    fi
    grep -E "^stat::(number_of_executed_units|peak_rss_mb)" "$log" || true
}
for target in slices ndarray csv monitor_bytes; do
    run "$target" default
done
echo "fuzzing: no findings"
