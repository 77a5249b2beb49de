"""Commands that need no network start without importing torch (seconds saved on every call), and
convert-reference still lists its presets, read from the converter registry when it is parsed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from paintscape.cli import main

REPO = Path(__file__).resolve().parents[1]

WITHOUT_TORCH = """
import sys
from paintscape.cli import main
status = main(["check-data", sys.argv[1]])
assert "torch" not in sys.modules, "check-data imported torch"
from paintscape.data.io import read_label
from paintscape.labels import colorize, decode
assert "torch" not in sys.modules, "the label readers imported torch"
print("status", status)
"""


def test_check_data_and_the_label_readers_do_not_import_torch(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, str(tmp_path)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "status 1" in proc.stdout  # an empty folder is a problem: the command ran


def test_labels_one_hot_still_works_with_torch_imported_on_use() -> None:
    import torch

    from paintscape.labels import add_dont_care, one_hot

    label = torch.tensor([[[0, 28, 255]]])
    encoded = one_hot(label)
    assert encoded.shape == (1, 29, 1, 3) and encoded[0, :, 0, 2].sum() == 0 and encoded[0, 28, 0, 1] == 1
    assert add_dont_care(encoded, 30)[0, 29, 0].tolist() == [0.0, 0.0, 1.0]


def test_convert_reference_lists_its_presets(capsys: pytest.CaptureFixture[str]) -> None:
    from paintscape.registry import CONVERTERS

    with pytest.raises(SystemExit):
        main(["convert-reference", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for entry in CONVERTERS.entries():
        assert f"{entry.name}: {' '.join(entry['description'].split())}" in shown
    with pytest.raises(SystemExit) as caught:
        main(["convert-reference", "no-such-preset", "x.pth", "--out", "y.safetensors"])
    assert caught.value.code == 2
    error = capsys.readouterr().err
    assert "invalid choice: 'no-such-preset'" in error and all(repr(name) in error for name in CONVERTERS.names())
