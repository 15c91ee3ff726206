#!/usr/bin/env bash
# Every check a reviewer would run, in one command: formatting, lints, docs, all tests
# (unit, integration, doc tests, one checked pass of each benchmark, every command the
# README shows), and the Python package built as a wheel, installed in a virtualenv with
# its test dependencies and tested there. It sets up what it needs itself; a fresh
# machine needs only Rust and Python 3 with pip.
#
# The virtualenv is kept on purpose under target/test-venv (recreated when pyproject.toml
# or the Python version changes; `cargo clean` removes it), so that later runs do not
# reinstall the test dependencies; pip's own cache is left where pip keeps it. Everything
# else the run creates goes into a scratch folder removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# Each step says how long the one before it took, and the end the whole run's time.
started=$SECONDS
last=
step() {
    [ -z "$last" ] || printf '    (%d s)\n' $((SECONDS - last))
    last=$SECONDS
    printf '\n==> %s\n' "$*"
}
finish() {
    printf '    (%d s)\n\nall checks passed in %d min %d s\n' $((SECONDS - last)) \
        $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60))
}

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings denied)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo doc (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

step "CUDA compiler tools for the GPU kernels' compile check (NVRTC and ptxas from PyPI, no GPU)"
# relukit-cuda's tests compile every kernel with NVRTC for sm_80 and sm_90 and assemble
# the PTX with ptxas; NVRTC 13.0 is pinned: its PTX (ISA 9.0) is what a CUDA 13.0 driver
# loads. Kept under target/cuda-tools like the test virtualenv.
tools="$root/target/cuda-tools"
tools_stamp="$(python3 --version) nvidia-cuda-nvrtc==13.0.88 nvidia-cuda-nvcc==13.0.88"
if [ ! -x "$tools/bin/python" ] || [ "$(cat "$tools/stamp" 2>/dev/null)" != "$tools_stamp" ]; then
    rm -rf "$tools"
    python3 -m venv "$tools"
    "$tools/bin/python" -m pip install --quiet --disable-pip-version-check \
        nvidia-cuda-nvrtc==13.0.88 nvidia-cuda-nvcc==13.0.88
    echo "$tools_stamp" >"$tools/stamp"
fi
RELUKIT_NVRTC_DIR=$("$tools/bin/python" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13", "lib"))')
export RELUKIT_NVRTC_DIR RELUKIT_REQUIRE_NVRTC=1

# The test virtualenv and the test extra's dependencies (PyTorch with its CUDA libraries:
# mostly unpacking, on one core) are installed in the background while cargo builds and
# runs the Rust tests; the wheel step waits for it. Its output is shown if it fails.
venv="$root/target/test-venv"
stamp="$(python3 --version) $(sha256sum pyproject.toml | cut -c1-16)"
test_deps() {
    if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/stamp" 2>/dev/null)" != "$stamp" ]; then
        rm -rf "$venv"
        python3 -m venv "$venv"
        echo "$stamp" >"$venv/stamp"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "maturin>=1.5,<2"
    # The `test` extra as pyproject.toml lists it (tomllib: Python 3.11+; on older ones
    # the wheel step installs them, as it always checks).
    local extra
    extra=$("$venv/bin/python" -c 'import sys, tomllib; print("\n".join(tomllib.load(open(sys.argv[1], "rb"))["project"]["optional-dependencies"]["test"]))' pyproject.toml 2>/dev/null) || return 0
    mapfile -t extra <<<"$extra"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${extra[@]}"
}
test_deps >"$scratch/test-deps.log" 2>&1 &
test_deps_pid=$!
trap 'kill "$test_deps_pid" 2>/dev/null || true; rm -rf "$scratch"' EXIT
wait_for_test_deps() {
    if ! wait "$test_deps_pid"; then
        cat "$scratch/test-deps.log"
        echo "installing the test dependencies failed (output above)" >&2
        exit 1
    fi
}

step "Rust tests: unit, integration and doc tests, examples built"
# Cargo's default targets: every library's and program's unit tests, the integration
# tests, the examples (built), the doc tests. Not `--lib`, which would also build
# relukit-py's extension as a test binary (`test = false`: it has no tests, and it was
# the largest unit of the test build).
cargo test --workspace --locked

step "Rust benchmarks: each measurement run once, its answer checked"
# `--bench '*'`: the benchmark targets only (`--benches` would run the libraries' unit
# tests a second time). Criterion prints two lines per measurement in this mode: kept
# out of the log.
cargo test --workspace --bench '*' --locked 2>&1 | { grep -v -E '^(Testing |Success$)' || true; }

step "Every command the README shows"
bash scripts/check-readme.sh

step "Python: build the wheel, install it with the test dependencies into target/test-venv"
wait_for_test_deps
rm -rf target/wheels
# Through the package's own build backend, as `pip install .` builds it: maturin's, with
# the program's release binary (built by the step above, in the same target folder)
# bundled into the wheel.
# (maturin's hooks run the `maturin` program found on PATH: the virtualenv's.)
PATH="$venv/bin:$PATH" "$venv/bin/python" -m pip wheel --quiet --disable-pip-version-check --no-deps --no-build-isolation \
    --wheel-dir target/wheels .
wheel=$(ls target/wheels/relukit-*.whl)
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${wheel}[test]"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$wheel"

step "Python lint and format (ruff, pinned in the test extra; settings in pyproject.toml)"
"$venv/bin/ruff" format --check --quiet python
"$venv/bin/ruff" check --quiet python

step "Python tests (pytest against the installed package) and stub check"
cd "$scratch"
export MYPY_CACHE_DIR="$scratch/mypy-cache"
# torch, ml_dtypes and dask are installed above (the `test` extra): their tests must run,
# not skip.
export RELUKIT_REQUIRE_OPTIONAL=1
"$venv/bin/python" -c "import relukit; assert 'site-packages' in relukit.__file__, relukit.__file__; print('testing', relukit.__file__)"
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$root/python/tests"
"$venv/bin/python" -m mypy.stubtest --mypy-config-file "$root/pyproject.toml" \
    --allowlist "$root/python/stubtest-allowlist.txt" relukit
cd "$root"
finish
