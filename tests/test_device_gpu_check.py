"""bench/gpu_check.sh in its CPU smoke mode: the GPU check script stays runnable where no GPU exists."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_gpu_check_runs_its_every_part_on_the_cpu_in_smoke_mode(tmp_path):
    target = tmp_path / "gpu_check.json"
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), "--cpu-smoke", str(target)], check=True, env=env,
                   capture_output=True, text=True, timeout=300)
    result = json.loads(target.read_text())
    assert result["smoke"] and result["device"].startswith("CPU")
    assert [run["precision"] for run in result["ml1m"]["runs"]] == ["fp32", "bf16"]
    assert all(0 < run["test_ndcg@10"] <= 1 for run in result["ml1m"]["runs"])
    assert result["epoch"]["events"] > 0 and result["epoch"]["epoch_seconds"] > 0
    assert math.isfinite(result["kernel"]["share_of_matmul"]) and result["kernel"]["share_of_matmul"] > 0
    assert result["kernel"]["peak_gpu_mib"] is None  # no GPU memory is claimed on the CPU


def test_the_full_gpu_check_refuses_to_run_without_a_gpu_in_one_line(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), str(tmp_path)], check=False, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "no CUDA device here" in done.stderr
