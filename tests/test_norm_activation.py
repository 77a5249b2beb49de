"""The memory-saving training path of TSIT's streams, FADE blocks, generator and the PatchGAN
discriminators computes what the plain formulation computes.

``leaky_relu(norm(x))`` as one node that keeps only its output (paintscape.layers.norm_activation),
FADE blocks that upsample inside their fused nodes, and TSIT's last leaky ReLU before the
upsampling: outputs, every gradient and the batch-norm running statistics must equal those of the
textbook formulation written out here with the plain modules, as tests/test_modulated_norm.py does
for SPADE.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from paintscape.layers.fade import LEAKY_SLOPE, FADEResnetBlock, StreamResnetBlock
from paintscape.layers.norm_activation import fusable, normalized_leaky_relu
from paintscape.models.multiscale import MultiscaleDiscriminator
from paintscape.models.tsit import TSITGenerator


def plain_stream_block(block: StreamResnetBlock, x: torch.Tensor) -> torch.Tensor:
    shortcut = F.leaky_relu(block.norm_layer_s(block.conv_s(x)), LEAKY_SLOPE) if block.learned_shortcut else x
    dx = F.leaky_relu(block.norm_layer_in(block.conv_0(x)), LEAKY_SLOPE)
    dx = F.leaky_relu(block.norm_layer_out(block.conv_1(dx)), LEAKY_SLOPE)
    return shortcut + dx


def plain_fade(layer, x, feature):
    return layer.param_free_norm(x) * (1 + layer.mlp_gamma(feature)) + layer.mlp_beta(feature)


def plain_fade_block(block: FADEResnetBlock, x: torch.Tensor, feature: torch.Tensor) -> torch.Tensor:
    shortcut = block.conv_s(plain_fade(block.norm_s, x, feature)) if block.learned_shortcut else x
    dx = block.conv_0(F.leaky_relu(plain_fade(block.norm_0, x, feature), LEAKY_SLOPE))
    dx = block.conv_1(F.leaky_relu(plain_fade(block.norm_1, dx, feature), LEAKY_SLOPE))
    return shortcut + dx


def plain_tsit(g: TSITGenerator, label: torch.Tensor) -> torch.Tensor:
    """TSIT's SIS forward as the reference writes it, with the plain layers above."""
    content = g._content_input(label)
    features, x = [], content
    for i in range(8):
        if i > 0:
            x = F.interpolate(x, scale_factor=0.5)
        x = plain_stream_block(getattr(g.content_stream, f"res_{i}"), x)
        features.append(x)
    x = g.fc(F.interpolate(content, size=g.latent_size))
    blocks = [g.head_0, g.G_middle_0, g.G_middle_1, g.up_0, g.up_1, g.up_2, g.up_3]
    for i, block in enumerate(blocks):
        if i > 0:
            x = F.interpolate(x, scale_factor=2)
        x = plain_fade_block(block, x, features[7 - i])
    x = F.interpolate(x, scale_factor=2)
    return torch.tanh(g.conv_img(F.leaky_relu(x, LEAKY_SLOPE)))


def run(module, forward, inputs, upstream):
    inputs = [t.clone().requires_grad_(True) for t in inputs]
    out = forward(module, *inputs)
    (out * upstream).sum().backward()
    grads = {name: p.grad.clone() for name, p in module.named_parameters() if p.grad is not None}
    buffers = {k: v.clone() for k, v in module.named_buffers()}
    return out.detach(), [t.grad for t in inputs], grads, buffers


