"""Every registered network, at tiny width: builds, runs forward and backward, is deterministic
under a seed, and round-trips through a safetensors generator file. A new registration without a
tiny configuration here fails the test, so it is tested the day it is registered."""

import json

import pytest
import torch
from generator_files import TINY_ARGS
from safetensors.torch import save as safetensors_save

import paintscape.models  # noqa: F401
from paintscape.checkpoint import SPEC_KEY, CheckpointError, load_generator, save_generator
from paintscape.labels import NUM_CLASSES
from paintscape.models.base import Generator, GeneratorSpec
from paintscape.registry import DISCRIMINATORS, GENERATORS

TINY_GENERATORS = {
    **TINY_ARGS,
    "remapped": {"inner": "spade", "inner_args": {"num_classes": 150, "extra_label_channels": 1, "image_size": [32, 64], "base_channels": 4, "hidden_channels": 8, "norm": "batch"}, "table": "ade20k"},
}
TINY_DISCRIMINATORS = {
    "multiscale": {"base_channels": 4, "num_layers": 2, "num_scales": 2},
    "oasis": {"base_channels": 4, "channel_multipliers": [2, 4, 8]},
    "patchgan": {"base_channels": 4, "num_layers": 2},
}
# Segmentation discriminators see the photo alone: forward(image) -> (B, num_classes + 1, H, W).
SEGMENTATION_DISCRIMINATORS = {"oasis"}


def build(name, args):
    return GENERATORS.build(name, **GeneratorSpec(name, args, size_of(args)).build_kwargs())


def size_of(args):
    return tuple((args.get("inner_args") or args)["image_size"])


def inputs(generator, size, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 29, (2, *size), generator=g)
    label = torch.nn.functional.one_hot(ids, 29).permute(0, 3, 1, 2).float()
    z = None
    if generator.z_dim:  # the families that subclass Generator say their latent's shape (controlnet's is spatial)
        shape = generator.latent_shape(2, size) if isinstance(generator, Generator) else (2, generator.z_dim)
        z = torch.randn(shape, generator=g)
    style = torch.rand(2, 3, *size, generator=g) * 2 - 1 if generator.uses_style else None
    return label, z, style


def test_every_registered_network_has_a_tiny_config():
    assert set(GENERATORS.names()) == set(TINY_GENERATORS)
    assert set(DISCRIMINATORS.names()) == set(TINY_DISCRIMINATORS)


@pytest.mark.parametrize("name", GENERATORS.names())
def test_generator_forward_backward_determinism_and_file_round_trip(name, tmp_path):
    args = TINY_GENERATORS[name]
    size = size_of(args)
    torch.manual_seed(0)
    generator = build(name, args)
    torch.manual_seed(0)
    twin = build(name, args)
    for a, b in zip(generator.state_dict().values(), twin.state_dict().values()):
        assert torch.equal(a, b), "construction is not deterministic under a seed"
    label, z, style = inputs(generator, size)
    out = generator(label, z=z, style=style)
    assert out.shape == (2, 3, *size) and out.abs().max() <= 1
    out.mean().backward()
    grads = [p.grad for p in generator.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)

    generator.eval()
    save_generator(tmp_path / "g.safetensors", generator, GeneratorSpec(name, args, size))
    loaded, spec = load_generator(tmp_path / "g.safetensors")
    with torch.no_grad():
        torch.testing.assert_close(loaded(label, z=z, style=style), generator(label, z=z, style=style), rtol=0, atol=0)


@pytest.mark.parametrize("name", DISCRIMINATORS.names())
def test_discriminator_features_and_backward(name):
    torch.manual_seed(0)
    discriminator = DISCRIMINATORS.build(name, **TINY_DISCRIMINATORS[name])
    label = torch.nn.functional.one_hot(torch.randint(0, 29, (2, 32, 64)), 29).permute(0, 3, 1, 2).float()
    image = (torch.rand(2, 3, 32, 64) * 2 - 1).requires_grad_(True)
    if name in SEGMENTATION_DISCRIMINATORS:
        logits = discriminator(image)
        assert logits.shape == (2, 30, 32, 64)
        logits.mean().backward()
        assert image.grad is not None and image.grad.abs().sum() > 0
        return
    outputs = discriminator(label, image)
    assert isinstance(outputs, list) and all(isinstance(scale, list) and len(scale) >= 2 for scale in outputs)
    sum(scale[-1].mean() for scale in outputs).backward()
    assert image.grad is not None and image.grad.abs().sum() > 0


def test_unknown_network_names_the_valid_ones():
    with pytest.raises(ValueError, match="valid names: controlnet, oasis, pix2pix, remapped, spade, tsit"):
        GENERATORS.build("gaugan2")
    with pytest.raises(ValueError, match="takes no argument 'base_channel'"):
        GENERATORS.build("spade", base_channel=8)


@pytest.mark.parametrize("name", GENERATORS.names())
def test_generator_implements_the_contract(name):
    args = TINY_GENERATORS[name]
    size = size_of(args)
    generator = build(name, args)
    assert isinstance(generator, Generator)
    assert generator.num_classes == NUM_CLASSES and generator.label_channels >= generator.num_classes
    shape = generator.latent_shape(2, size)
    assert (shape is None) == (generator.z_dim == 0)
    z = generator.latent_for([3, 4], size)
    if shape is None:
        assert z is None
        return
    assert z.shape == shape
    assert torch.equal(generator.latent_for([4], size), z[1:])  # one draw per seed, whatever the batch
    if generator.encoder is not None:
        mu, logvar = generator.encoder(torch.rand(2, 3, *size) * 2 - 1)
        around = generator.latent_for([3, 4], size, mu=mu, logvar=logvar)
        torch.testing.assert_close(around, mu + z * torch.exp(0.5 * logvar))


