"""Bad input never crashes: every case of tests/bad_inputs.py, run as a user runs it.

Each case runs ``paintscape ...`` in its own folder and must end with its expected exit status (1 or 2
for a refusal), print no traceback, name the file or key, and write nothing beside its inputs. Most
cases call :func:`paintscape.cli.main` in this process (the same code path, without paying for a
fresh interpreter importing torch each time); cases marked ``subprocess`` run ``python -m
paintscape`` in a child process, a few at a time, to hold the real entry point to the same rules.
The readers' own errors are checked in-process below, for every file of the corpus.
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import os
import re
import subprocess
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from bad_inputs import (
    BAD_LABELS,
    BAD_OVERRIDES,
    BAD_PAIRS,
    BAD_PHOTOS,
    BAD_WEIGHTS,
    CASES,
    REPO,
    Case,
    Shared,
    encode,
    photo,
    scene,
)
from generator_files import tiny_generator_file

from paintscape.cli import main
from paintscape.config import ConfigError, load_config
from paintscape.data.check import check_pair
from paintscape.data.io import MAX_PIXELS_ENV, DataError, ImageTooLarge, read_image, read_label
from paintscape.reference.state import ReferenceWeightsError, read_reference_state

PARALLEL = max(1, min(4, os.cpu_count() or 1))  # each subprocess case is mostly the import of torch: CPU-bound
TIMEOUT_S = 180


@dataclass
class Outcome:
    folder: Path
    args: list[str]
    status: int
    output: str
    before: dict[str, tuple[int, int]]
    after: dict[str, tuple[int, int]]


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` (hidden temporary files too) with its size and mtime."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()
    }


def _prepare(case: Case, folder: Path, shared: Shared) -> tuple[list[str], dict[str, tuple[int, int]]]:
    folder.mkdir(parents=True)
    args = case.setup(folder, shared)
    return args, _files(folder)


def run_in_subprocess(case: Case, folder: Path, shared: Shared) -> Outcome:
    args, before = _prepare(case, folder, shared)
    env = {k: v for k, v in os.environ.items() if k != MAX_PIXELS_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(case.env)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "paintscape", *args],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
        status, output = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        status, output = -1, f"timed out after {TIMEOUT_S} s: {exc.stdout}{exc.stderr}"
    return Outcome(folder, args, status, output, before, _files(folder))


@contextlib.contextmanager
def _as_a_user_runs_it(folder: Path, env: dict[str, str]):
    """cwd ``folder`` and the case's environment (no pixel limit of the caller's), restored after."""
    saved_cwd, saved_env = os.getcwd(), dict(os.environ)
    os.environ.pop(MAX_PIXELS_ENV, None)
    os.environ.update(env)
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def run_in_process(case: Case, folder: Path, shared: Shared) -> Outcome:
    """``main(args)`` as the console script calls it; an escaping exception is printed as the
    interpreter would print it (a traceback), so the same assertions hold."""
    args, before = _prepare(case, folder, shared)
    output = io.StringIO()
    with _as_a_user_runs_it(folder, case.env), contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        try:
            status = main(args)
        except SystemExit as exc:  # argparse's usage errors
            status = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # what the user would see
            output.write(traceback.format_exc())
            status = 1
    return Outcome(folder, args, status, output.getvalue(), before, _files(folder))


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Shared:
    return Shared(generator=tiny_generator_file(tmp_path_factory.mktemp("generator") / "g.safetensors", "pix2pix"))


@pytest.fixture(scope="module")
def outcomes(
    request: pytest.FixtureRequest, shared: Shared, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Outcome]:
    """Runs the selected cases (only those) once for the module: the subprocess ones a few at a
    time in threads, the others meanwhile one after another in this process."""
    selected = {
        item.callspec.params["case"].id
        for item in request.session.items
        if getattr(item, "originalname", "") == "test_command_on_bad_input" and hasattr(item, "callspec")
    }
    base = tmp_path_factory.mktemp("bad_inputs")
    cases = [c for c in CASES if c.id in selected]

    def folder(case: Case) -> Path:
        return base / case.id.replace("/", "__")

    with ThreadPoolExecutor(PARALLEL) as pool:
        children = {c.id: pool.submit(run_in_subprocess, c, folder(c), shared) for c in cases if c.subprocess}
        results = {c.id: run_in_process(c, folder(c), shared) for c in cases if not c.subprocess}
        results.update({name: future.result() for name, future in children.items()})
    return results


@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=pytest.mark.slow) if c.slow else c for c in CASES], ids=[c.id for c in CASES]
)
def test_command_on_bad_input(case: Case, outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[case.id]
    shown = f"paintscape {' '.join(outcome.args)} -> exit {outcome.status}\n{outcome.output[-3000:]}"
    assert outcome.status in case.status, shown
    assert "Traceback" not in outcome.output, shown
    for text in case.named:
        assert text in outcome.output, f"{text!r} not in the output of {shown}"
    for text in case.forbidden:
        assert text not in outcome.output, shown
    # nothing written beside the inputs (no output folder, report or temporary file), inputs unchanged
    created = sorted(set(outcome.after) - set(outcome.before))
    unexpected = [path for path in created if not any(fnmatch.fnmatch(path, pattern) for pattern in case.writes)]
    assert not unexpected, f"wrote {unexpected}: {shown}"
    assert all(outcome.after.get(path) == stat for path, stat in outcome.before.items()), shown
    if case.check is not None:
        case.check(outcome.folder, outcome.output)


# ---- the readers, in-process, on every file of the corpus -------------------------------------


@pytest.mark.parametrize("name", BAD_PHOTOS)
def test_read_image_names_the_file(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.img"
    path.write_bytes(BAD_PHOTOS[name]())
    with pytest.raises(DataError, match=rf"^{path}: ") as caught:
        read_image(path)
    assert ("too large" in str(caught.value)) == isinstance(caught.value, ImageTooLarge)


@pytest.mark.parametrize("name", BAD_LABELS)
def test_read_label_names_the_file_and_the_fact(name: str, tmp_path: Path) -> None:
    make, text = BAD_LABELS[name]
    path = tmp_path / f"{name}.png"
    path.write_bytes(make())
    with pytest.raises(DataError) as caught:
        read_label(path)
    assert str(caught.value).startswith(f"{path}: ") and text in str(caught.value)
    with pytest.raises(DataError) as from_bytes:  # the paint page reads uploads from memory
        read_label(path.read_bytes(), name="upload.png")
    assert str(from_bytes.value) == str(caught.value).replace(str(path), "upload.png")


@pytest.mark.parametrize("name", BAD_PAIRS)
def test_check_pair_flags_pairs_that_do_not_belong(name: str, tmp_path: Path) -> None:
    make_photo, make_label, text = BAD_PAIRS[name]
    (tmp_path / "p.jpg").write_bytes(make_photo())
    (tmp_path / "l.png").write_bytes(make_label())
    problems = check_pair(tmp_path / "p.jpg", tmp_path / "l.png")
    assert [p.path for p in problems] == [str(tmp_path / "p.jpg")] and text in problems[0].message


def test_check_pair_accepts_sound_pairs_and_photos_at_a_multiple(tmp_path: Path) -> None:
    (tmp_path / "l.png").write_bytes(encode(scene(48, 64)))
    for size in ((48, 64), (96, 128), (72, 96)):  # same size, twice, 1.5 times the label's
        (tmp_path / "p.jpg").write_bytes(encode(photo(*size), "JPEG"))
        assert check_pair(tmp_path / "p.jpg", tmp_path / "l.png") == []


@pytest.mark.parametrize("name", BAD_WEIGHTS)
def test_read_reference_state_names_the_file(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file_name, make, text = BAD_WEIGHTS[name]
    path = tmp_path / file_name
    path.write_bytes(make())
    with pytest.raises(ReferenceWeightsError) as caught:
        read_reference_state(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and text in message and "\n" not in message
    assert "weights_only=False" not in message
    assert "must never be printed" not in capsys.readouterr().out  # the pickle's code never ran


@pytest.mark.parametrize("override", BAD_OVERRIDES)
def test_every_bad_override_names_its_key(override: str) -> None:
    key = re.escape(override.split("=")[0])
    with pytest.raises(ConfigError, match=rf"pix2pix_tiny.yaml: {key}(\[\d\])?: must be"):
        load_config(REPO / "paintscape" / "configs" / "pix2pix_tiny.yaml", [override])
