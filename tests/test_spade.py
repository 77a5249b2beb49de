"""SPADE / GauGAN: parity with NVlabs/SPADE and the generator / discriminator contracts.

Golden fixtures in tests/fixtures/spade were made with the reference code (NVlabs/SPADE@fecacc9) by
tests/fixtures/spade/make_fixtures.py: reference state dicts (reference key names, float32) plus
inputs and the reference's eval-mode outputs computed and stored in float64. Here they are loaded
through paintscape.reference.spade; see docs/parity_spade.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from paintscape.labels import CLASS_IDS, NUM_CLASSES
from paintscape.models.encoders import ConvEncoder
from paintscape.models.multiscale import MultiscaleDiscriminator
from paintscape.models.spade import SPADEGenerator
from paintscape.reference.spade import (
    RELEASED,
    ade20k_generator_input,
    generator_kwargs_from_state,
    load_discriminator_state,
    load_encoder_state,
    load_generator_state,
)
from paintscape.reference.state import ReferenceWeightsError, read_reference_state
from paintscape.registry import DISCRIMINATORS, GENERATORS

FIXTURES = Path(__file__).parent / "fixtures" / "spade"
CASES = json.loads((FIXTURES / "cases.json").read_text())
# float64: <= 4.6e-15 on the kernels that made the fixtures, <= 1.1e-14 with others
# (ATEN_CPU_CAPABILITY=default, MKL_CBWR=COMPATIBLE, MKL_ENABLE_INSTRUCTIONS=SSE4_2, one thread);
# 1e-12 is a 90x margin. float32 (what users run): <= 4.5e-6 from float64 on those kernels (outputs
# and D features up to |3.4|); 3e-5 leaves a 6x margin for other CPUs and BLAS paths. Measured with
# tests/fixtures/measure_parity.py; see docs/parity_spade.md.
PRECISIONS = pytest.mark.parametrize(
    ("dtype", "atol"), [(torch.float64, 1e-12), (torch.float32, 3e-5)], ids=["float64", "float32"]
)


def fixture(name: str) -> tuple[dict, dict]:
    return load_file(FIXTURES / f"{name}.weights.safetensors"), load_file(FIXTURES / f"{name}.io.safetensors")


def one_hot(ids: torch.Tensor, channels: int) -> torch.Tensor:
    ids = ids.long()
    return torch.zeros(ids.shape[0], channels, *ids.shape[1:]).scatter_(1, ids.unsqueeze(1), 1.0)


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def generator_from_case(name: str) -> SPADEGenerator:
    kwargs = dict(CASES[name]["kwargs"])
    kwargs["image_size"] = tuple(kwargs["image_size"])
    return SPADEGenerator(**kwargs)


# --- parameter counts at full size (reference numbers from NVlabs/SPADE, see docs/parity_spade.md)


@pytest.mark.parametrize("extra, expected", [(1, 92_868_291), (0, 92_838_339)])
def test_generator_parameter_count_matches_reference(extra: int, expected: int) -> None:
    generator = SPADEGenerator(num_classes=29, extra_label_channels=extra, image_size=(256, 256))
    assert count(generator) == expected


@pytest.mark.parametrize("extra, expected", [(1, 5_589_122), (0, 5_587_074)])
def test_discriminator_parameter_count_matches_reference(extra: int, expected: int) -> None:
    assert count(MultiscaleDiscriminator(num_classes=29, extra_label_channels=extra)) == expected


def test_encoder_parameter_count_matches_reference() -> None:
    assert count(ConvEncoder()) == 10_463_424


def test_vae_generator_parameter_count_matches_reference() -> None:
    generator = SPADEGenerator(num_classes=29, extra_label_channels=1, use_vae=True)
    assert generator.encoder is not None
    assert count(generator) - count(generator.encoder) == 109_433_539  # reference netG with --use_vae
    assert count(generator.encoder) == 10_463_424


# --- golden outputs


@PRECISIONS
@pytest.mark.parametrize("name", ["g_normal", "g_most_vae"])
def test_generator_matches_reference_outputs(name: str, dtype: torch.dtype, atol: float) -> None:
    weights, io = fixture(name)
    generator = generator_from_case(name)
    load_generator_state(generator, weights)
    generator.eval().to(dtype)
    label = one_hot(io["label"], generator.label_channels).to(dtype)
    stride = CASES[name]["output_stride"]
    with torch.no_grad():
        out = generator(label, z=io["z"].to(dtype) if "z" in io else None)
    assert out.shape == (1, 3, *CASES[name]["kwargs"]["image_size"]) and out.dtype == dtype
    out = out.double()
    torch.testing.assert_close(out[:, :, ::stride, ::stride], io["output"], atol=atol, rtol=0)
    torch.testing.assert_close(torch.stack([out.mean(), out.std()]), io["moments"], atol=atol, rtol=0)


@PRECISIONS
def test_encoder_matches_reference_outputs(dtype: torch.dtype, atol: float) -> None:
    weights, io = fixture("encoder")
    encoder = ConvEncoder(**CASES["encoder"]["kwargs"])
    load_encoder_state(encoder, weights)
    encoder.eval().to(dtype)
    with torch.no_grad():
        mu, logvar = encoder(io["image"].to(dtype))
    assert mu.dtype == logvar.dtype == dtype
    torch.testing.assert_close(mu.double(), io["mu"], atol=atol, rtol=0)
    torch.testing.assert_close(logvar.double(), io["logvar"], atol=atol, rtol=0)


def test_vae_generator_loads_reference_encoder_too(tmp_path: Path) -> None:
    g_weights, _ = fixture("g_most_vae")
    e_weights, e_io = fixture("encoder")
    torch.save(g_weights, tmp_path / "latest_net_G.pth")  # as the reference saves: a plain state dict
    torch.save(e_weights, tmp_path / "latest_net_E.pth")
    generator = generator_from_case("g_most_vae")
    load_generator_state(generator, read_reference_state(tmp_path / "latest_net_G.pth"), read_reference_state(tmp_path / "latest_net_E.pth"))
    with torch.no_grad():
        mu, _ = generator.encoder.eval().double()(e_io["image"].double())
    torch.testing.assert_close(mu, e_io["mu"], atol=1e-12, rtol=0)


@PRECISIONS
def test_discriminator_matches_reference_features(dtype: torch.dtype, atol: float) -> None:
    weights, io = fixture("d_multiscale")
    discriminator = MultiscaleDiscriminator(**CASES["d_multiscale"]["kwargs"])
    load_discriminator_state(discriminator, weights)
    discriminator.eval().to(dtype)
    with torch.no_grad():
        outputs = discriminator(one_hot(io["label"], discriminator.label_channels).to(dtype), io["image"].to(dtype))
    expected_keys = sorted(k for k in io if k.startswith("scale"))
    assert sorted(f"scale{i}.feature{j}" for i, s in enumerate(outputs) for j in range(len(s))) == expected_keys
    for i, scale in enumerate(outputs):
        for j, feature in enumerate(scale):
            assert feature.dtype == dtype
            torch.testing.assert_close(feature.double(), io[f"scale{i}.feature{j}"], atol=atol, rtol=0)


def test_kwargs_read_off_a_reference_state_dict() -> None:
    weights, _ = fixture("g_most_vae")
    case = CASES["g_most_vae"]["kwargs"]
    kwargs, notes = generator_kwargs_from_state(weights, image_size=tuple(case["image_size"]))
    assert notes == []  # up_4 says "most"
    assert kwargs["num_classes"] == case["num_classes"] + case["extra_label_channels"]
    for key in ("base_channels", "num_upsampling_layers", "use_vae", "z_dim", "hidden_channels", "spectral"):
        assert kwargs[key] == case[key], key
    assert kwargs["norm"] in ("batch", "syncbatch")
    SPADEGenerator(**kwargs)


# --- conversion errors name the key


def test_wrong_label_channels_error_names_the_key() -> None:
    weights, _ = fixture("g_normal")
    kwargs = dict(CASES["g_normal"]["kwargs"], extra_label_channels=0, image_size=(64, 96))
    with pytest.raises(
        ReferenceWeightsError,
        match=r"reference key .*(fc|mlp_shared\.0)\.weight.*num_classes \+ extra_label_channels = 30",
    ):
        load_generator_state(SPADEGenerator(**kwargs), weights)


def test_unexpected_key_error_names_the_key() -> None:
    weights, _ = fixture("g_most_vae")
    kwargs = dict(CASES["g_most_vae"]["kwargs"], num_upsampling_layers="more", image_size=(64, 64))
    with pytest.raises(ReferenceWeightsError, match=r"up_4\."):
        load_generator_state(SPADEGenerator(**kwargs), weights)


def test_missing_key_error_lists_keys() -> None:
    weights, _ = fixture("d_multiscale")
    del weights["discriminator_1.model4.0.bias"]
    with pytest.raises(ReferenceWeightsError, match=r"scales\.1\.layers\.4\.0\.bias"):
        load_discriminator_state(MultiscaleDiscriminator(**CASES["d_multiscale"]["kwargs"]), weights)


# --- contracts


def test_generator_contract_and_backward() -> None:
    torch.manual_seed(0)
    generator = GENERATORS.build(
        "spade", num_classes=NUM_CLASSES, image_size=(32, 64), base_channels=2, norm="batch", hidden_channels=8
    )
    assert generator.z_dim == 0 and generator.uses_style is False and generator.encoder is None
    label = one_hot(torch.randint(0, NUM_CLASSES, (2, 32, 64)), NUM_CLASSES)
    out = generator(label)
    assert out.shape == (2, 3, 32, 64) and out.abs().max() <= 1
    out.mean().backward()
    assert generator.stem.weight.grad is not None


def test_vae_generator_draws_z_and_checks_its_shape() -> None:
    torch.manual_seed(0)
    generator = SPADEGenerator(
        num_classes=3, image_size=(64, 32), base_channels=2, use_vae=True, z_dim=8, norm="instance", hidden_channels=8
    ).eval()
    assert generator.z_dim == 8 and isinstance(generator.encoder, ConvEncoder)
    label = one_hot(torch.randint(0, 3, (1, 64, 32)), 3)
    with torch.no_grad():
        a, b = generator(label), generator(label)
        mu, logvar = generator.encoder(torch.rand(1, 3, 64, 32) * 2 - 1)
        c, d = generator(label, z=mu), generator(label, z=mu)
    assert a.shape == (1, 3, 64, 32) and not torch.equal(a, b)  # z ~ N(0, I) inside
    assert torch.equal(c, d) and mu.shape == logvar.shape == (1, 8)
    with pytest.raises(ValueError, match=r"z of shape \(1, 8\)"):
        generator(label, z=torch.zeros(1, 4))


def test_generator_rejects_bad_inputs() -> None:
    generator = SPADEGenerator(num_classes=4, image_size=(32, 32), base_channels=1)
    with pytest.raises(ValueError, match=r"\(B, 4, H, W\)"):
        generator(torch.zeros(1, 5, 32, 32))
    with pytest.raises(ValueError, match="no latent"):
        generator(torch.zeros(1, 4, 32, 32), z=torch.zeros(1, 8))
    with pytest.raises(ValueError, match=r"image_size \(100, 100\).*multiples of 32"):
        SPADEGenerator(image_size=(100, 100))
    with pytest.raises(ValueError, match="num_upsampling_layers"):
        SPADEGenerator(num_upsampling_layers="lots")


def test_track_size_latent() -> None:
    generator = SPADEGenerator(num_classes=2, image_size=(384, 512), base_channels=2, num_upsampling_layers="most")
    assert (generator.sh, generator.sw) == (3, 4)
    with pytest.raises(ValueError, match="base_channels"):
        SPADEGenerator(num_classes=2, image_size=(384, 512), base_channels=1, num_upsampling_layers="most")


def test_discriminator_contract() -> None:
    torch.manual_seed(0)
    discriminator = DISCRIMINATORS.build(
        "multiscale", num_classes=NUM_CLASSES, base_channels=2, num_scales=3, num_layers=3
    )
    label = one_hot(torch.randint(0, NUM_CLASSES, (2, 32, 48)), NUM_CLASSES)
    outputs = discriminator(label, torch.rand(2, 3, 32, 48) * 2 - 1)
    assert len(outputs) == 3 and all(len(scale) == 4 for scale in outputs)
    assert all(scale[-1].shape[1] == 1 for scale in outputs)  # logits last
    sum(scale[-1].mean() for scale in outputs).backward()
    with pytest.raises(ValueError, match="label with 29 channels"):
        discriminator(label[:, :3], torch.zeros(2, 3, 32, 48))


# --- the released ADE20K model


def test_ade20k_input_matches_reference_test_pipeline() -> None:
    label = torch.tensor([[[CLASS_IDS["sky"], CLASS_IDS["other"], 255, CLASS_IDS["wall"]]]])
    as_test_py = ade20k_generator_input(label)  # channel = ADE20K file value (postprocess is a no-op)
    assert as_test_py.shape == (1, 151, 1, 4)
    assert as_test_py[0, :, 0].argmax(0).tolist() == [3, 0, 0, 1]  # sky = 3, other/ignored = 0, wall = 1
    shifted = ade20k_generator_input(label, shift_unlabeled=True)
    assert shifted[0, :, 0].argmax(0).tolist() == [2, 150, 150, 0]
    assert RELEASED["ade20k"]["num_classes"] + RELEASED["ade20k"]["extra_label_channels"] == 151