def test_files_with_the_old_spec_dict_still_load(tmp_path):
    args = {**TINY_GENERATORS["spade"], "image_size": [32, 64]}
    torch.manual_seed(0)
    generator = build("spade", args)
    old = {"name": "spade", "args": args, "image_size": [32, 64], "num_classes": 29, "converted_from": "G.pth", "preset": "spade"}
    tensors = {k: v.contiguous() for k, v in generator.state_dict().items()}
    (tmp_path / "old.safetensors").write_bytes(safetensors_save(tensors, metadata={SPEC_KEY: json.dumps(old)}))
    loaded, spec = load_generator(tmp_path / "old.safetensors")
    assert spec.family == "spade" and spec.image_size == (32, 64) and spec.num_classes == NUM_CLASSES
    assert spec.extra == {"converted_from": "G.pth", "preset": "spade"}
    assert spec.build_kwargs()["image_size"] == (32, 64)
    assert GeneratorSpec.from_json(spec.to_json()) == spec
    assert torch.equal(loaded.stem.weight, generator.stem.weight)


def test_a_bad_spec_is_one_line_naming_the_file(tmp_path):
    (tmp_path / "bad.safetensors").write_bytes(safetensors_save({"w": torch.zeros(1)}, metadata={SPEC_KEY: json.dumps({"name": "spade", "args": {}})}))
    with pytest.raises(CheckpointError, match=r"bad\.safetensors: not a valid generator spec.*image_size"):
        load_generator(tmp_path / "bad.safetensors")


@pytest.mark.parametrize(
    "spec, message",
    [
        ("[1, 2]", "the generator spec must be a JSON object, got list"),
        ('{"name": 5, "args": {}, "image_size": [32, 64]}', "'name' must be a string and 'args' an object"),
        ('{"name": "spade", "args": {}, "image_size": [32, 64], "class_names": ["a", "b"], "palette": [[1, 2, 3]]}',
         "'class_names' must be strings, one palette colour each"),
        ("{not json", "the generator spec is not JSON"),
    ],
)
def test_every_damaged_spec_names_the_file(tmp_path, spec, message):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(safetensors_save({"w": torch.zeros(1)}, metadata={SPEC_KEY: spec}))
    with pytest.raises(CheckpointError, match=f"{path}: .*{message}") as caught:
        load_generator(path)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "registry, name, args, message",
    [
        (GENERATORS, "pix2pix", {"image_size": (1, 64)}, r"image_size \(1, 64\) is too small for a U-Net: both sides must be >= 2"),
        (GENERATORS, "pix2pix", {"image_size": (32, 64), "num_downsampling": 1}, "num_downsampling must be >= 2, got 1"),
        (DISCRIMINATORS, "patchgan", {"num_layers": 0}, "num_layers must be >= 1, got 0"),
        (DISCRIMINATORS, "multiscale", {"num_layers": 0}, "NLayerDiscriminator needs num_layers >= 1, got 0"),
        (GENERATORS, "tsit", {"image_size": (128, 256), "use_vae": True, "z_dim": 0}, "use_vae=True needs z_dim > 0, got 0"),
        (GENERATORS, "remapped", {"inner": "spade", "inner_args": {}, "table": "coco"}, "unknown label table 'coco'; valid: ade20k, ade20k_shifted"),
        (GENERATORS, "remapped", {"inner": "spade", "inner_args": {}, "num_classes": 10}, "start from the 29 landscape classes, got num_classes=10"),
        (GENERATORS, "remapped", {"inner": "spade", "inner_args": {"num_classes": 29}}, "needs at least 142 input channels, the inner generator has 29"),
        (GENERATORS, "controlnet", {**TINY_ARGS["controlnet"], "base_dtype": "fp8"}, "base_dtype must be one of fp32, bf16, fp16, got 'fp8'"),
    ],
)  # fmt: skip
def test_network_arguments_out_of_range_name_the_argument(registry, name, args, message):
    """model.generator.args / model.discriminator.args a config (or a file's spec) can set."""
    with pytest.raises(ValueError, match=message):
        registry.build(name, **args)


def test_registries_share_one_shape():
    import paintscape.evaluate.metrics  # noqa: F401  (registers the metrics)
    from paintscape.registry import METRICS, Registry

    registry = Registry("widget", required=("colour",))
    with pytest.raises(ValueError, match="widget 'a' must declare colour"):
        registry.register("a")
    def widget(*, size: int = 1) -> dict:
        return {"size": size}

    registry.register("a", colour="red")(widget)
    with pytest.raises(ValueError, match="widget 'a' is registered twice"):
        registry.register("a", colour="blue")(widget)
    assert registry.entry("a")["colour"] == "red" and registry.build("a", size=2) == {"size": 2}
    with pytest.raises(ValueError, match="widget 'a' takes no argument 'colour'; accepted: size"):
        registry.build("a", colour="green")
    registry.unregister("a")
    with pytest.raises(ValueError, match=r"unknown widget 'a'; valid names: \(none\)"):
        registry.get("a")
    assert [e.name for e in METRICS][:2] == ["mask_accuracy", "mean_iou"]  # registration order, for tables
    for entry in METRICS:
        assert set(entry["needs"]) <= {"generated", "labels", "targets", "real", "segmenter", "inception", "aesthetic"}
        assert isinstance(entry["higher_is_better"], bool) and entry["title"]
