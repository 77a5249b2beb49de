"""``convert-reference``: every converter of the registry turns a reference-format checkpoint into a
generator file that renders exactly what the reference network renders; VAE files need their
encoder (or an explicit --no-encoder); what the weights cannot tell is an option, said when assumed."""

import numpy as np
import pytest
import torch
from conftest import striped_label

import paintscape.models  # noqa: F401
import paintscape.reference  # noqa: F401
from paintscape.cli import main
from paintscape.inference.painter import Painter
from paintscape.labels import NUM_CLASSES, one_hot
from paintscape.models.base import GeneratorSpec
from paintscape.reference import oasis, pix2pix, spade, tsit
from paintscape.reference.spade import GENERATOR_RENAMES, ade20k_generator_input
from paintscape.reference.state import encoder_key_map
from paintscape.registry import CONVERTERS, GENERATORS

TINY_SPADE = {"base_channels": 2, "hidden_channels": 8, "norm": "syncbatch"}
TINY_OASIS = {"base_channels": 2, "channel_multipliers": (4, 4, 2, 1), "z_dim": 4, "hidden_channels": 8}

#: Per converter: (family, arguments of a network in the reference's layout, the key map module).
CASES = {
    "spade": ("spade", {**TINY_SPADE, "extra_label_channels": 1, "image_size": (32, 64)}, spade),
    "spade-ade20k": ("spade", {**TINY_SPADE, "num_classes": 150, "extra_label_channels": 1, "image_size": (32, 64)}, spade),
    "tsit": ("tsit", {"base_channels": 1, "input_channels": NUM_CLASSES + 1, "style_stream": False, "image_size": (128, 256)}, tsit),
    "pix2pix": ("pix2pix", {"base_channels": 4, "input_channels": NUM_CLASSES, "image_size": (32, 64)}, pix2pix),
    "oasis": ("oasis", {**TINY_OASIS, "image_size": (32, 64)}, oasis),
    "oasis-ade20k": ("oasis", {**TINY_OASIS, "num_classes": 151, "image_size": (32, 64)}, oasis),
}


def as_reference_file(generator, module, path, encoder_path=None):
    """Save ``generator`` the way the reference saves it (its key names, a plain state dict)."""
    ours = generator.state_dict()
    torch.save({ref: ours[key] for key, ref in module.generator_key_map(generator).items()}, path)
    if encoder_path is not None:
        mine = generator.encoder.state_dict()
        torch.save({ref: mine[key] for key, ref in encoder_key_map(generator.encoder).items()}, encoder_path)
    return path


def reference_render(generator, labels, name):
    # the reference OASIS draws one noise vector per image: here those the Painter draws for seeds 0, 1
    z = generator.latent_for(range(len(labels)), labels.shape[1:]) if name.startswith("oasis") else None
    with torch.no_grad():
        if name.endswith("ade20k"):
            return generator(ade20k_generator_input(labels), z=z)
        return generator(one_hot(torch.as_tensor(labels).long()), z=z)


def test_every_converter_has_a_case():
    assert set(CONVERTERS.names()) == set(CASES)
    assert all(entry["description"] for entry in CONVERTERS.entries())


@pytest.mark.parametrize("name", CONVERTERS.names())
def test_converted_file_renders_what_the_reference_network_renders(name, tmp_path, capsys):
    family, args, module = CASES[name]
    torch.manual_seed(0)
    reference = GENERATORS.build(family, **args).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics, so that a wrongly mapped buffer shows
        for layer in reference.modules():
            if isinstance(layer, torch.nn.BatchNorm2d):
                layer.running_mean.uniform_(-0.1, 0.1)
                layer.running_var.uniform_(0.5, 1.5)
    H, W = args["image_size"]
    out = tmp_path / "converted.safetensors"
    assert main(["convert-reference", name, str(as_reference_file(reference, module, tmp_path / "latest_net_G.pth")),
                 "--out", str(out), "--size", f"{W}x{H}"]) == 0  # fmt: skip
    assert f"({CONVERTERS.entry(name).target.family}, {W}x{H})" in capsys.readouterr().out
    painter = Painter.from_checkpoint(out, device="cpu")
    assert painter.size == (H, W) and painter.spec.extra["preset"] == name
    labels = np.stack([striped_label(H, W, classes=(1, 0, 3)), striped_label(H, W, classes=(2, 5, 6, 4))])
    got = painter.render(torch.from_numpy(labels).long())
    torch.testing.assert_close(got, reference_render(reference, labels, name), rtol=0, atol=1e-6)


