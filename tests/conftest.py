"""Shared fixtures (small datasets made in the test, never downloaded) and the suite's skip policy.

Skip policy: a test may skip only for something the repository cannot provide. Two kinds exist:

* a **missing test dependency** (a ``dev`` extra such as pytorch-fid, onnxruntime, ruff, playwright,
  or the Chromium that ``scripts/test.sh`` installs): ``pytest.importorskip`` or
  :func:`skip_missing_dependency`. With ``PAINTSCAPE_STRICT_SKIPS=1`` (``scripts/test.sh`` sets it,
  so CI does) such a skip is turned into a **failure**: CI must never pass while a check silently
  did not run.
* missing **external data** (``../shared/realdata``): stays a skip in every mode.

Every skip, of either kind, is listed in a banner at the end of the run.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"


def write_pair(root: Path, name: str, label: np.ndarray, photo: np.ndarray | None = None, suffix: str = ".jpg") -> None:
    (root / "imgs").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    if photo is None:
        rng = np.random.default_rng(abs(hash(name)) % 2**32)
        photo = rng.integers(0, 255, (*label.shape, 3), dtype=np.uint8)
    Image.fromarray(photo).save(root / "imgs" / f"{name}{suffix}")
    Image.fromarray(label.astype(np.uint8)).save(root / "labels" / f"{name}.png")


def striped_label(height: int = 24, width: int = 32, classes: tuple[int, ...] = (1, 0, 3)) -> np.ndarray:
    """Horizontal bands of the given classes (sky over mountain over sea by default)."""
    label = np.zeros((height, width), dtype=np.uint8)
    bands = np.array_split(np.arange(height), len(classes))
    for cls, rows in zip(classes, bands):
        label[rows] = cls
    return label


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for i in range(4):
        write_pair(root, f"img{i}", striped_label(classes=(1, 0, 3 + i)))
    return root


@pytest.fixture
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata not present (real label maps kept beside the repository, never in it)")
    return REALDATA


# ---- skip policy ---------------------------------------------------------------------------------

MISSING_DEPENDENCY = "missing test dependency:"
STRICT_SKIPS_ENV = "PAINTSCAPE_STRICT_SKIPS"


def skip_missing_dependency(what: str) -> None:
    """Skip because ``what`` (a tool or package the ``dev`` setup provides) is absent; fails under strict skips."""
    pytest.skip(f"{MISSING_DEPENDENCY} {what}")


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, line, "Skipped: reason")
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _is_dependency_skip(reason: str) -> bool:
    # "could not import ..." is pytest.importorskip's own message
    return reason.startswith(MISSING_DEPENDENCY) or reason.startswith("could not import")


def _fail_dependency_skip(report) -> None:
    if not (report.skipped and os.environ.get(STRICT_SKIPS_ENV) == "1" and not hasattr(report, "wasxfail")):
        return
    reason = _skip_reason(report)
    if _is_dependency_skip(reason):
        report.outcome = "failed"
        report.longrepr = (
            f"{reason}\n{STRICT_SKIPS_ENV}=1: a test may not skip for a missing test dependency; "
            "install the dev extra (pip install -e '.[dev]', which scripts/test.sh does)"
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_dependency_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield  # a module-level importorskip skips the whole file at collection
    _fail_dependency_skip(outcome.get_result())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    # outermost wrapper: the banner comes after pytest's short summary, just above the final counts
    result = yield
    skipped = terminalreporter.stats.get("skipped", [])
    strict = os.environ.get(STRICT_SKIPS_ENV) == "1"
    title = f"{len(skipped)} skipped" + (" (dependency skips fail: " if strict else " (dependency skips allowed: ")
    title += f"{STRICT_SKIPS_ENV}={'1' if strict else 'unset'})"
    terminalreporter.section(title, sep="!" if skipped else "=", yellow=bool(skipped), bold=True)
    for report in skipped:
        terminalreporter.write_line(f"SKIPPED {report.nodeid or report.fspath}: {_skip_reason(report)}", yellow=True)
    if not skipped:
        terminalreporter.write_line("no test was skipped")
    return result

