#!/usr/bin/env bash
# The GPU check: relukit-cuda's tests, compute-sanitizer and the benchmarks on a machine
# with an NVIDIA GPU. The GPU machine has no Rust, so it runs in two steps:
#   here:   bash scripts/gpu-check.sh --build   # target/gpu-check/: the test binaries, relukit
#   there:  bash scripts/gpu-check.sh           # writes $OUT (or ./gpu-check-out) and prints
# The run there (under 9 minutes on an H100/H200, each step capped):
#   1. the GPU tests (bit-exact against relukit's CPU functions; tests/gpu.rs) with
#      RELUKIT_REQUIRE_GPU=1, and the NVRTC compile tests;
#   2. compute-sanitizer memcheck and racecheck on the GPU tests (RELUKIT_GPU_QUICK=1:
#      fewer lengths, every kernel);
#   3. `relukit bench --device cuda` and PyTorch's side (scripts/gpu_bench_torch.py);
#   4. the CPU table on that machine's cores (`relukit bench --threads <all>`);
#   5. the Python package on CUDA tensors and CuPy arrays, then its benchmark
#      (scripts/gpu_bench_python.py: per call at 2^10, bandwidth at 2^24) (python/tests/test_cuda.py,
#      test_cuda_arrays.py, test_cuda_models.py (the tracker, ReDo and continual backprop
#      on a CUDA model), test_torch.py; RELUKIT_REQUIRE_GPU=1: no skipping): the
#      wheel built here, with pytest and ml_dtypes wheels fetched here (the GPU machine
#      reaches no registry), installed there beside its PyTorch and CuPy.
# NVRTC: RELUKIT_NVRTC_DIR if set, else the nvidia-cuda-nvrtc beside PyTorch, else the CUDA
# toolkit's.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=target/gpu-check

if [ "${1:-}" = "--build" ]; then
    set -e
    rm -rf "$bin" && mkdir -p "$bin"
    cargo build --release -p relukit-cli
    cp target/release/relukit "$bin/"
    cargo test --release -p relukit-cuda --no-run --message-format=json 2>/dev/null |
        python3 -c '
import json, shutil, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] in (["test"], ["lib"]):
        name = m["target"]["name"] if m["target"]["kind"] == ["test"] else "unit"
        shutil.copy(m["executable"], sys.argv[1] + "/test-" + name)
' "$bin"
    maturin=${MATURIN:-$(command -v maturin || echo target/test-venv/bin/maturin)}
    if [ ! -x "$maturin" ]; then # a fresh machine: maturin into a virtualenv of its own
        python3 -m venv target/maturin-venv
        target/maturin-venv/bin/python -m pip install --quiet --disable-pip-version-check "maturin>=1.5,<2"
        maturin=target/maturin-venv/bin/maturin
    fi
    "$maturin" build --release --quiet --out "$bin/wheels"
    # pytest (pure Python) and ml_dtypes for the Python versions the GPU machine may have.
    python3 -m pip download --quiet --dest "$bin/wheels" pytest
    for v in 3.10 3.11 3.12 3.13; do
        python3 -m pip download --quiet --dest "$bin/wheels" --only-binary=:all: --no-deps \
            --python-version "$v" ml_dtypes || true
    done
    ls -la "$bin" "$bin/wheels"
    exit 0
fi

out=${OUT:-gpu-check-out}
mkdir -p "$out"
log="$out/gpu-check.log"
status=0
step() { # name, command...
    local name=$1
    shift
    echo "=== $name" | tee -a "$log"
    local start=$SECONDS
    if "$@" >>"$log" 2>&1; then
        echo "    ok ($((SECONDS - start)) s)" | tee -a "$log"
    else
        echo "    FAILED ($((SECONDS - start)) s): see $log" | tee -a "$log"
        status=1
    fi
}

if [ -z "${RELUKIT_NVRTC_DIR:-}" ]; then
    dir=$(python3 -c 'import nvidia, os; [print(os.path.join(p, "cu13", "lib")) for p in nvidia.__path__]' 2>/dev/null | head -1)
    [ -n "$dir" ] && [ -d "$dir" ] || dir=/usr/local/cuda/lib64
    export RELUKIT_NVRTC_DIR=$dir
fi
{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    echo "RELUKIT_NVRTC_DIR=$RELUKIT_NVRTC_DIR"; ls "$RELUKIT_NVRTC_DIR" | grep nvrtc
    python3 -c 'import torch; print("PyTorch", torch.__version__, "CUDA", torch.version.cuda)'
    lscpu | grep -E "Model name|^CPU\(s\)"
} 2>&1 | tee -a "$log"

if [ -z "${RELUKIT_PTXAS:-}" ]; then
    RELUKIT_PTXAS=$(command -v ptxas || echo /usr/local/cuda/bin/ptxas)
    export RELUKIT_PTXAS
fi
export RELUKIT_REQUIRE_GPU=1 RELUKIT_REQUIRE_NVRTC=1
step "unit tests (host logic)" timeout 20 "$bin/test-unit"
step "compile tests" timeout 40 "$bin/test-compile"
step "GPU tests" timeout 120 "$bin/test-gpu" --test-threads=1
sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
step "compute-sanitizer memcheck" timeout 90 env RELUKIT_GPU_QUICK=1 "$sanitizer" --tool memcheck \
    --error-exitcode 1 "$bin/test-gpu" --test-threads=1
step "compute-sanitizer racecheck" timeout 60 env RELUKIT_GPU_QUICK=1 "$sanitizer" --tool racecheck \
    --error-exitcode 1 "$bin/test-gpu" --test-threads=1 prelu_f32 prelu_bf16
step "relukit bench --device cuda" timeout 60 "$bin/relukit" bench --device cuda --max-size 1GiB --out "$out/bench-cuda"
cp "$out/bench-cuda/bench-cuda.md" "$out/relukit-cuda.md" 2>/dev/null
step "PyTorch benchmark" timeout 80 sh -c "PYTHONUNBUFFERED=1 python3 scripts/gpu_bench_torch.py > '$out/torch.md'"
step "CPU bench on all cores" timeout 60 "$bin/relukit" bench --threads "$(nproc)" --max-size 256MiB \
    --seconds 0.03 --out "$out/bench-cpu"
cp "$out/bench-cpu/bench.csv" "$out/cpu-bench.csv" 2>/dev/null
rm -rf "$out/bench-cuda" "$out/bench-cpu"
venv=$(mktemp -d)/venv
python3 -m venv --system-site-packages "$venv" >>"$log" 2>&1 &&
    "$venv/bin/python" -m pip install --quiet --no-index --find-links "$bin/wheels" relukit pytest ml_dtypes >>"$log" 2>&1
step "Python: relukit.torch on CUDA tensors, relukit.cuda on CuPy arrays, the tracker and recyclers on a CUDA model" timeout 180 \
    env RELUKIT_REQUIRE_OPTIONAL=1 RELUKIT_REQUIRE_GPU=1 "$venv/bin/python" -m pytest -q -p no:cacheprovider \
    python/tests/test_cuda.py python/tests/test_cuda_arrays.py python/tests/test_cuda_models.py python/tests/test_torch.py
step "Python paths benchmark (relukit.torch, relukit.cuda)" timeout 90 sh -c \
    "PYTHONUNBUFFERED=1 '$venv/bin/python' scripts/gpu_bench_python.py > '$out/python.md'"
cat "$out"/*.md
exit $status
