from pathlib import Path

import pytest

from paintscape.cli import main

# every training config (curate.yaml holds curation thresholds, not a model; controlnet.yaml needs a
# local Stable Diffusion folder: test_controlnet.py checks the message naming it)
CONFIGS = sorted(p for p in (Path(__file__).resolve().parents[1] / "paintscape" / "configs").glob("*.yaml") if p.stem not in ("curate", "controlnet"))


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_inspect_every_config(config, capsys):
    assert main(["inspect", str(config)]) == 0
    out = capsys.readouterr().out
    assert "generator" in out and "GFLOPs" in out
    # a discriminator row exactly when the config names one (the diffusion objective trains none)
    assert ("discriminator" in out) == ("discriminator: null" not in config.read_text())


def test_inspect_spade_matches_reference_counts(capsys):
    # NVlabs/SPADE at 256x256, 29 + 1 don't-care channels: G 92,868,291, D 5,587,074 + 2,048 = 5,589,122
    args = ["inspect", str(CONFIGS[0].parent / "spade.yaml"), "data.size=[256, 256]",
            "model.generator.args={base_channels: 64, use_vae: false, extra_label_channels: 1}",
            "model.discriminator.args={num_scales: 2, num_layers: 4, extra_label_channels: 1}"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "92,868,291" in out and "5,589,122" in out


def test_inspect_oasis_matches_reference_counts(capsys):
    # boschresearch/OASIS at 512x384 with the track's 29 classes (semantic_nc 29): G 70,941,635, D 22,250,974
    assert main(["inspect", str(CONFIGS[0].parent / "oasis.yaml")]) == 0
    out = capsys.readouterr().out
    assert "70,941,635" in out and "22,250,974" in out and "1x30x384x512" in out