def assert_same(result, plain_result, rtol=1e-4) -> None:
    out, input_grads, grads, buffers = result
    p_out, p_input_grads, p_grads, p_buffers = plain_result
    torch.testing.assert_close(out, p_out, rtol=1e-5, atol=1e-5)
    for got, expected in zip(input_grads, p_input_grads):
        torch.testing.assert_close(got, expected, rtol=rtol, atol=1e-5 * expected.abs().max().item())
    assert grads.keys() == p_grads.keys()
    # A bias in front of a norm has a true gradient of 0; both sides give rounding noise of the size of
    # the float32 resolution of the largest gradient, so the tolerance is relative to that.
    atol = 1e-6 * max(g.abs().max().item() for g in p_grads.values())
    for name in grads:
        torch.testing.assert_close(grads[name], p_grads[name], rtol=rtol, atol=atol, msg=lambda m, n=name: f"{n}: {m}")
    for name in buffers:
        torch.testing.assert_close(buffers[name], p_buffers[name], rtol=1e-5, atol=1e-6, msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.parametrize("norm", ["instance", "syncbatch"])  # fused / module path (affine batch norm)
@pytest.mark.parametrize("channels", [(5, 8), (6, 6)])  # with and without the learned shortcut
def test_stream_block_training_step_equals_the_plain_formula(norm: str, channels: tuple[int, int]) -> None:
    torch.manual_seed(0)
    block = StreamResnetBlock(*channels, norm=norm, spectral=True)
    plain = copy.deepcopy(block)
    x = torch.randn(2, channels[0], 10, 12) * 2 + 0.5
    upstream = torch.randn(2, channels[1], 10, 12)
    for _ in range(2):  # the second step sees the running statistics and spectral vectors of the first
        assert_same(run(block, lambda b, x: b(x), [x], upstream), run(plain, plain_stream_block, [x], upstream))
        block.zero_grad(set_to_none=True)
        plain.zero_grad(set_to_none=True)


@pytest.mark.parametrize("kind", ["instance", "batch", "batch_cma"])
def test_fused_norm_leaky_relu_equals_the_modules(kind: str) -> None:
    """Both fused kinds, with running statistics (momentum and cumulative average) for batch norm."""
    torch.manual_seed(1)
    if kind == "instance":
        norm = torch.nn.InstanceNorm2d(4)
    else:
        norm = torch.nn.BatchNorm2d(4, affine=False, momentum=None if kind == "batch_cma" else 0.1)
    plain = copy.deepcopy(norm)
    x = torch.randn(3, 4, 5, 7) * 3 - 1
    upstream = torch.randn(3, 4, 5, 7)
    assert fusable(norm, x, LEAKY_SLOPE)
    for _ in range(3):
        got = run(norm, lambda n, x: normalized_leaky_relu(n, x, LEAKY_SLOPE), [x], upstream)
        expected = run(plain, lambda n, x: F.leaky_relu(n(x), LEAKY_SLOPE), [x], upstream)
        out, (grad_x,), _, buffers = got
        p_out, (p_grad_x,), _, p_buffers = expected
        torch.testing.assert_close(out, p_out, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(grad_x, p_grad_x, rtol=1e-4, atol=1e-6)
        for name in buffers:
            torch.testing.assert_close(buffers[name], p_buffers[name], rtol=1e-6, atol=1e-7)
    if kind != "instance":
        assert int(norm.num_batches_tracked) == 3


@pytest.mark.parametrize("norm", ["instance", "batch"])
@pytest.mark.parametrize("upsample", [1, 2])
def test_fade_block_upsampling_inside_equals_the_plain_formula(norm: str, upsample: int) -> None:
    torch.manual_seed(2)
    block = FADEResnetBlock(6, 4, norm=norm, spectral=True)
    for layer in (block.norm_0, block.norm_1, block.norm_s):
        torch.nn.init.normal_(layer.mlp_gamma.bias, 0, 0.3)
    plain = copy.deepcopy(block)
    x = torch.randn(2, 6, 8 // upsample, 10 // upsample)
    feature = torch.randn(2, 6, 8, 10)
    upstream = torch.randn(2, 4, 8, 10)

    def plain_upsampled(b, x, f):
        return plain_fade_block(b, F.interpolate(x, scale_factor=upsample, mode="nearest"), f)

    for _ in range(2):
        got = run(block, lambda b, x, f: b(x, f, upsample=upsample), [x, feature], upstream)
        assert_same(got, run(plain, plain_upsampled, [x, feature], upstream))
        block.zero_grad(set_to_none=True)
        plain.zero_grad(set_to_none=True)


def test_tsit_generator_training_step_equals_the_plain_formulation() -> None:
    """The whole SIS generator: fused stream nodes, FADE blocks upsampling inside, the last leaky ReLU
    before the upsampling; spectral norm and batch-norm running statistics included."""
    torch.manual_seed(3)
    g = TSITGenerator(image_size=(128, 256), base_channels=2, norm="syncbatch", style_stream=False, input_channels=30)
    plain = copy.deepcopy(g)
    label = F.one_hot(torch.randint(0, 29, (2, 128, 256)), 29).permute(0, 3, 1, 2).float()
    upstream = torch.randn(2, 3, 128, 256)
    for _ in range(2):
        got = run(g, lambda m, lab: m(lab), [label], upstream)
        assert_same(got, run(plain, plain_tsit, [label], upstream), rtol=2e-4)
        g.zero_grad(set_to_none=True)
        plain.zero_grad(set_to_none=True)


def _weighted_sum(outputs: list[list[torch.Tensor]]) -> torch.Tensor:
    """A scalar with a fixed random upstream gradient for every feature map (seeded by position)."""
    total = torch.zeros(())
    for i, features in enumerate(outputs):
        for j, f in enumerate(features):
            w = torch.randn(f.shape, generator=torch.Generator().manual_seed(100 * i + j))
            total = total + (f * w).sum()
    return total


@pytest.mark.parametrize("norm", ["instance", "batch"])
def test_multiscale_discriminator_training_step_equals_the_plain_formula(norm: str) -> None:
    torch.manual_seed(4)
    d = MultiscaleDiscriminator(num_classes=5, base_channels=4, num_layers=4, num_scales=2, norm=norm)
    plain = copy.deepcopy(d)

    def plain_d(module, label, image):
        x = torch.cat([label, image], dim=1)
        outputs = []
        for i, scale in enumerate(module.scales):
            if i > 0:
                x = F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=False)
            features, y = [], x
            for layer in scale.layers:  # nn.Sequential(conv[, norm][, nn.LeakyReLU]), as the reference runs it
                y = layer(y)
                features.append(y)
            outputs.append(features)
        return _weighted_sum(outputs)

    label = F.one_hot(torch.randint(0, 5, (2, 32, 48)), 5).permute(0, 3, 1, 2).float()
    image = torch.rand(2, 3, 32, 48) * 2 - 1
    for _ in range(2):
        got = run(d, lambda m, lab, img: _weighted_sum(m(lab, img)), [label, image], torch.tensor(1.0))
        assert_same(got, run(plain, plain_d, [label, image], torch.tensor(1.0)))
        d.zero_grad(set_to_none=True)
        plain.zero_grad(set_to_none=True)


def saved_bytes(module: torch.nn.Module, forward) -> int:
    """Unique storages saved for backward that are not parameters or buffers."""
    skip = {t.untyped_storage().data_ptr() for t in [*module.parameters(), *module.buffers()]}
    storages: dict[int, int] = {}

    def pack(t):
        key = t.untyped_storage().data_ptr()
        if key not in skip:
            storages[key] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        forward()
    return sum(storages.values())


def test_fused_stream_block_keeps_half_of_the_plain_one() -> None:
    """What the fusion is for: per conv, one saved activation instead of the conv's output, the
    normalised tensor and the activation."""
    torch.manual_seed(0)
    block = StreamResnetBlock(16, 16, norm="instance", spectral=False)
    x = torch.randn(2, 16, 32, 32, requires_grad=True)
    full = x.numel() * 4
    plain = saved_bytes(block, lambda: plain_stream_block(block, x))
    fused = saved_bytes(block, lambda: block(x))
    # plain: x, conv_0's output, its norm, its activation, conv_1's output, its norm (6 full tensors);
    # fused: x and the two activations (statistics aside)
    assert plain >= 6 * full
    assert fused <= 3 * full + full // 16


def test_module_path_and_errors() -> None:
    x = torch.randn(2, 4, 3, 3)
    assert not fusable(torch.nn.InstanceNorm2d(4, affine=True), x, LEAKY_SLOPE)
    assert not fusable(torch.nn.BatchNorm2d(4, affine=False).eval(), x, LEAKY_SLOPE)
    assert not fusable(torch.nn.SyncBatchNorm(4, affine=False), x, LEAKY_SLOPE)
    assert not fusable(torch.nn.InstanceNorm2d(4), x.bfloat16(), LEAKY_SLOPE)
    assert not fusable(torch.nn.InstanceNorm2d(4), x, 0.0)  # a ReLU cannot be undone
    with torch.no_grad():
        assert not fusable(torch.nn.InstanceNorm2d(4), x, LEAKY_SLOPE)
        torch.testing.assert_close(
            normalized_leaky_relu(torch.nn.InstanceNorm2d(4), x, LEAKY_SLOPE),
            F.leaky_relu(F.instance_norm(x), LEAKY_SLOPE),
        )
    identity_input = x.clone()
    out = normalized_leaky_relu(torch.nn.Identity(), identity_input, LEAKY_SLOPE)
    assert torch.equal(identity_input, x) and torch.equal(out, F.leaky_relu(x, LEAKY_SLOPE))  # input untouched
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        normalized_leaky_relu(torch.nn.BatchNorm2d(4, affine=False), torch.randn(1, 4, 1, 1, requires_grad=True), 0.2)
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        normalized_leaky_relu(torch.nn.InstanceNorm2d(4), torch.randn(2, 4, 1, 1, requires_grad=True), 0.2)


def test_norm_none_builds_a_discriminator_without_normalisation() -> None:
    plain = MultiscaleDiscriminator(num_classes=3, norm="none", num_scales=1, num_layers=2, base_channels=4)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._NormBase | torch.nn.InstanceNorm2d) for m in plain.modules())
    outputs = plain(torch.zeros(2, 3, 16, 16), torch.zeros(2, 3, 16, 16))
    assert torch.isfinite(outputs[0][-1]).all()
    with pytest.raises(ValueError, match="unknown normalization 'group'; valid: "):
        MultiscaleDiscriminator(num_classes=3, norm="group")