def test_unknown_preset_and_wrong_file_are_one_line(tmp_path, capsys):
    torch.save({"fc.weight": torch.zeros(3)}, tmp_path / "bad.pth")
    assert main(["convert-reference", "spade", str(tmp_path / "bad.pth"), "--out", str(tmp_path / "x.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "bad.pth" in err and "is it a spade generator" in err and "Traceback" not in err
    with pytest.raises(SystemExit):
        main(["convert-reference", "gaugan2", str(tmp_path / "bad.pth"), "--out", str(tmp_path / "x.safetensors")])
    assert "invalid choice: 'gaugan2'" in capsys.readouterr().err


def vae_reference(tmp_path):
    torch.manual_seed(0)
    generator = GENERATORS.build("spade", **TINY_SPADE, extra_label_channels=1, image_size=(32, 64), use_vae=True, z_dim=8).eval()
    g = as_reference_file(generator, spade, tmp_path / "latest_net_G.pth", encoder_path=tmp_path / "latest_net_E.pth")
    return generator, g, tmp_path / "latest_net_E.pth"


def test_a_vae_file_needs_its_encoder_or_an_explicit_no_encoder(tmp_path, capsys):
    generator, g_file, e_file = vae_reference(tmp_path)
    base = ["convert-reference", "spade", str(g_file), "--size", "64x32", "--out"]
    assert main([*base, str(tmp_path / "silent.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "VAE generator" in err and "--encoder" in err and "--no-encoder" in err and "Traceback" not in err
    assert not (tmp_path / "silent.safetensors").exists()

    # with the encoder: a style photo steers the output exactly as the reference's encoder encodes it
    assert main([*base, str(tmp_path / "with.safetensors"), "--encoder", str(e_file)]) == 0
    painter = Painter.from_checkpoint(tmp_path / "with.safetensors", device="cpu")
    assert painter.has_encoder
    style = torch.rand(1, 3, 32, 64) * 2 - 1
    labels = torch.from_numpy(striped_label(32, 64))[None].long()
    with torch.no_grad():
        mu, logvar = generator.encoder(style)
        z = generator.latent_for([7], (32, 64), mu=mu, logvar=logvar)
        torch.testing.assert_close(painter.render(labels, style, seeds=[7]), generator(one_hot(labels), z=z), rtol=0, atol=1e-6)

    # without: recorded in the file, and a style photo is refused where it would be silently ignored
    assert main([*base, str(tmp_path / "without.safetensors"), "--no-encoder"]) == 0
    painter = Painter.from_checkpoint(tmp_path / "without.safetensors", device="cpu")
    assert painter.spec.style_encoder_absent and not painter.has_encoder
    painter(striped_label(32, 64))  # labels alone render
    labels_dir = tmp_path / "labels"
    labels_dir.mkdir()
    from PIL import Image

    Image.fromarray(striped_label(32, 64)).save(labels_dir / "a.png")
    Image.fromarray(np.full((32, 64, 3), 90, np.uint8)).save(tmp_path / "ref.jpg")
    (tmp_path / "styles.json").write_text('{"a.png": "ref.jpg"}')
    capsys.readouterr()
    assert main(["generate", str(tmp_path / "without.safetensors"), str(labels_dir), str(tmp_path / "o"), "--style", str(tmp_path / "styles.json")]) == 2
    err = capsys.readouterr().err
    assert "--no-encoder" in err and "Traceback" not in err
    # and the options are checked against the file
    plain = GENERATORS.build("spade", **TINY_SPADE, extra_label_channels=1, image_size=(32, 64))
    plain_file = as_reference_file(plain, spade, tmp_path / "plain_G.pth")
    assert main(["convert-reference", "spade", str(plain_file), "--size", "64x32", "--out", str(tmp_path / "p.safetensors"), "--no-encoder"]) == 2
    assert "not a VAE generator" in capsys.readouterr().err
    assert main([*base, str(tmp_path / "both.safetensors"), "--encoder", str(e_file), "--no-encoder"]) == 2
    assert "--encoder and --no-encoder contradict each other; give one" in capsys.readouterr().err
    # the wrong --size for a VAE file: its fc layer says how many cells the model starts from
    args = ["convert-reference", "spade", str(g_file), "--out", str(tmp_path / "sized.safetensors"), "--encoder", str(e_file)]
    for size in ("64x64", "50x30"):  # a size the cells do not fit, one no upsampling choice divides
        assert main([*args, "--size", size]) == 2
        err = capsys.readouterr().err
        assert "reference key 'fc.weight' starts from 2 cells, which no num_upsampling_layers gives at image_size" in err
        assert "pass the (height, width) the model was trained at (--size WIDTHxHEIGHT)" in err


def test_num_upsampling_layers_is_an_option_and_said_when_assumed(tmp_path, capsys):
    torch.manual_seed(0)
    more = GENERATORS.build("spade", **TINY_SPADE, extra_label_channels=1, image_size=(64, 64), num_upsampling_layers="more").eval()
    g_file = as_reference_file(more, spade, tmp_path / "latest_net_G.pth")
    labels = np.stack([striped_label(64, 64, classes=(1, 0, 3))])
    want = reference_render(more, labels, "spade")

    assert main(["convert-reference", "spade", str(g_file), "--size", "64x64", "--out", str(tmp_path / "a.safetensors")]) == 0
    assert "assumed num_upsampling_layers=normal" in capsys.readouterr().out  # the tensors cannot tell
    assumed = Painter.from_checkpoint(tmp_path / "a.safetensors", device="cpu").render(torch.from_numpy(labels).long())
    assert (assumed - want).abs().max() > 1e-3  # another network

    assert main(["convert-reference", "spade", str(g_file), "--size", "64x64", "--out", str(tmp_path / "b.safetensors"),
                 "--num-upsampling-layers", "more"]) == 0  # fmt: skip
    assert "assumed" not in capsys.readouterr().out
    painter = Painter.from_checkpoint(tmp_path / "b.safetensors", device="cpu")
    assert painter.spec == GeneratorSpec.from_json(painter.spec.to_json()) and painter.spec.args["num_upsampling_layers"] == "more"
    torch.testing.assert_close(painter.render(torch.from_numpy(labels).long()), want, rtol=0, atol=1e-6)
    # "most" adds a block the file lacks: the missing key is named
    assert main(["convert-reference", "spade", str(g_file), "--size", "128x128", "--out", str(tmp_path / "c.safetensors"),
                 "--num-upsampling-layers", "most"]) == 2  # fmt: skip
    assert "up_4" in capsys.readouterr().err


def test_released_ade20k_spade_keys_follow_the_reference():
    inner = GENERATORS.build("spade", **TINY_SPADE, num_classes=150, extra_label_channels=1, image_size=(32, 32))
    reference_keys = set(spade.generator_key_map(inner).values())
    assert {"fc.weight", "head_0.conv_0.weight_orig", "G_middle_1.norm_0.mlp_shared.0.weight", "conv_img.bias"} <= reference_keys
    assert not any(key.startswith(tuple(GENERATOR_RENAMES.values())) for key in reference_keys)


def test_spectral_norm_saved_before_pytorch_1_1_converts(tmp_path):
    from paintscape.layers.spectral import SpectralNormConv2d

    torch.manual_seed(0)
    reference = GENERATORS.build("spade", **TINY_SPADE, extra_label_channels=1, image_size=(32, 64)).eval()
    state = torch.load(as_reference_file(reference, spade, tmp_path / "new.pth"), weights_only=True)
    names = {id(m): n for n, m in reference.named_modules()}
    ours_to_reference = spade.generator_key_map(reference)
    for layer in reference.modules():  # the old format: the normalised weight instead of weight_v
        if isinstance(layer, SpectralNormConv2d):
            key = ours_to_reference[names[id(layer)] + ".weight_v"]
            del state[key]
            with torch.no_grad():
                state[key[: -len("_v")]] = layer.weight_orig / layer.sigma(power_iteration=False)
    torch.save(state, tmp_path / "old.pth")
    assert main(["convert-reference", "spade", str(tmp_path / "old.pth"), "--size", "64x32", "--out", str(tmp_path / "old.safetensors")]) == 0
    labels = np.stack([striped_label(32, 64, classes=(1, 0, 3))])
    got = Painter.from_checkpoint(tmp_path / "old.safetensors", device="cpu").render(torch.from_numpy(labels).long())
    torch.testing.assert_close(got, reference_render(reference, labels, "spade"), rtol=0, atol=1e-5)



def test_oasis_presets_say_the_noise_width_and_refuse_an_upsampling_choice(tmp_path, capsys):
    generator = GENERATORS.build("oasis", **TINY_OASIS, image_size=(32, 64)).eval()
    path = as_reference_file(generator, oasis, tmp_path / "latest_EMA.pth")
    assert main(["convert-reference", "oasis", str(path), "--out", str(tmp_path / "g.safetensors"), "--size", "64x32"]) == 0
    assert "29 label channels (the landscape classes), so z_dim = 4" in capsys.readouterr().out
    assert main(["convert-reference", "oasis", str(path), "--out", str(tmp_path / "h.safetensors"), "--size", "64x32",
                 "--num-upsampling-layers", "more"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "an OASIS generator's depth is read from its weights" in err and "Traceback" not in err
    # the ADE20K preset on a 29-class file: the first conv has fewer inputs than 151 label channels
    assert main(["convert-reference", "oasis-ade20k", str(path), "--out", str(tmp_path / "i.safetensors"), "--size", "64x32"]) == 2
    assert "fewer than num_classes=151" in capsys.readouterr().err
