import numpy as np
import torch
from conftest import striped_label

import paintscape.models  # noqa: F401
from paintscape.cli import main
from paintscape.models.spade_reference import GENERATOR_RENAMES, ade20k_generator_input
from paintscape.pipeline import Painter
from paintscape.registry import GENERATORS


def to_reference_keys(state):
    """Our SPADE key names -> NVlabs/SPADE's (the inverse of the converter's renames)."""
    out = {}
    for key, value in state.items():
        for ref, ours in GENERATOR_RENAMES.items():
            if key.startswith(ours):
                key = ref + key[len(ours):]
                break
        out[key] = value
    return out


def test_released_ade20k_spade_renders_landscape_labels(tmp_path):
    torch.manual_seed(0)
    # A stand-in for NVIDIA's ade20k latest_net_G.pth: same layout (150 + don't-care channels), tiny width.
    inner = GENERATORS.build("spade", num_classes=150, extra_label_channels=1, image_size=(32, 32), base_channels=4, hidden_channels=8, norm="syncbatch").eval()
    torch.save(to_reference_keys(inner.state_dict()), tmp_path / "latest_net_G.pth")
    out = tmp_path / "ade20k.safetensors"
    assert main(["convert-reference", "spade-ade20k", str(tmp_path / "latest_net_G.pth"), "--out", str(out), "--size", "64x32"]) == 0
    painter = Painter.from_checkpoint(out, device="cpu")
    assert painter.size == (32, 64)
    label = striped_label(32, 64, classes=(1, 0, 3))
    got = np.asarray(painter(label))
    # the same weights at the converted size, fed the reference's own ADE20K input
    rebuilt = GENERATORS.build("spade", num_classes=150, extra_label_channels=1, image_size=(32, 64), base_channels=4, hidden_channels=8, norm="syncbatch")
    rebuilt.load_state_dict(inner.state_dict())
    with torch.no_grad():
        want = rebuilt.eval()(ade20k_generator_input(label[None]))[0]
    want = ((want.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


def test_convert_reference_names_bad_file(tmp_path, capsys):
    torch.save({"fc.weight": torch.zeros(3)}, tmp_path / "bad.pth")
    assert main(["convert-reference", "spade", str(tmp_path / "bad.pth"), "--out", str(tmp_path / "x.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "error" in err and "Traceback" not in err
