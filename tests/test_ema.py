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
