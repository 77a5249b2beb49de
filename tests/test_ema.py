import torch
from torch import nn

from paintscape.train.ema import EMA


def test_half_life_in_images_and_rampup():
    model = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(model.weight)
    ema = EMA(model, half_life_images=100, rampup=0)
    model.weight.data.fill_(1.0)
    for _ in range(10):  # 10 batches of 10 images = one half-life
        ema.update(model, batch_images=10, images_seen=1e9)
    assert torch.allclose(ema.model.weight, torch.tensor([[0.5]]), atol=1e-6)
    # with rampup the horizon is short early on: after 100 images the average is mostly the new weight
    ramped = EMA(nn.Linear(1, 1, bias=False).requires_grad_(False), half_life_images=10_000, rampup=0.05)
    assert ramped.beta(10, images_seen=100) == 0.5 ** (10 / 5)
    assert ramped.beta(10, images_seen=1e9) == 0.5 ** (10 / 10_000)


def test_buffers_are_copied():
    model = nn.BatchNorm1d(2)
    ema = EMA(model, half_life_images=1000)
    model.running_mean.fill_(3.0)
    ema.update(model, batch_images=1, images_seen=1)
    assert torch.equal(ema.model.running_mean, model.running_mean)


def test_frozen_parameters_are_shared_not_copied_nor_averaged():
    """A diffusion model's frozen base sits in the generator: the EMA must not hold a second copy."""
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    model[0].requires_grad_(False)
    ema = EMA(model, half_life_images=1, rampup=0)
    assert ema.model[0].weight is model[0].weight and ema.model[1].weight is not model[1].weight
    assert not any(p.requires_grad for p in ema.model.parameters())
    assert model[1].weight.requires_grad  # the trained model keeps its flags
    frozen_before = model[0].weight.detach().clone()
    with torch.no_grad():
        model[1].weight.fill_(2.0)
    ema.update(model, batch_images=1000, images_seen=1e9)  # beta ~ 0: the average is the new weight
    torch.testing.assert_close(ema.model[1].weight, torch.full((2, 2), 2.0))
    assert torch.equal(model[0].weight, frozen_before)
