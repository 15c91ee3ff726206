#!/usr/bin/env bash
# Runs every command README.md shows, so that none can stop working unnoticed. Each
# runs as written, from a scratch folder under target/ (inside the workspace, so cargo
# finds it), except the few listed in the `case` below: the test command itself, and
# those that take minutes or need what a test machine lacks, which run in their nearest
# cheap form. A README command this script does not know is an error: add it here.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work="$root/target/readme-check"
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
cd "$work"
# `relukit study --data my.csv`: any CSV of feature,...,feature,label (a third of the digits).
gzip -dc "$root/data/digits/digits.csv.gz" | awk 'NR % 3 == 0' >my.csv
export PATH="$root/target/release:$PATH"

# A study at its smallest size: one seed, two epochs (or 50 networks per born-dead cell,
# or two tasks of the plasticity study), the command's own --seeds/--epochs/--trials/--tasks
# replaced.
run_small() {
    local cmd
    cmd=$(sed -E 's/ --(seeds|epochs|trials|tasks) [0-9]+//g' <<<"$1")
    case "$cmd" in
    *born-dead*) cmd="$cmd --trials 50" ;;
    *plasticity*) cmd="$cmd --seeds 1 --tasks 2" ;;
    *) cmd="$cmd --seeds 1 --epochs 2" ;;
    esac
    echo "--- $1 (as: $cmd)"
    start=$SECONDS
    $cmd >"$work/out.txt" 2>&1 || { cat "$work/out.txt"; echo "README command failed: $1" >&2; exit 1; }
    echo "    ok in $((SECONDS - start)) s"
}

mapfile -t commands < <(python3 "$root/scripts/readme_commands.py" "$root/README.md")
for cmd in "${commands[@]}"; do
    case "$cmd" in
    "bash scripts/test.sh")
        echo "--- $cmd: this is the command running now" ;;
    "bash scripts/fuzz.sh"*)
        echo "--- $cmd: needs nightly and cargo-fuzz; syntax checked"
        bash -n "$root/scripts/fuzz.sh" ;;
    "bash scripts/gpu-check.sh --build")
        echo "--- $cmd: builds what the test step built (relukit-cuda's tests, the program); syntax checked"
        bash -n "$root/scripts/gpu-check.sh" ;;
    "bash scripts/gpu-check.sh"*)
        echo "--- $cmd: needs a machine with an NVIDIA GPU; syntax checked"
        bash -n "$root/scripts/gpu-check.sh" ;;
    "relukit bench --device cuda"*)
        if relukit bench --device cuda --max-size 4KiB --out "$work/bench-cuda" >"$work/out.txt" 2>&1; then
            echo "--- $cmd --max-size 4KiB: ran on this machine's GPU"
        elif grep -q "no CUDA driver" "$work/out.txt"; then
            echo "--- $cmd: no GPU here, and it says so"
        else
            cat "$work/out.txt"
            echo "README command failed: $cmd" >&2
            exit 1
        fi ;;
    "cargo install"*)
        echo "--- $cmd: installs a program into the user's environment; not run by tests" ;;
    "pip install"*)
        echo "--- $cmd: done by the Python step of the test command (a wheel in a fresh virtualenv)" ;;
    "cargo bench"*)
        echo "--- $cmd --no-run (the benchmarks run once, checked, in the Rust test step)"
        (cd "$root" && $cmd --no-run --quiet) ;;
    "relukit" | "relukit study")
        echo "--- $cmd: the same program and arguments as \`cargo run --release\`, which ran" ;;
    "cargo run --release -p relukit --example tour")
        # The example as the test step built it (test profile, the whole workspace's
        # features: `cargo build` with the same selection finds it up to date): a release
        # build would compile relukit's dev-dependency graph a second time for one
        # example, and `-p relukit` alone would unify features differently and rebuild.
        echo "--- $cmd (as: the test profile's build of the example)"
        start=$SECONDS
        (cd "$root" && cargo build --quiet --locked --profile test --workspace --examples) ||
            { echo "README command failed to build: $cmd" >&2; exit 1; }
        "$root/target/debug/examples/tour" >"$work/out.txt" 2>&1 ||
            { cat "$work/out.txt"; echo "README command failed: $cmd" >&2; exit 1; }
        grep -q "relu" "$work/out.txt" || { cat "$work/out.txt"; echo "tour printed no table" >&2; exit 1; }
        echo "    ok in $((SECONDS - start)) s" ;;
    "cargo run --release")
        # The default study takes minutes: the same program, every condition and
        # activation, at the smallest size (its full run belongs to the benchmarks).
        run_small "$cmd -- study" ;;
    "relukit study"* | "relukit born-dead"* | "relukit plasticity"*)
        run_small "$cmd" ;;
    "python -m relukit")
        echo "--- $cmd: the Python package's copy of the program; run by the Python step (python/tests/test_program.py)" ;;
    "python python/examples/"*)
        echo "--- $cmd: needs PyTorch; run by the Python step (python/tests/test_example.py), timed there" ;;
    "relukit bench"*)
        echo "--- $cmd --max-size 64KiB --seconds 0.01 (the full sizes take minutes)"
        $cmd --max-size 64KiB --seconds 0.01 >/dev/null ;;
    "cargo "* | "relukit "*)
        echo "--- $cmd"
        start=$SECONDS
        $cmd >"$work/out.txt" 2>&1 || { cat "$work/out.txt"; echo "README command failed: $cmd" >&2; exit 1; }
        echo "    ok in $((SECONDS - start)) s"
        ;;
    *)
        echo "README command not known to scripts/check-readme.sh: $cmd" >&2
        exit 1 ;;
    esac
done
