"""pix2pix U-Net and PatchGAN: contracts, sizes, parameter counts and parity with the reference."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from paintscape.labels import one_hot
from paintscape.models.patchgan import PatchGANDiscriminator
from paintscape.models.pix2pix import UNetGenerator, unet_depth
from paintscape.reference.pix2pix import (
    convert_discriminator_state,
    convert_generator_state,
    load_discriminator_state,
    load_generator_state,
    reference_unet_depth,
)
from paintscape.reference.state import ReferenceWeightsError, read_reference_state
from paintscape.registry import DISCRIMINATORS, GENERATORS

FIXTURES = Path(__file__).parent / "fixtures" / "pix2pix"
# The fixtures hold the reference's float64 outputs (tests/fixtures/pix2pix/make_fixtures.py). float64:
# <= 8e-16 on this and other kernels (ATEN_CPU_CAPABILITY=default, MKL_CBWR=COMPATIBLE,
# MKL_ENABLE_INSTRUCTIONS=SSE4_2, one thread); 1e-12 is a margin of 1000x. float32 (what users run):
# <= 3.6e-7 from float64 on those kernels; 3e-6 is a margin of 8x for other CPUs and BLAS paths.
# Measured with tests/fixtures/measure_parity.py; see docs/parity_pix2pix.md.
PRECISIONS = pytest.mark.parametrize(
    ("dtype", "atol"), [(torch.float64, 1e-12), (torch.float32, 3e-6)], ids=["float64", "float32"]
)


def parameter_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    ("size", "depth"), [((256, 256), 8), ((384, 512), 7), ((32, 48), 4), ((128, 128), 7), ((2, 6), 1), ((512, 1024), 8)]
)
def test_depth_from_image_size(size, depth):
    assert unet_depth(size) == depth


def test_depth_rejects_odd_size():
    with pytest.raises(ValueError, match="odd side"):
        unet_depth((33, 48))


@pytest.mark.parametrize("size", [(32, 48), (64, 64), (128, 256)])
def test_generator_contract_and_backward(size):
    torch.manual_seed(0)
    G = GENERATORS.build("pix2pix", num_classes=29, image_size=size, base_channels=4)
    assert G.z_dim == 0 and G.uses_style is False and G.encoder is None
    label = one_hot(torch.randint(0, 29, (2, *size)))
    out = G(label)
    assert out.shape == (2, 3, *size)
    assert out.abs().max() <= 1
    out.mean().backward()
    assert all(p.grad is not None for p in G.parameters())


def test_generator_at_track_size_builds_with_depth_7():
    G = UNetGenerator(image_size=(384, 512), base_channels=2)
    assert G.depth == 7
    with torch.no_grad():
        assert G(one_hot(torch.randint(0, 29, (1, 384, 512)))).shape == (1, 3, 384, 512)


def test_dropout_is_the_noise():
    torch.manual_seed(0)
    G = UNetGenerator(image_size=(128, 128), base_channels=4)  # depth 7: dropout on 2 levels
    label = one_hot(torch.randint(0, 29, (2, 128, 128)))
    G.train()
    assert not torch.allclose(G(label), G(label))
    G.eval()
    assert torch.equal(G(label), G(label))


def test_generator_rejects_bad_input():
    G = UNetGenerator(image_size=(32, 48), base_channels=2)
    with pytest.raises(ValueError, match="29 input channels"):
        G(torch.zeros(1, 3, 32, 48))
    with pytest.raises(ValueError, match="divisible by 16"):
        G(torch.zeros(1, 29, 40, 48))


def test_discriminator_contract():
    D = DISCRIMINATORS.build("patchgan", num_classes=29, base_channels=4)
    label = one_hot(torch.randint(0, 29, (2, 64, 64)))
    out = D(label, torch.rand(2, 3, 64, 64) * 2 - 1)
    assert isinstance(out, list) and len(out) == 1
    scale = out[0]
    assert len(scale) == 5  # 4 LeakyReLU blocks + logits
    assert scale[-1].shape == (2, 1, 6, 6)  # 70x70 PatchGAN on 64 px
    scale[-1].mean().backward()


@pytest.mark.parametrize(("channels", "g_count", "d_count"), [(3, 54_413_955, 2_768_705), (30, 54_441_603, 2_796_353)])
def test_parameter_counts_match_reference_unet_256(channels, g_count, d_count):
    G = UNetGenerator(input_channels=channels, image_size=(256, 256), base_channels=64)
    assert G.depth == 8
    assert parameter_count(G) == g_count
    assert parameter_count(PatchGANDiscriminator(input_channels=channels)) == d_count


@pytest.mark.parametrize(("layers", "count"), [(1, 167_233), (2, 694_081), (4, 6_991_681), (5, 11_187_009)])
def test_parameter_counts_match_reference_n_layers(layers, count):
    # Counted on the reference NLayerDiscriminator(33, 64, n_layers) with batch norm.
    assert parameter_count(PatchGANDiscriminator(input_channels=30, num_layers=layers)) == count


@PRECISIONS
@pytest.mark.parametrize(("name", "depth", "norm"), [("unet6_batch", 6, "batch"), ("unet5_instance", 5, "instance")])
def test_generator_matches_reference_fixture(name, depth, norm, dtype, atol):
    io = load_file(FIXTURES / f"{name}_io.safetensors")
    label = io["label"].long()
    G = UNetGenerator(
        num_classes=30, image_size=tuple(label.shape[1:]), base_channels=4, num_downsampling=depth, norm=norm
    )
    load_generator_state(G, read_reference_state(FIXTURES / f"{name}_weights.safetensors"))
    G.eval().to(dtype)
    with torch.no_grad():
        out = G(one_hot(label, 30).to(dtype))
    assert out.dtype == dtype
    torch.testing.assert_close(out.double(), io["output"], atol=atol, rtol=0)


@PRECISIONS
def test_discriminator_matches_reference_fixture(dtype, atol):
    io = load_file(FIXTURES / "patchgan3_batch_io.safetensors")
    D = PatchGANDiscriminator(num_classes=30, base_channels=4, num_layers=3)
    load_discriminator_state(D, read_reference_state(FIXTURES / "patchgan3_batch_weights.safetensors"))
    D.eval().to(dtype)
    with torch.no_grad():
        (scale,) = D(one_hot(io["label"].long(), 30).to(dtype), io["image"].to(dtype))
    assert all(out.dtype == dtype for out in scale)
    for i in range(4):
        torch.testing.assert_close(scale[i].double(), io[f"feature_{i}"], atol=atol, rtol=0)
    torch.testing.assert_close(scale[-1].double(), io["logits"], atol=atol, rtol=0)


def test_converter_errors_name_the_key():
    state = load_file(FIXTURES / "unet6_batch_weights.safetensors")
    assert reference_unet_depth(state) == 6
    assert reference_unet_depth({f"module.{k}": v for k, v in state.items()}) == 6
    G = UNetGenerator(num_classes=30, image_size=(64, 64), base_channels=4, num_downsampling=6)

    missing = dict(state)
    del missing["model.model.1.model.1.weight"]
    with pytest.raises(ReferenceWeightsError, match=r"'model\.model\.1\.model\.1\.weight'.*'down\.1\.conv\.weight'"):
        convert_generator_state(missing, G)

    wrong_channels = UNetGenerator(num_classes=29, image_size=(64, 64), base_channels=4, num_downsampling=6)
    with pytest.raises(ReferenceWeightsError, match=r"'model\.model\.0\.weight' has shape \(4, 30, 4, 4\)"):
        convert_generator_state(state, wrong_channels)

    too_deep = UNetGenerator(num_classes=30, image_size=(128, 128), base_channels=4, num_downsampling=7)
    with pytest.raises(ReferenceWeightsError, match="6 down-samplings, ours has 7"):
        convert_generator_state(state, too_deep)


def test_converter_accepts_old_and_data_parallel_checkpoints():
    state = load_file(FIXTURES / "patchgan3_batch_weights.safetensors")
    old = {f"module.{k}": v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    D = PatchGANDiscriminator(num_classes=30, base_channels=4)
    D.load_state_dict(convert_discriminator_state(old, D))


def test_missing_checkpoint_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="latest_net_G.pth"):
        read_reference_state(tmp_path / "latest_net_G.pth")


def test_load_reference_pth(tmp_path):
    state = load_file(FIXTURES / "unet5_instance_weights.safetensors")
    torch.save(state, tmp_path / "latest_net_G.pth")
    G = UNetGenerator(num_classes=30, image_size=(32, 64), base_channels=4, num_downsampling=5, norm="instance")
    load_generator_state(G, read_reference_state(tmp_path / "latest_net_G.pth"))
    assert torch.equal(G.down[0].conv.weight, state["model.model.0.weight"])
