import shutil
import subprocess
from pathlib import Path

from conftest import skip_missing_dependency

REPO = Path(__file__).resolve().parents[1]


def test_ruff_is_clean():
    ruff = shutil.which("ruff")
    if ruff is None:
        skip_missing_dependency("ruff (pip install -e '.[dev]')")
    proc = subprocess.run([ruff, "check", "paintscape", "tests", "benchmarks", "docs"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
