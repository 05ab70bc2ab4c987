#!/usr/bin/env bash
# The GPU check of issue 21, one prepared script that fits 10 minutes on one GPU:
#   bench/gpu_check.sh [OUT_DIR]          on a GPU: the CUDA test subset, then bench/gpu_check.py (ampcf on ml-1m
#                                         to convergence in fp32 and bf16, an epoch of 1M synthetic users, the
#                                         kernel's share of the GPU's matmul, peak GPU memory) -> OUT_DIR/gpu_check.json
#   bench/gpu_check.sh --cpu-smoke FILE   anywhere: the same script on tiny sizes on the CPU (CI runs it, ~10 s)
# PYTHON picks the interpreter (default: python). ml-1m must be in the dataset cache (personae datasets fetch ml-1m).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if [ "${1:-}" = "--cpu-smoke" ]; then
  exec "$PYTHON" bench/gpu_check.py --device cpu --smoke --json "${2:-/tmp/gpu_check_smoke.json}"
fi

OUT_DIR="${1:-bench/results}"
mkdir -p "$OUT_DIR"
if ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_check: no CUDA device here; run 'bench/gpu_check.sh --cpu-smoke FILE' for the CPU check" >&2
  exit 2
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
uptime
echo "== CUDA test subset"
timeout 150 "$PYTHON" -m pytest -q -p no:cacheprovider tests/device_cuda tests/test_device_cpu.py \
  tests/test_scoring_kernel.py 2>&1 | tail -n 15 | tee "$OUT_DIR/gpu_check_tests.txt"
echo "== measurements"
timeout 420 "$PYTHON" bench/gpu_check.py --device cuda --json "$OUT_DIR/gpu_check.json"
