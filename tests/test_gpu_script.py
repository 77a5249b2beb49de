"""benchmarks/gpu.sh: its dry path (tiny sizes on the CPU) runs every step and writes the docs' rows."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_script_dry_run_writes_the_rows(tmp_path):
    out = tmp_path / "rows.md"
    env = {**os.environ, "DRY": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu.sh"), str(out)], env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    assert "Dry run on the CPU" in text and "SPADE training step at 96x64, batch 2" in text
    assert "| fp32 |" in text and "| bf16 + channels_last |" in text
    assert "label maps / s" in text
    assert "| teacher | " in text and "| student x0.25 | " in text and "torch-bf16" in text
