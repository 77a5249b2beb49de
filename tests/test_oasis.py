"""OASIS: generator and discriminator contracts, reference parity (golden fixtures), the N+1 loss and
LabelMix, reference state dicts, parameter counts.

The fixtures in tests/fixtures/oasis were computed with the reference code (boschresearch/OASIS @
aeb875f, offline CPU, fp32) by make_fixtures.py there; see docs/parity_oasis.md. Weights are not
stored: the script and these tests fill the networks from the formula of synthetic_state.py (the
script with the reference's key names, the tests through our key map).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from paintscape.checkpoint import load_generator, save_generator
from paintscape.labels import IGNORE_INDEX, NUM_CLASSES, one_hot
from paintscape.losses import (
    class_balance_weights,
    labelmix_loss,
    labelmix_mask,
    mix_images,
    segmentation_adversarial_loss,
)
from paintscape.models.base import GeneratorSpec
from paintscape.models.oasis import FAKE_CHANNEL, OASISDiscriminator, OASISGenerator, class_logits
from paintscape.reference.oasis import (
    OASISCheckpointError,
    convert_discriminator_state_dict,
    convert_generator_state_dict,
    discriminator_key_map,
    generator_key_map,
    load_reference_checkpoint,
    load_reference_state,
    reference_generator_kwargs,
)
from paintscape.registry import DISCRIMINATORS, GENERATORS

FIXTURES = Path(__file__).parent / "fixtures" / "oasis"
_spec = importlib.util.spec_from_file_location("oasis_synthetic_state", FIXTURES / "synthetic_state.py")
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)

# the fixtures' networks: the reference's architecture, narrow
FIXTURE_G = dict(num_classes=NUM_CLASSES, image_size=(32, 64), base_channels=4)
FIXTURE_D = dict(num_classes=NUM_CLASSES, base_channels=16)
TINY_G = dict(image_size=(32, 64), base_channels=2, channel_multipliers=(8, 8, 4, 2, 1), z_dim=8, hidden_channels=16)


@functools.cache
def reference_state(network: str) -> dict[str, torch.Tensor]:
    """The fixture's weights for the fixture's ``"generator"`` or ``"discriminator"``, under the
    reference's key names (computed once: the formula takes seconds on millions of values)."""
    if network == "generator":
        model: torch.nn.Module = OASISGenerator(**FIXTURE_G)
        key_map = generator_key_map(model)
    else:
        model = OASISDiscriminator(**FIXTURE_D)
        key_map = discriminator_key_map(model)
    return synthetic.synthetic_state({key_map[k]: v for k, v in model.state_dict().items()})


def fixture_generator() -> OASISGenerator:
    return load_reference_state(OASISGenerator(**FIXTURE_G), reference_state("generator"))


def fixture_discriminator() -> OASISDiscriminator:
    return load_reference_state(OASISDiscriminator(**FIXTURE_D), reference_state("discriminator"))


@pytest.fixture(scope="module")
def golden() -> dict[str, dict[str, torch.Tensor]]:
    return {name: load_file(FIXTURES / f"{name}.safetensors") for name in ("generator", "discriminator", "losses")}


def labels(batch: int, size: tuple[int, int], seed: int = 0) -> torch.Tensor:
    return torch.randint(0, NUM_CLASSES, (batch, *size), generator=torch.Generator().manual_seed(seed))


# --- generator contract ------------------------------------------------------------------------


def test_generator_registered_with_its_contract() -> None:
    generator = GENERATORS.build("oasis", **TINY_G)
    assert isinstance(generator, OASISGenerator)
    assert generator.num_classes == generator.label_channels == NUM_CLASSES
    assert generator.z_dim == 8 and generator.spatial_latent and not generator.uses_style and generator.encoder is None
    assert generator.latent_shape(3, (32, 64)) == (3, 8, 32, 64)
    label = one_hot(labels(2, (32, 64)))
    z = torch.randn(2, 8, 32, 64)
    out = generator(label, z=z)
    assert out.shape == (2, 3, 32, 64) and out.abs().max() <= 1
    out.mean().backward()
    assert generator.fc.weight.grad.abs().sum() > 0 and generator.body[0].conv_0.weight_orig.grad.abs().sum() > 0


