"""The suite's skip policy (tests/conftest.py), run on a tiny test file in a pytest subprocess:
under PAINTSCAPE_STRICT_SKIPS=1 a skip for a missing test dependency fails, a skip for missing
external data stays a skip, and every skip is listed at the end."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

TINY_TESTS = """
import pytest
from conftest import skip_missing_dependency

def test_passes():
    pass

def test_needs_a_missing_module():
    pytest.importorskip("paintscape_no_such_module")

def test_needs_a_missing_tool():
    skip_missing_dependency("the frobnicator tool (apt-get install frobnicator)")

def test_needs_external_data(realdata):
    pass

@pytest.fixture
def browser():
    skip_missing_dependency("chromium")

def test_skips_in_a_fixture(browser):
    pass

@pytest.mark.xfail(reason="known limitation", strict=True)
def test_expected_failure():
    assert False
"""


def run_pytest(folder: Path, strict: bool) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PAINTSCAPE_STRICT_SKIPS"}
    if strict:
        env["PAINTSCAPE_STRICT_SKIPS"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(folder), str(folder)],
        cwd=folder, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture
def suite(tmp_path):
    # the project's real conftest, beside a test file; no ../shared/realdata next to tmp_path
    shutil.copy(TESTS / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_tiny.py").write_text(TINY_TESTS)
    assert not (tmp_path.parents[1] / "shared" / "realdata").exists()
    return tmp_path


def test_strict_mode_fails_dependency_skips_and_keeps_data_skips(suite):
    proc = run_pytest(suite, strict=True)
    out = proc.stdout
    assert proc.returncode == 1, out
    assert "2 failed, 1 passed, 1 skipped, 1 xfailed, 1 error" in out, out
    for name in ("test_needs_a_missing_module", "test_needs_a_missing_tool"):
        assert f"FAILED test_tiny.py::{name}" in out, out
    assert "ERROR test_tiny.py::test_skips_in_a_fixture" in out, out  # a fixture's skip fails its setup
    assert "a test may not skip for a missing test dependency" in out
    # the banner lists the one skip left, with its reason, after pytest's own summary
    banner = out.index("1 skipped (dependency skips fail: PAINTSCAPE_STRICT_SKIPS=1)")
    assert banner > out.index("short test summary info")
    assert "SKIPPED test_tiny.py::test_needs_external_data: ../shared/realdata not present" in out[banner:]


def test_without_strict_mode_every_skip_is_a_listed_skip(suite):
    proc = run_pytest(suite, strict=False)
    out = proc.stdout
    assert proc.returncode == 0, out
    assert "1 passed, 4 skipped, 1 xfailed" in out, out
    listed = out[out.index("4 skipped (dependency skips allowed: PAINTSCAPE_STRICT_SKIPS=unset)") :]
    assert "SKIPPED test_tiny.py::test_needs_a_missing_module: could not import 'paintscape_no_such_module'" in listed
    assert "SKIPPED test_tiny.py::test_needs_a_missing_tool: missing test dependency: the frobnicator tool" in listed
    assert "SKIPPED test_tiny.py::test_skips_in_a_fixture: missing test dependency: chromium" in listed
    assert "SKIPPED test_tiny.py::test_needs_external_data: ../shared/realdata not present" in listed


def test_strict_mode_fails_a_module_level_importorskip(tmp_path):
    shutil.copy(TESTS / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_module_skip.py").write_text(
        'import pytest\npytest.importorskip("paintscape_no_such_module")\n\ndef test_never_runs():\n    pass\n'
    )
    (tmp_path / "test_other.py").write_text("def test_ok():\n    pass\n")
    strict = run_pytest(tmp_path, strict=True)
    assert strict.returncode != 0 and "ERROR test_module_skip.py" in strict.stdout, strict.stdout
    assert "could not import 'paintscape_no_such_module'" in strict.stdout
    relaxed = run_pytest(tmp_path, strict=False)
    assert relaxed.returncode == 0 and "1 passed, 1 skipped" in relaxed.stdout, relaxed.stdout


def test_a_clean_run_says_nothing_was_skipped(tmp_path):
    shutil.copy(TESTS / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_clean.py").write_text("def test_ok():\n    pass\n")
    proc = run_pytest(tmp_path, strict=True)
    assert proc.returncode == 0 and "no test was skipped" in proc.stdout, proc.stdout
