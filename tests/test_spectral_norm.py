"""paintscape's spectral norm against ``torch.nn.utils.spectral_norm``: same tensors, same numbers, no cache."""

import copy
from collections import OrderedDict

import pytest
import torch
from torch import nn

from paintscape.layers.spade import SPADEResBlock, init_spade_weights
from paintscape.layers.spectral import SpectralNormConv2d, spectral_norm
from paintscape.models.encoders import ConvEncoder

# (layer factory, input shape); "heavy": more weight than output elements, so with autograd on the
# output is divided by sigma; "light": the weight is divided, as torch does.
CASES = {
    "conv_heavy": (lambda: nn.Conv2d(32, 48, 3, padding=1), (2, 32, 3, 3)),
    "conv_heavy_nobias_reflect": (lambda: nn.Conv2d(32, 48, 3, padding=1, bias=False, padding_mode="reflect"), (2, 32, 3, 3)),
    "conv_light": (lambda: nn.Conv2d(3, 8, 3, stride=2, padding=1), (2, 3, 16, 16)),
    "convT_heavy": (lambda: nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1), (2, 32, 2, 2)),
    "convT_light": (lambda: nn.ConvTranspose2d(4, 8, 4, stride=2, padding=1), (2, 4, 8, 8)),
    "linear_heavy": (lambda: nn.Linear(64, 48), (3, 64)),
    "linear_light": (lambda: nn.Linear(6, 4), (40, 6)),
}


def _pair(make, seed=0):
    torch.manual_seed(seed)
    theirs = torch.nn.utils.spectral_norm(make())
    torch.manual_seed(seed)
    ours = spectral_norm(make())
    return theirs, ours


def _close(actual, expected, rtol=1e-5):
    scale = expected.abs().max().clamp_min(1e-12)
    assert ((actual - expected).abs().max() / scale).item() < rtol


@pytest.mark.parametrize("case", list(CASES))
def test_same_initial_state_as_torch(case):
    theirs, ours = _pair(CASES[case][0])
    a, b = theirs.state_dict(), ours.state_dict()
    assert list(a) == list(b)  # weight_orig, weight_u, weight_v (and bias), in torch's order
    assert "weight" not in b
    assert all(a[k].shape == b[k].shape and torch.equal(a[k], b[k]) for k in a)
    assert a._metadata == b._metadata
    assert [n for n, _ in theirs.named_parameters()] == [n for n, _ in ours.named_parameters()]
    torch.manual_seed(1)
    torch.nn.utils.spectral_norm(CASES[case][0]())
    after_torch = torch.rand(4)
    torch.manual_seed(1)
    spectral_norm(CASES[case][0]())
    assert torch.equal(torch.rand(4), after_torch)  # u and v consume the random stream as torch's


@pytest.mark.parametrize("case", list(CASES))
def test_training_and_eval_match_torch(case):
    make, shape = CASES[case]
    theirs, ours = _pair(make)
    is_heavy = "heavy" in case
    with torch.no_grad():  # (eval: no power iteration)
        assert (ours.weight_orig.numel() > ours.eval()(torch.zeros(shape)).numel()) == is_heavy
    ours.train()
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        x = torch.randn(shape, generator=gen)
        x_theirs, x_ours = x.clone().requires_grad_(), x.clone().requires_grad_()
        y_theirs, y_ours = theirs(x_theirs), ours(x_ours)
        _close(y_ours, y_theirs)
        grad = torch.randn(y_theirs.shape, generator=gen)
        y_theirs.backward(grad)
        y_ours.backward(grad)
        _close(x_ours.grad, x_theirs.grad)
        _close(ours.weight_orig.grad, theirs.weight_orig.grad)
        if ours.bias is not None:
            _close(ours.bias.grad, theirs.bias.grad)
        _close(ours.weight_u, theirs.weight_u)
        _close(ours.weight_v, theirs.weight_v)
        _close(ours.weight, theirs.weight)  # the property: weight_orig / sigma for the current u, v

    # two forwards, one backward (D(real) and D(fake) in one loss): the clones keep each graph valid
    x1, x2 = torch.randn(shape, generator=gen), torch.randn(shape, generator=gen)
    (theirs(x1).square().sum() - theirs(x2).sum()).backward()
    (ours(x1).square().sum() - ours(x2).sum()).backward()
    _close(ours.weight_orig.grad, theirs.weight_orig.grad)

    theirs.eval()
    ours.eval()
    u, v = ours.weight_u.clone(), ours.weight_v.clone()
    x = torch.randn(shape, generator=gen)
    _close(ours(x), theirs(x))
    with torch.no_grad():
        _close(ours(x), theirs(x))
    assert torch.equal(ours.weight_u, u) and torch.equal(ours.weight_v, v)


def test_state_dicts_load_strictly_both_ways():
    make, shape = CASES["conv_heavy"]
    theirs, ours = _pair(make, seed=0)
    theirs(torch.randn(shape))  # power iteration: u, v differ from their initial values
    fresh = spectral_norm(make())
    fresh.load_state_dict(theirs.state_dict(), strict=True)
    theirs.eval()
    fresh.eval()
    x = torch.randn(shape)
    _close(fresh(x), theirs(x))

    ours(torch.randn(shape))
    back = torch.nn.utils.spectral_norm(make())
    back.load_state_dict(ours.state_dict(), strict=True)
    assert all(torch.equal(back.state_dict()[k], v) for k, v in ours.state_dict().items())

    # a state dict from before PyTorch 1.1 (``weight`` instead of ``weight_v``): converted as torch does
    legacy = OrderedDict((k, v) for k, v in theirs.state_dict().items() if k != "weight_v")
    legacy["weight"] = theirs.weight.detach().clone()
    legacy._metadata = OrderedDict({"": {"version": 1}})
    reference, converted = _pair(make, seed=1)
    reference.load_state_dict(OrderedDict(legacy), strict=True)
    copy_ = OrderedDict(legacy)
    copy_._metadata = legacy._metadata
    converted.load_state_dict(copy_, strict=True)
    assert torch.equal(converted.weight_v, reference.weight_v)