def test_noise_forms_and_the_reference_draw() -> None:
    generator = OASISGenerator(**TINY_G).eval()
    label = one_hot(labels(2, (32, 64)))
    vector = torch.randn(2, 8)
    with torch.no_grad():
        constant = generator(label, z=vector[:, :, None, None].expand(2, 8, 32, 64))
        # a (B, z_dim) z is the reference's per-image vector, repeated over the map
        assert torch.equal(generator(label, z=vector), constant)
        # z=None draws torch.randn(B, z_dim) from the global RNG, as the reference's forward does
        torch.manual_seed(5)
        drawn = generator(label)
        torch.manual_seed(5)
        assert torch.equal(drawn, generator(label, z=torch.randn(2, 8)))
        assert not torch.equal(drawn, constant)
    with pytest.raises(ValueError, match=r"z of shape \(2, 8, 32, 64\) or \(2, 8\)"):
        generator(label, z=torch.randn(2, 8, 16, 32))


def test_latent_for_is_spatially_constant_and_per_seed() -> None:
    generator = OASISGenerator(**TINY_G)
    z = generator.latent_for([3, 4], (32, 64))
    assert z.shape == (2, 8, 32, 64)
    assert torch.equal(z, z[:, :, :1, :1].expand_as(z))  # one vector per image, as the reference trains on
    assert torch.equal(z[1:], generator.latent_for([4], (32, 64)))  # independent of the batch it is drawn in
    assert torch.equal(z[0, :, 0, 0], torch.randn(8, generator=torch.Generator().manual_seed(3)))
    with pytest.raises(ValueError, match="no style encoder"):
        generator.latent_for([0], (32, 64), mu=torch.zeros(1, 8), logvar=torch.zeros(1, 8))


