"""Loss functions against hand computations."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import save_file

from paintscape.losses import (
    VGG19Features,
    adversarial_loss,
    default_vgg19_path,
    discriminator_adversarial_loss,
    feature_distance,
    feature_matching_loss,
    generator_adversarial_loss,
    kl_divergence,
    l1_loss,
    perceptual_loss,
)
from paintscape.losses.perceptual import VGG19_URL


def logits(*values: float) -> torch.Tensor:
    return torch.tensor(values).view(1, 1, 1, -1)


# --- adversarial ------------------------------------------------------------------------------


def test_hinge_on_known_logits():
    x = [[torch.full((1, 4, 2, 2), 1e3), logits(-2.0, 0.5, 1.5, 1.0)]]  # the feature map is ignored
    assert discriminator_adversarial_loss(x, True, "hinge").item() == pytest.approx((3 + 0.5 + 0 + 0) / 4)
    assert discriminator_adversarial_loss(x, False, "hinge").item() == pytest.approx((0 + 1.5 + 2.5 + 2) / 4)
    assert generator_adversarial_loss(x, "hinge").item() == pytest.approx(-1.0 / 4)
    with pytest.raises(ValueError, match="aim for real"):
        adversarial_loss(x, target_is_real=False, for_discriminator=False, mode="hinge")


def test_least_squares_on_known_logits():
    x = logits(0.0, 2.0)
    assert discriminator_adversarial_loss(x, True, "least_squares").item() == pytest.approx(1.0)
    assert discriminator_adversarial_loss(x, False, "ls").item() == pytest.approx(2.0)
    assert generator_adversarial_loss(x, "least_squares").item() == pytest.approx(1.0)


def test_non_saturating_on_known_logits():
    x = logits(math.log(3.0))  # sigmoid = 3/4
    assert discriminator_adversarial_loss(x, True, "non_saturating").item() == pytest.approx(math.log(4 / 3))
    assert discriminator_adversarial_loss(x, False, "bce").item() == pytest.approx(math.log(4.0))
    assert generator_adversarial_loss(x, "non_saturating").item() == pytest.approx(math.log(4 / 3))


def test_scales_are_averaged_each_over_its_own_logits():
    # Scale 1: four logits at 0 -> hinge real 1; scale 2: one logit at 2 -> 0. Mean of scales 0.5
    # (a mean over all five logits would give 0.8).
    outputs = [[torch.randn(2, 3, 4, 4), torch.zeros(1, 1, 2, 2)], [torch.randn(2, 3, 2, 2), logits(2.0)]]
    loss = discriminator_adversarial_loss(outputs, True, "hinge")
    assert loss.dim() == 0
    assert loss.item() == pytest.approx(0.5)
    # A plain list of logit tensors is read the same way.
    assert discriminator_adversarial_loss([o[-1] for o in outputs], True).item() == pytest.approx(0.5)


def test_unknown_gan_mode():
    with pytest.raises(ValueError, match="hinge, least_squares, non_saturating"):
        generator_adversarial_loss(logits(0.0), "wasserstein")


# --- feature matching -------------------------------------------------------------------------


def test_feature_matching_hand_computation():
    fake = [
        [torch.ones(1, 2, 4, 4), torch.full((1, 3, 2, 2), 2.0), torch.full((1, 1, 2, 2), 100.0)],
        [torch.full((1, 2, 2, 2), 0.5), torch.zeros(1, 1, 1, 1)],
    ]
    real = [
        [torch.zeros(1, 2, 4, 4), torch.zeros(1, 3, 2, 2), torch.zeros(1, 1, 2, 2)],
        [torch.zeros(1, 2, 2, 2), torch.full((1, 1, 1, 1), -50.0)],
    ]
    for tensor in (t for scale in fake + real for t in scale):
        tensor.requires_grad_(True)
    loss = feature_matching_loss(fake, real)
    assert loss.item() == pytest.approx(((1 + 2) + 0.5) / 2)  # logits excluded; sum layers, mean scales
    loss.backward()
    assert fake[0][0].grad is not None and real[0][0].grad is None  # real features are detached
    with pytest.raises(ValueError, match="number of scales"):
        feature_matching_loss(fake, real[:1])


# --- KL and L1 --------------------------------------------------------------------------------


def test_kl_divergence():
    assert kl_divergence(torch.zeros(4, 8), torch.zeros(4, 8)).item() == 0.0
    assert kl_divergence(torch.ones(2, 3), torch.zeros(2, 3)).item() == pytest.approx(0.5 * 6)  # summed
    logvar = torch.full((1, 2), math.log(2.0))
    assert kl_divergence(torch.zeros(1, 2), logvar).item() == pytest.approx(2 * -0.5 * (1 + math.log(2.0) - 2))


def test_l1_loss():
    assert l1_loss(torch.zeros(1, 3, 2, 2), torch.full((1, 3, 2, 2), -0.5)).item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="one shape"):
        l1_loss(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 4, 4))


# --- perceptual -------------------------------------------------------------------------------


def test_cosine_distance_on_known_vectors():
    # Channel vectors at 4 pixels: orthogonal (1), parallel (0), opposite (2), both zero (0).
    fake = torch.tensor([[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0]]).view(1, 2, 1, 4)
    real = torch.tensor([[0.0, 2.0, -1.0, 0.0], [1.0, 2.0, 0.0, 0.0]]).view(1, 2, 1, 4)
    assert feature_distance(fake, real, "cosine").item() == pytest.approx((1 + 0 + 2 + 0) / 4)
    assert feature_distance(fake, real, "l1").item() == pytest.approx((fake - real).abs().mean().item())
    with pytest.raises(ValueError, match="l1, cosine"):
        feature_distance(fake, real, "l2")


@pytest.fixture(scope="module")
def random_vgg():
    torch.manual_seed(0)
    return VGG19Features(weights="random")


@pytest.mark.parametrize("distance", ["l1", "cosine"])
def test_perceptual_identical_is_zero_and_gradient_flows(random_vgg, distance):
    torch.manual_seed(1)
    real = torch.rand(2, 3, 32, 32) * 2 - 1
    assert perceptual_loss(random_vgg, real, real.clone(), distance).item() == pytest.approx(0.0, abs=1e-6)
    fake = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_(True)
    loss = perceptual_loss(random_vgg, fake, real, distance)
    assert loss.item() > 0
    loss.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in random_vgg.parameters())


def test_perceptual_layer_weights_and_normalization(random_vgg):
    torch.manual_seed(2)
    fake, real = torch.rand(2, 2, 3, 32, 32) * 2 - 1
    only_first = perceptual_loss(random_vgg, fake, real, "l1", layer_weights=(1, 0, 0, 0, 0))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    conv = random_vgg.features[0]
    expected = (conv(((fake + 1) / 2 - mean) / std).relu() - conv(((real + 1) / 2 - mean) / std).relu()).abs().mean()
    assert only_first.item() == pytest.approx(expected.item(), rel=1e-5)
    raw = VGG19Features(weights="random", input_normalization="none")  # SPADE: [-1, 1] fed unchanged
    raw.load_state_dict(random_vgg.state_dict())
    raw_first = perceptual_loss(raw, fake, real, "l1", layer_weights=(1, 0, 0, 0, 0))
    assert raw_first.item() == pytest.approx((conv(fake).relu() - conv(real).relu()).abs().mean().item(), rel=1e-5)
    assert len(random_vgg(fake)) == 5
    assert [f.shape[1] for f in random_vgg(fake)] == [64, 128, 256, 512, 512]


def test_vgg_stays_frozen_in_eval(random_vgg):
    random_vgg.train()
    assert not random_vgg.training and not any(m.training for m in random_vgg.modules())


def test_vgg_missing_file_names_path_and_url(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere" / "vgg19.pth"
    with pytest.raises(FileNotFoundError) as error:
        VGG19Features(weights=missing)
    assert str(missing) in str(error.value) and VGG19_URL in str(error.value)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    expected = tmp_path / "torch" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    assert default_vgg19_path() == expected
    with pytest.raises(FileNotFoundError, match="vgg19-dcbb9e9d.pth"):
        VGG19Features()


def test_vgg_loads_torchvision_pth_and_safetensors(random_vgg, tmp_path):
    state = {k: v.clone() for k, v in random_vgg.state_dict().items()}
    # torchvision's file also holds the classifier; it is ignored.
    torch.save({**state, "classifier.0.weight": torch.zeros(2, 2)}, tmp_path / "vgg19-dcbb9e9d.pth")
    from_pth = VGG19Features(weights=tmp_path / "vgg19-dcbb9e9d.pth")
    save_file(state, tmp_path / "vgg19.safetensors")
    from_safetensors = VGG19Features(weights=tmp_path / "vgg19.safetensors")
    for model in (from_pth, from_safetensors):
        assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    del state["features.28.weight"]
    save_file(state, tmp_path / "partial.safetensors")
    with pytest.raises(KeyError, match="features.28.weight"):
        VGG19Features(weights=tmp_path / "partial.safetensors")


def test_unnormalised_vgg_loss_is_spades_bit_for_bit(tmp_path):
    # The claim of paintscape/configs/spade.yaml and losses/perceptual.py: with loss.vgg_normalization=none the
    # VGG term is SPADE's VGGLoss exactly. SPADE's VGG19 is torchvision's vgg19().features cut into
    # [0:2], [2:7], [7:12], [12:21], [21:30] and fed the [-1, 1] images; its loss is
    # sum_i w_i * L1(x_i, y_i.detach()) starting from 0.
    import torchvision

    torch.manual_seed(3)
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"]).eval()  # vgg19().features
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, tmp_path / "vgg19.pth")
    ours = VGG19Features(weights=tmp_path / "vgg19.pth", input_normalization="none")
    slices = [features[a:b] for a, b in ((0, 2), (2, 7), (7, 12), (12, 21), (21, 30))]

    def spade_vgg(x):
        outputs = []
        for block in slices:
            x = block(x)
            outputs.append(x)
        return outputs

    fake, real = torch.rand(2, 2, 3, 48, 64) * 2 - 1
    with torch.no_grad():
        theirs_fake, theirs_real = spade_vgg(fake), spade_vgg(real)
        assert all(torch.equal(a, b) for a, b in zip(ours(fake), theirs_fake))
        expected = 0
        for w, x, y in zip([1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0], theirs_fake, theirs_real):
            expected += w * torch.nn.L1Loss()(x, y.detach())
        assert torch.equal(perceptual_loss(ours, fake, real, "l1"), expected)
