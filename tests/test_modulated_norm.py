"""The memory-saving SPADE training path computes what the plain formula computes.

SPADE's training forward fuses ``norm(x) * (1 + gamma) + beta`` into one autograd node and can
rebuild its hidden map in the backward. None of
that may change a result: outputs, every gradient and the batch-norm running statistics must equal
those of the textbook formula, written out here with the plain modules.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from paintscape.layers.modulated_norm import fusable, modulated_norm
from paintscape.layers.spade import LEAKY_SLOPE, SPADE, SPADEResBlock


def plain_spade(layer: SPADE, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    hidden = layer.mlp_shared(label)
    return layer.param_free_norm(x) * (1 + layer.mlp_gamma(hidden)) + layer.mlp_beta(hidden)


def plain_block(block: SPADEResBlock, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    shortcut = block.conv_s(plain_spade(block.norm_s, x, label)) if block.learned_shortcut else x
    dx = block.conv_0(F.leaky_relu(plain_spade(block.norm_0, x, label), LEAKY_SLOPE))
    dx = block.conv_1(F.leaky_relu(plain_spade(block.norm_1, dx, label), LEAKY_SLOPE))
    return shortcut + dx


def run(block, forward, x, label, upstream):
    x = x.clone().requires_grad_(True)
    label = label.clone().requires_grad_(True)
    out = forward(block, x, label)
    (out * upstream).sum().backward()
    grads = {name: p.grad.clone() for name, p in block.named_parameters()}
    return out.detach(), x.grad, label.grad, grads, {k: v.clone() for k, v in block.named_buffers()}


@pytest.mark.parametrize("norm", ["syncbatch", "instance"])
@pytest.mark.parametrize("recompute", [False, True])
@pytest.mark.parametrize("channels", [(8, 4), (6, 6)])  # with and without the learned shortcut
@pytest.mark.parametrize("upsample", [1, 2])  # the block's x2 upsampling done inside the fused nodes
def test_fused_training_step_equals_the_plain_formula(norm: str, recompute: bool, channels: tuple[int, int], upsample: int) -> None:
    torch.manual_seed(0)
    block = SPADEResBlock(*channels, label_channels=5, norm=norm, spectral=False, hidden_channels=7)
    for layer in block.modules():
        if isinstance(layer, SPADE):
            layer.recompute_hidden = recompute
            torch.nn.init.normal_(layer.mlp_gamma.bias, 0, 0.3)  # non-trivial scale and shift
            torch.nn.init.normal_(layer.mlp_beta.bias, 0, 0.3)
    plain = copy.deepcopy(block)
    x = torch.randn(3, channels[0], 10 // upsample, 12 // upsample) * 2 + 0.5
    label = F.one_hot(torch.randint(0, 5, (3, 10, 12)), 5).permute(0, 3, 1, 2).float()
    upstream = torch.randn(3, channels[1], 10, 12)

    def plain_upsampled(b, x, lab):
        return plain_block(b, F.interpolate(x, scale_factor=upsample, mode="nearest"), lab)

    for _ in range(2):  # the second step sees running statistics updated by the first
        fused_result = run(block, lambda b, x, lab: b(x, lab, upsample=upsample), x, label, upstream)
        plain_result = run(plain, plain_upsampled, x, label, upstream)
        out, grad_x, grad_label, grads, buffers = fused_result
        p_out, p_grad_x, p_grad_label, p_grads, p_buffers = plain_result
        torch.testing.assert_close(out, p_out, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(grad_x, p_grad_x, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(grad_label, p_grad_label, rtol=1e-4, atol=1e-5)
        assert grads.keys() == p_grads.keys()
        for name in grads:
            # A bias in front of a batch norm has a true gradient of 0; both sides give rounding noise
            # of the size of the gradient's float32 resolution, so the tolerance is relative to the
            # largest gradient of the block.
            atol = 1e-6 * max(g.abs().max().item() for g in p_grads.values())
            torch.testing.assert_close(grads[name], p_grads[name], rtol=1e-4, atol=atol, msg=lambda m, name=name: f"{name}: {m}")
        for name in buffers:
            torch.testing.assert_close(buffers[name], p_buffers[name], rtol=1e-5, atol=1e-6, msg=lambda m, name=name: f"{name}: {m}")
        block.zero_grad(set_to_none=True)
        plain.zero_grad(set_to_none=True)
    if norm == "syncbatch":
        assert int(block.norm_0.param_free_norm.num_batches_tracked) == 2


def test_fused_node_keeps_neither_the_normalised_tensor_nor_the_hidden_map() -> None:
    """What the fusion is for: fewer bytes saved for backward (here about half of the plain path)."""
    torch.manual_seed(0)
    layer = SPADE(16, 5, norm="syncbatch", hidden_channels=32)
    x = torch.randn(2, 16, 32, 32, requires_grad=True)  # as inside a network
    label = F.one_hot(torch.randint(0, 5, (2, 32, 32)), 5).permute(0, 3, 1, 2).float()
    parameters = {p.data_ptr() for p in layer.parameters()}

    def saved_bytes(forward) -> int:
        storages: dict[int, int] = {}

        def pack(t):
            if isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() not in parameters:
                storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            forward()
        return sum(storages.values())

    plain = saved_bytes(lambda: plain_spade(layer, x, label))
    layer.recompute_hidden = False
    fused = saved_bytes(lambda: layer(x, label))
    layer.recompute_hidden = True
    rebuilt = saved_bytes(lambda: layer(x, label))
    full = x.numel() * 4  # one (2, 16, 32, 32) float tensor
    hidden = 2 * 32 * 32 * 32 * 4
    assert plain - fused >= full  # the normalised x is gone
    assert fused - rebuilt >= hidden  # and, rebuilt, the hidden map too


def test_evaluation_and_sync_batch_norm_take_the_module_path() -> None:
    norm = torch.nn.BatchNorm2d(4, affine=False)
    x = torch.randn(2, 4, 3, 3)
    assert fusable(norm, x)
    assert not fusable(norm.eval(), x)
    assert not fusable(torch.nn.SyncBatchNorm(4, affine=False), x)
    assert not fusable(torch.nn.BatchNorm2d(4, affine=False), x.bfloat16())
    with torch.no_grad():
        assert not fusable(torch.nn.BatchNorm2d(4, affine=False), x)
        scale, shift = torch.rand(2, 4, 3, 3), torch.rand(2, 4, 3, 3)
        expected = norm(x) * scale + shift
        torch.testing.assert_close(modulated_norm(norm, x, scale, shift), expected)


def test_batch_of_one_pixel_per_channel_is_refused_like_batch_norm() -> None:
    norm = torch.nn.BatchNorm2d(4, affine=False)
    x = torch.randn(1, 4, 1, 1, requires_grad=True)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        modulated_norm(norm, x, torch.ones_like(x), torch.zeros_like(x))


@pytest.mark.parametrize("norm", ["syncbatch", "instance"])
def test_fade_block_training_step_equals_the_plain_formula(norm: str) -> None:
    """TSIT's FADE uses the same fused node: same outputs, gradients and running statistics."""
    from paintscape.layers.fade import LEAKY_SLOPE as FADE_SLOPE
    from paintscape.layers.fade import FADEResnetBlock

    def plain_fade(layer, x, feature):
        return layer.param_free_norm(x) * (1 + layer.mlp_gamma(feature)) + layer.mlp_beta(feature)

    def plain_fade_block(block, x, feature):
        shortcut = block.conv_s(plain_fade(block.norm_s, x, feature)) if block.learned_shortcut else x
        dx = block.conv_0(F.leaky_relu(plain_fade(block.norm_0, x, feature), FADE_SLOPE))
        dx = block.conv_1(F.leaky_relu(plain_fade(block.norm_1, dx, feature), FADE_SLOPE))
        return shortcut + dx

    torch.manual_seed(0)
    block = FADEResnetBlock(6, 4, norm=norm, spectral=True)
    plain = copy.deepcopy(block)
    x = torch.randn(2, 6, 8, 10)
    feature = torch.randn(2, 6, 8, 10)
    upstream = torch.randn(2, 4, 8, 10)
    for _ in range(2):
        out, grad_x, grad_feature, grads, buffers = run(block, lambda b, x, f: b(x, f), x, feature, upstream)
        p_out, p_grad_x, p_grad_feature, p_grads, p_buffers = run(plain, plain_fade_block, x, feature, upstream)
        torch.testing.assert_close(out, p_out, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(grad_x, p_grad_x, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(grad_feature, p_grad_feature, rtol=1e-4, atol=1e-5)
        atol = 1e-6 * max(g.abs().max().item() for g in p_grads.values())
        for name in grads:
            torch.testing.assert_close(grads[name], p_grads[name], rtol=1e-4, atol=atol, msg=lambda m, name=name: f"{name}: {m}")
        for name in buffers:
            torch.testing.assert_close(buffers[name], p_buffers[name], rtol=1e-5, atol=1e-6, msg=lambda m, name=name: f"{name}: {m}")
        block.zero_grad(set_to_none=True)
        plain.zero_grad(set_to_none=True)