def test_without_3d_noise() -> None:
    generator = OASISGenerator(**{**TINY_G, "z_dim": 0}).eval()  # the reference's --no_3dnoise
    assert generator.z_dim == 0 and not generator.spatial_latent and generator.latent_shape(1, (32, 64)) is None
    assert generator.latent_for([0], (32, 64)) is None
    assert generator.fc.in_channels == NUM_CLASSES
    label = one_hot(labels(1, (32, 64)))
    with torch.no_grad():
        assert torch.equal(generator(label), generator(label))
    with pytest.raises(ValueError, match="no noise"):
        generator(label, z=torch.randn(1, 8))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(image_size=(36, 64)), r"multiples of 8 \(e\.g\. \(32, 64\)\)"),
        (dict(channel_multipliers=(4,)), "at least two"),
        (dict(base_channels=0), "base_channels"),
        (dict(z_dim=-1), "z_dim"),
        (dict(norm="group"), "unknown normalization"),
    ],
)
def test_bad_generator_arguments_are_explained(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OASISGenerator(**{**TINY_G, **kwargs})


def test_bad_generator_inputs_are_explained() -> None:
    generator = OASISGenerator(**TINY_G)
    with pytest.raises(ValueError, match=r"one-hot label \(B, 29, H, W\)"):
        generator(torch.zeros(1, 30, 32, 64))
    with pytest.raises(ValueError, match=r"built for image_size \(32, 64\)"):
        generator(one_hot(labels(1, (64, 64))))


def test_norm_kernel_and_spectral_options() -> None:
    generator = OASISGenerator(**{**TINY_G, "norm": "instance", "kernel_size": 5, "spectral": False})
    assert isinstance(generator.body[0].norm_0.param_free_norm, torch.nn.InstanceNorm2d)
    assert generator.body[0].norm_0.mlp_shared[0].kernel_size == (5, 5)
    assert not hasattr(generator.body[0].conv_0, "weight_orig")
    assert generator(one_hot(labels(2, (32, 64)))).shape == (2, 3, 32, 64)


def test_seed_determinism_and_file_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    generator = OASISGenerator(**TINY_G).eval()
    torch.manual_seed(0)
    twin = OASISGenerator(**TINY_G).eval()
    label = one_hot(labels(2, (32, 64)))
    z = generator.latent_for([0, 1], (32, 64))
    with torch.no_grad():
        assert torch.equal(generator(label, z=z), twin(label, z=z))
    args = {**TINY_G, "image_size": [32, 64], "channel_multipliers": [8, 8, 4, 2, 1]}  # as JSON stores them
    save_generator(tmp_path / "g.safetensors", generator, GeneratorSpec("oasis", args, (32, 64)))
    loaded, spec = load_generator(tmp_path / "g.safetensors")
    assert spec.family == "oasis"
    with torch.no_grad():
        assert torch.equal(loaded(label, z=z), generator(label, z=z))


def test_resampling_a_region_changes_the_rest_a_little() -> None:
    """New noise inside a mask: the photo changes mostly there. Not only there: the first feature map
    is H/32 x W/32 and the convs at low resolution see the whole image, so pixels outside move too,
    on the fixture's network by about a fifth of the change inside (eval mode; docs/parity_oasis.md).
    The Painter keeps the pixels outside by compositing."""
    generator = fixture_generator().eval()
    H, W = FIXTURE_G["image_size"]
    label = synthetic.one_hot(synthetic.label_map(H, W, NUM_CLASSES, 7)[None], NUM_CLASSES)
    before, other = generator.latent_for([1], (H, W)), generator.latent_for([2], (H, W))
    mask = torch.zeros(1, 1, H, W, dtype=torch.bool)
    mask[..., :, : W // 4] = True  # the left quarter
    with torch.no_grad():
        reference = generator(label, z=before)
        change = (generator(label, z=torch.where(mask, other, before)) - reference).abs().mean(dim=1, keepdim=True)
    inside, outside = change[mask].mean(), change[~mask].mean()
    assert 0.05 < inside < 0.08  # measured 0.066
    assert 0.1 < outside / inside < 0.3  # measured 0.19 (0.0127)


# --- discriminator contract --------------------------------------------------------------------


def test_discriminator_segments_into_classes_plus_fake() -> None:
    discriminator = DISCRIMINATORS.build("oasis", base_channels=2, channel_multipliers=(1, 2, 4))
    assert isinstance(discriminator, OASISDiscriminator)
    discriminator.eval()  # (in training mode each call moves the spectral norms' u and v)
    image = torch.rand(2, 3, 32, 48) * 2 - 1
    logits = discriminator(image)
    assert logits.shape == (2, NUM_CLASSES + 1, 32, 48) and FAKE_CHANNEL == 0
    assert torch.equal(class_logits(logits), logits[:, 1:])
    ids = discriminator.segment(image)
    assert ids.shape == (2, 32, 48) and ids.dtype == torch.long
    assert torch.equal(ids, logits[:, 1:].argmax(dim=1))
    with pytest.raises(ValueError, match="multiples of 8"):
        discriminator(torch.zeros(1, 3, 36, 48))
    with pytest.raises(ValueError, match="at least two"):
        OASISDiscriminator(channel_multipliers=(2,))


def test_discriminator_layout_is_the_references() -> None:
    d = OASISDiscriminator()  # base 64: the reference's hard-coded 128, 128, 256, 256, 512, 512 and 64
    down = [(b.conv1.in_channels, b.conv1.out_channels, b.learned_shortcut) for b in d.body_down]
    up = [(b.conv1.in_channels, b.conv1.out_channels) for b in d.body_up]
    assert down == [
        (3, 128, True),
        (128, 128, False),
        (128, 256, True),
        (256, 256, False),
        (256, 512, True),
        (512, 512, False),
    ]
    assert up == [(512, 512), (1024, 256), (512, 256), (512, 128), (256, 128), (256, 64)]
    assert d.body_down[0].first and not d.body_down[1].first and d.layer_up_last.out_channels == 30


# --- parameter counts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("num_classes", "size", "g_count", "d_count"),
    [
        (151, (256, 256), 74_314_691, 22_258_904),  # ADE20K: 150 classes + "unknown" (semantic_nc 151), 256 x 256
        (29, (384, 512), 70_941_635, 22_250_974),  # the track: 29 classes, 512 x 384
    ],
)
def test_parameter_counts_match_the_reference(
    num_classes: int, size: tuple[int, int], g_count: int, d_count: int
) -> None:
    """boschresearch/OASIS defaults: channels_G 64, z_dim 64, num_res_blocks 6, spade_ks 3, spectral norm."""
    with torch.device("meta"):  # shapes only
        generator = OASISGenerator(num_classes=num_classes, image_size=size)
        discriminator = OASISDiscriminator(num_classes=num_classes)
    assert sum(p.numel() for p in generator.parameters()) == g_count
    assert sum(p.numel() for p in discriminator.parameters()) == d_count


# --- parity with the reference (golden fixtures) ---------------------------------------------------


def test_parity_generator_eval(golden) -> None:
    cases = golden["generator"]
    generator = fixture_generator().eval()
    label = one_hot(cases["label"].long())
    with torch.no_grad():
        out = generator(label, z=cases["z_eval"])
        torch.manual_seed(1)  # the seed under which the reference drew its noise
        drawn = generator(label)
    torch.testing.assert_close(out, cases["output_eval"], rtol=0, atol=1e-5)  # measured: 0 (bit-exact)
    assert torch.equal(drawn, out)


def test_parity_generator_train_mode(golden) -> None:
    """Batch statistics, one spectral-norm power iteration, running statistics; then the gradients."""
    cases = golden["generator"]
    generator = fixture_generator().train()
    label = one_hot(cases["label"].long())
    torch.manual_seed(2)
    out = generator(label)
    # measured 5.9e-6: with autograd on, spectral norm divides the conv's output instead of its
    # weight and SPADE's norm + modulation is one fused node (the same math, rounded differently)
    torch.testing.assert_close(out, cases["output_train"], rtol=0, atol=1e-5)
    (out * synthetic.pseudo_uniform(tuple(out.shape), 99)).sum().backward()
    ours = {reference_key: our_key for our_key, reference_key in generator_key_map(generator).items()}
    state, parameters = generator.state_dict(), dict(generator.named_parameters())
    buffers = [k for k in cases if k.startswith("after_train.")]
    assert len(buffers) == 64  # running mean/var of 16 SPADE norms, u/v of 16 spectral-norm convs
    for key in buffers:
        torch.testing.assert_close(state[ours[key[len("after_train.") :]]], cases[key], rtol=0, atol=1e-6)
    for key in [k for k in cases if k.startswith("grad.")]:
        expected = cases[key]
        grad = parameters[ours[key[len("grad.") :]]].grad
        # measured: at most 4.3e-6 of the largest gradient of the tensor
        torch.testing.assert_close(grad, expected, rtol=0, atol=1e-5 * float(expected.abs().max()))


def test_parity_discriminator(golden) -> None:
    cases = golden["discriminator"]
    discriminator = fixture_discriminator()
    image = synthetic.pseudo_uniform((2, 3, 64, 128), 5)
    with torch.no_grad():
        out = discriminator.eval()(image)
    torch.testing.assert_close(out[..., ::4, ::4], cases["output_eval_sub4"], rtol=0, atol=1e-5)  # measured 0
    moments = torch.stack([out.double().mean(), out.double().std()])
    torch.testing.assert_close(moments, cases["moments_eval"], rtol=0, atol=1e-7)

    image.requires_grad_(True)
    out = discriminator.train()(image)  # one power iteration per spectral-norm conv
    torch.testing.assert_close(out.detach()[..., ::4, ::4], cases["output_train_sub4"], rtol=0, atol=1e-5)  # 1.2e-7
    (out * synthetic.pseudo_uniform(tuple(out.shape), 98)).sum().backward()
    torch.testing.assert_close(image.grad, cases["grad_image"], rtol=0, atol=1e-5)  # measured 1.2e-7
    ours = {reference_key: our_key for our_key, reference_key in discriminator_key_map(discriminator).items()}
    state = discriminator.state_dict()
    for key in [k for k in cases if k.startswith("after_train.")]:
        torch.testing.assert_close(state[ours[key[len("after_train.") :]]], cases[key], rtol=0, atol=1e-6)


def _loss_inputs(cases):
    label = cases["label"].long()
    logits = {
        k: 3 * synthetic.pseudo_uniform((2, 30, 16, 24), s) for k, s in (("real", 31), ("fake", 32), ("mixed", 33))
    }
    return label, logits


def test_parity_class_balanced_losses(golden) -> None:
    cases = golden["losses"]
    label, logits = _loss_inputs(cases)
    assert torch.equal(class_balance_weights(label, NUM_CLASSES), cases["weights"])
    assert torch.equal(class_balance_weights(label, NUM_CLASSES, dont_care_class=0), cases["weights_dontcare"])
    values = {
        "loss_real": segmentation_adversarial_loss(logits["real"], label, real=True),
        "loss_fake": segmentation_adversarial_loss(logits["fake"], label, real=False),
        "loss_real_unbalanced": segmentation_adversarial_loss(logits["real"], label, real=True, class_balanced=False),
        "loss_real_dontcare": segmentation_adversarial_loss(logits["real"], label, real=True, dont_care_class=0),
    }
    for name, value in values.items():  # measured: 0, 4.8e-7 (the fake term: a mean, reduced differently), 0, 0
        torch.testing.assert_close(value, cases[name], rtol=0, atol=1e-6)


def test_parity_labelmix(golden) -> None:
    cases = golden["losses"]
    label, logits = _loss_inputs(cases)
    real, fake = synthetic.pseudo_uniform((2, 3, 16, 24), 41), synthetic.pseudo_uniform((2, 3, 16, 24), 42)
    relabelled = 0
    for seed in range(8):
        mask = labelmix_mask(label, generator=torch.Generator().manual_seed(seed))
        assert torch.equal(mask[:, 0].to(torch.uint8), cases[f"labelmix_mask_{seed}"]), seed
        assert torch.equal(mix_images(real, fake, mask), cases[f"labelmix_image_{seed}"])
        loss = labelmix_loss(mask, logits["mixed"], logits["fake"], logits["real"])
        torch.testing.assert_close(loss, cases[f"labelmix_loss_{seed}"], rtol=0, atol=1e-6)  # measured 0
        coins = torch.randint(0, 2, (2,), generator=torch.Generator().manual_seed(seed)).tolist()
        relabelled += coins == [1, 0]
    assert relabelled == 2  # seeds 5 and 7: class 0 drew 1, then took class 1's 0 (the reference's loop)


def test_labelmix_mask_global_rng_matches_an_explicit_generator() -> None:
    label = labels(2, (16, 24))
    torch.manual_seed(11)
    assert torch.equal(labelmix_mask(label), labelmix_mask(label, generator=torch.Generator().manual_seed(11)))


# --- loss properties --------------------------------------------------------------------------------


def test_class_balance_gives_each_present_class_an_equal_share() -> None:
    label = torch.zeros(2, 8, 10, dtype=torch.long)
    label[:, :2] = 3
    label[0, 5:, :3] = 7
    label[1, -1, -1] = IGNORE_INDEX
    weights = class_balance_weights(label, NUM_CLASSES)
    assert weights[1, -1, -1] == 0
    valid = label != IGNORE_INDEX
    totals = [float(weights[(label == c) & valid].sum()) for c in (0, 3, 7)]
    # every present class sums to B*H*W / K (K = 3 present classes); the ignored pixel counts in B*H*W
    assert totals == pytest.approx([160 / 3] * 3, rel=1e-6)
    dont_care = class_balance_weights(label, NUM_CLASSES, dont_care_class=0)
    assert dont_care[label == 0].eq(0).all()
    assert float(dont_care[label == 3].sum()) == pytest.approx(80, rel=1e-6)  # now K = 2
    with pytest.raises(ValueError, match=r"\(B, H, W\)"):
        class_balance_weights(one_hot(label), NUM_CLASSES)


def test_segmentation_loss_targets() -> None:
    label = torch.tensor([[[0, 2], [2, IGNORE_INDEX]]])
    logits = torch.full((1, 4, 2, 2), -20.0)
    logits[0, 0] = 20.0  # D says "fake" everywhere
    assert segmentation_adversarial_loss(logits, label, real=False) < 1e-6
    assert segmentation_adversarial_loss(logits, label, real=True) > 30
    logits = torch.full((1, 4, 2, 2), -20.0)
    logits[0, 1, 0, 0] = logits[0, 3, 0, 1] = logits[0, 3, 1, 0] = 20.0  # class k -> channel k + 1
    assert segmentation_adversarial_loss(logits, label, real=True) < 1e-6  # the ignored pixel weighs 0
    assert segmentation_adversarial_loss(logits, label, real=True, class_balanced=False) < 1e-6
    with pytest.raises(ValueError, match="same"):
        segmentation_adversarial_loss(logits, label[:, :1], real=True)


def test_labelmix_mask_is_constant_per_class_and_mixes() -> None:
    label = labels(2, (16, 24))
    label[0, :2] = IGNORE_INDEX
    with pytest.raises(ValueError, match=r"\(B, H, W\)"):
        labelmix_mask(one_hot(label))
    mask = labelmix_mask(label, generator=torch.Generator().manual_seed(0))
    assert mask.shape == (2, 1, 16, 24) and set(mask.unique().tolist()) <= {0.0, 1.0}
    for c in label.unique():
        assert mask[:, 0][label == c].unique().numel() == 1  # one draw per class, across the batch
    real, fake = torch.ones(2, 3, 16, 24), -torch.ones(2, 3, 16, 24)
    assert torch.equal(mix_images(real, fake, mask), mask.expand(2, 3, 16, 24) * 2 - 1)
    d = torch.randn(2, 30, 16, 24)
    assert labelmix_loss(mask, mix_images(d, d + 1, mask), d + 1, d) == 0  # a D consistent with the mix


# --- reference state dicts --------------------------------------------------------------------------


def test_reference_kwargs_are_read_from_the_state_dict() -> None:
    kwargs = reference_generator_kwargs(reference_state("generator"), (32, 64), num_classes=NUM_CLASSES)
    assert kwargs == dict(
        num_classes=29, image_size=(32, 64), base_channels=4, channel_multipliers=(16, 16, 16, 8, 4, 2, 1),
        z_dim=64, norm="syncbatch", spectral=True, hidden_channels=128, kernel_size=3,
    )  # fmt: skip
    load_reference_state(OASISGenerator(**kwargs), reference_state("generator"))
    with pytest.raises(OASISCheckpointError, match="fewer than num_classes"):
        reference_generator_kwargs(reference_state("generator"), (32, 64), num_classes=151)
    with pytest.raises(OASISCheckpointError, match="no key 'fc.weight'"):
        reference_generator_kwargs({}, (32, 64), num_classes=29)


def test_checkpoint_files_with_data_parallel_prefix(golden, tmp_path: Path) -> None:
    cases = golden["generator"]
    torch.save({f"module.{k}": v for k, v in reference_state("generator").items()}, tmp_path / "latest_EMA.pth")
    generator = load_reference_checkpoint(OASISGenerator(**FIXTURE_G), tmp_path / "latest_EMA.pth").eval()
    with torch.no_grad():
        out = generator(one_hot(cases["label"].long()), z=cases["z_eval"])
    torch.testing.assert_close(out, cases["output_eval"], rtol=0, atol=1e-5)
    torch.save(reference_state("discriminator"), tmp_path / "latest_D.pth")
    load_reference_checkpoint(OASISDiscriminator(**FIXTURE_D), tmp_path / "latest_D.pth")
    with pytest.raises(TypeError, match="OASISGenerator or OASISDiscriminator"):
        load_reference_state(torch.nn.Linear(1, 1), {})


def test_mismatches_name_the_key_and_the_argument() -> None:
    generator = OASISGenerator(**FIXTURE_G)
    state = reference_state("generator")
    with pytest.raises(OASISCheckpointError, match=r"'fc\.weight' has shape .*num_classes .*z_dim"):
        convert_generator_state_dict(state, OASISGenerator(**{**FIXTURE_G, "num_classes": 30}))
    with pytest.raises(OASISCheckpointError, match=r"no key .*first_norm\.running_mean.*param_free_norm"):
        convert_generator_state_dict(
            {k: v for k, v in state.items() if not k.endswith("first_norm.running_mean")}, generator
        )
    with pytest.raises(OASISCheckpointError, match=r"'fc\.weight' has shape .*channels_G"):
        convert_generator_state_dict(state, OASISGenerator(**{**FIXTURE_G, "base_channels": 2}))
    d_state = reference_state("discriminator")
    with pytest.raises(OASISCheckpointError, match=r"layer_up_last\.weight.*semantic_nc"):
        convert_discriminator_state_dict(d_state, OASISDiscriminator(**{**FIXTURE_D, "num_classes": 151}))
    # one level fewer than the reference: its deepest level's keys are named first, with the argument to check
    with pytest.raises(OASISCheckpointError, match=r"keys our network does not use: 'body_down\.5\..*channel_multipliers"):
        convert_discriminator_state_dict(d_state, OASISDiscriminator(**FIXTURE_D, channel_multipliers=(2, 2, 4, 4, 8)))


def test_discriminator_keys_follow_the_references_sequentials() -> None:
    mapping = discriminator_key_map(OASISDiscriminator(base_channels=2))
    assert mapping["body_down.0.conv1.weight_orig"] == "body_down.0.conv1.0.weight_orig"  # first: no activation
    assert mapping["body_down.1.conv1.weight_u"] == "body_down.1.conv1.1.weight_u"  # (LeakyReLU, conv)
    assert mapping["body_up.2.conv1.bias"] == "body_up.2.conv1.2.bias"  # (LeakyReLU, Upsample, conv)
    assert mapping["body_up.2.conv2.weight_v"] == "body_up.2.conv2.1.weight_v"
    assert mapping["body_up.1.conv_s.weight_orig"] == "body_up.1.conv_s.weight_orig"
    assert mapping["layer_up_last.weight"] == "layer_up_last.weight"