@pytest.mark.parametrize("case", ["conv_heavy", "conv_light", "linear_heavy"])
def test_no_normalised_weight_is_kept(case):
    make, shape = CASES[case]
    _, ours = _pair(make)
    weight_storage = ours.weight_orig.untyped_storage().data_ptr()
    saved = []

    def pack(t):
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = ours(torch.randn(shape, requires_grad=True))
    y.sum().backward()
    # on the module: no tensor attribute of the weight's size besides weight_orig itself
    sized = [
        name
        for name, value in {**vars(ours), **dict(ours.named_parameters()), **dict(ours.named_buffers())}.items()
        if isinstance(value, torch.Tensor) and value.numel() == ours.weight_orig.numel()
    ]
    assert sized == ["weight_orig"]
    if "heavy" in case:  # nor in the graph: backward keeps no weight-sized tensor but the parameter's
        copies = [t for t in saved if t.numel() == ours.weight_orig.numel() and t.untyped_storage().data_ptr() != weight_storage]
        assert copies == []


def test_output_size_estimate_is_exact():
    layers_inputs = [
        (nn.Conv2d(3, 5, 3, stride=2, padding=1, dilation=2), (2, 3, 17, 12)),
        (nn.Conv2d(3, 5, (3, 5), padding="same"), (1, 3, 9, 7)),
        (nn.Conv2d(3, 5, 4, padding="valid", stride=3), (3, 9, 11)),  # unbatched
        (nn.Conv1d(3, 5, 3, stride=2), (2, 3, 10)),
        (nn.ConvTranspose2d(3, 5, 4, stride=2, padding=1, output_padding=1), (2, 3, 5, 6)),
        (nn.Linear(4, 6), (2, 3, 4)),
    ]
    for layer, shape in layers_inputs:
        ours = spectral_norm(layer)
        x = torch.randn(shape)
        extra = (ours.output_padding,) if isinstance(ours, nn.ConvTranspose2d) else ()
        assert ours._output_numel(x, *extra) == ours(x).numel()
    convT = spectral_norm(nn.ConvTranspose2d(3, 5, 3, stride=2, padding=1))
    x = torch.randn(1, 3, 4, 4)
    assert convT(x, output_size=[8, 8]).shape == (1, 5, 8, 8)


@pytest.mark.parametrize("case", ["conv_heavy", "convT_heavy", "linear_heavy"])
def test_without_autograd_the_result_is_torchs_bitwise(case):
    # inference (generation, export) keeps torch's arithmetic exactly, whatever the batch size
    make, shape = CASES[case]
    theirs, ours = _pair(make)
    x = torch.randn(shape)
    with torch.no_grad():
        for training in (True, False):  # training: a power-iteration step first, in both
            theirs.train(training)
            ours.train(training)
            assert torch.equal(ours(x), theirs(x))
            assert torch.equal(ours.weight_u, theirs.weight_u) and torch.equal(ours.weight_v, theirs.weight_v)


def test_autocast_deepcopy_and_meta():
    make, shape = CASES["conv_heavy"]
    theirs, ours = _pair(make)
    x = torch.randn(shape)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y_theirs, y_ours = theirs(x), ours(x)
    assert y_ours.dtype == y_theirs.dtype == torch.bfloat16
    _close(y_ours.float(), y_theirs.float(), rtol=2e-2)
    twin = copy.deepcopy(ours).eval()
    assert type(twin) is SpectralNormConv2d and torch.equal(twin(x), ours.eval()(x))
    with torch.device("meta"):
        meta = spectral_norm(make())
        assert meta(torch.zeros(shape)).shape == (2, 48, 3, 3) and meta.weight.shape == (48, 32, 3, 3)


def test_project_layers_use_it_and_init_is_unchanged():
    block = SPADEResBlock(16, 8, label_channels=3, norm="batch")
    assert isinstance(block.conv_0, SpectralNormConv2d) and isinstance(block.conv_s, nn.Conv2d)
    before = block.conv_0.weight_orig.clone()
    init_spade_weights(block)  # writes Xavier(gain 0.02) into weight_orig, as into torch's
    weight = block.conv_0.weight_orig
    assert not torch.equal(weight, before) and torch.count_nonzero(block.conv_0.bias) == 0
    assert weight.std().item() == pytest.approx(0.02 * (2 / (16 * 9 + 8 * 9)) ** 0.5, rel=0.15)
    encoder = ConvEncoder(base_channels=4, z_dim=8, input_size=16)
    assert all(isinstance(layer[0], SpectralNormConv2d) for layer in encoder.convs)
    with pytest.raises(AttributeError):
        block.conv_0.weight = torch.zeros(1)
    with pytest.raises(RuntimeError, match="two spectral_norm"):
        spectral_norm(block.conv_0)
    with pytest.raises(TypeError):
        spectral_norm(nn.Embedding(3, 4))
