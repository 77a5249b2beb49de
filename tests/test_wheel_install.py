"""A built wheel, installed outside the checkout, runs the user's flow: a packaged config by name,
``--resume RUN`` alone, and the run page (the configs travel inside the package).

The wheel is built from a copy of the sources, installed with ``--no-deps`` into a venv that sees the
system's site-packages (torch and the rest come from there; nothing is downloaded), and run from a
folder outside the checkout, so the repository's files cannot be what makes it work.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> str:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.mark.slow
def test_a_wheel_installed_outside_the_checkout_trains_resumes_and_writes_the_run_page(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "paintscape", source / "paintscape", ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(source), "-w", str(wheels)], source, env)
    (wheel,) = wheels.glob("paintscape-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "paintscape/configs/pix2pix_tiny.yaml" in names and "paintscape/web/static/index.html" in names
    assert {"paintscape/class_tables/ade20k150.yaml", "paintscape/class_tables/cocostuff182.yaml"} <= set(names)  # builtin: tables

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)], tmp_path, env)
    work = tmp_path / "elsewhere"  # not the checkout: no configs/ folder, no paintscape/ beside
    work.mkdir()
    where = _run([str(python), "-c", "import paintscape; print(paintscape.__file__)"], work, env).strip()
    assert Path(where).is_relative_to(env_dir), f"the installed wheel is not what runs: {where}"

    paintscape = [str(env_dir / "bin" / "paintscape")]
    _run([*paintscape, "synth", "data", "--count", "6", "--size", "96x64"], work, env)
    out = _run([*paintscape, "train", "pix2pix_tiny", "--data", "data", "--steps", "5", "--out", "runs/p"], work, env)
    assert "trained 5 steps, now at step 5 of 5" in out
    out = _run([*paintscape, "train", "--resume", "runs/p"], work, env)
    assert "runs/p has already finished: step 5 of 5" in out
    page = (work / "runs" / "p" / "report.html").read_text()
    assert "G loss terms" in page and "<svg" in page
    assert "pix2pix_tiny" in _run([*paintscape, "configs"], work, env)
