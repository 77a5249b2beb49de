"""The ``controlnet`` family: tiny diffusers components built in the test (no download). Sampling,
seeds, samplers, guidance and progress; the checkpoint holds the trainable weights only; a local
diffusers-format base folder (written here from tiny parts) and the messages when it or diffusers
is missing; the training loss; starting from a noise prior."""

from __future__ import annotations

import os
import re
import shutil
import string
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from generator_files import TINY_ARGS

import paintscape.models  # noqa: F401
from paintscape.checkpoint import load_generator, save_generator
from paintscape.cli import main
from paintscape.labels import one_hot
from paintscape.losses.diffusion import diffusion_terms, prediction_target
from paintscape.models.base import GeneratorSpec
from paintscape.models.diffusion.controlnet import SCHEDULERS
from paintscape.models.diffusion.extra import INSTALL_HINT, MissingExtra, diffusion_components
from paintscape.models.diffusion.priors import PriorAccumulator, compute_priors, labels_at_latent_size
from paintscape.registry import GENERATORS

REPO = Path(__file__).resolve().parents[1]
ARGS = TINY_ARGS["controlnet"]
SIZE = tuple(ARGS["image_size"])  # (16, 32): latents 4 x 8 x 16
BASE_ARGS = {"image_size": list(SIZE), "conditioning_channels": [8, 16], "num_inference_steps": 2}


def build(**changes):
    torch.manual_seed(0)
    args = {**ARGS, **changes}
    return GENERATORS.build("controlnet", **{k: tuple(v) if k == "image_size" else v for k, v in args.items()})


def labels(batch, seed=0):
    return one_hot(torch.randint(0, 29, (batch, *SIZE), generator=torch.Generator().manual_seed(seed)))


def wake_controlnet(generator, seed=1):
    """ControlNet's output convolutions start at zero (the label has no effect yet): give them weights."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in generator.controlnet.named_parameters():
            if "zero_conv" in name or "controlnet_" in name or "conv_out" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)


@pytest.fixture(scope="module")
def tiny():
    return build()


@pytest.fixture(scope="module")
def base_folder(tmp_path_factory):
    """A diffusers-format Stable Diffusion folder in miniature, laid out as the real snapshots are
    (the VAE saved as an fp16-named variant only, as some snapshots ship it)."""
    import diffusers
    import transformers

    parts = diffusion_components()
    folder = tmp_path_factory.mktemp("sd") / "tiny-sd"
    torch.manual_seed(0)
    parts.build_unet(
        channels=(8, 16),
        layers_per_block=1,
        latent_channels=4,
        cross_attention_dim=8,
        attention_head_dim=4,
        norm_groups=4,
    ).save_pretrained(folder / "unet")
    vae = parts.build_vae(channels=(8, 16), latent_channels=4, norm_groups=4)
    vae.register_to_config(scaling_factor=0.5)
    vae.save_pretrained(folder / "vae", variant="fp16")
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in string.ascii_lowercase:
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    (folder / "raw").mkdir()
    (folder / "raw" / "vocab.json").write_text(str(vocab).replace("'", '"'))
    (folder / "raw" / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = transformers.CLIPTokenizer(
        vocab_file=str(folder / "raw" / "vocab.json"),
        merges_file=str(folder / "raw" / "merges.txt"),
        model_max_length=8,
    )
    tokenizer.save_pretrained(folder / "tokenizer")
    text = transformers.CLIPTextConfig(
        vocab_size=len(vocab),
        hidden_size=8,
        intermediate_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=8,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    transformers.CLIPTextModel(text).save_pretrained(folder / "text_encoder")
    diffusers.PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        skip_prk_steps=True,
        set_alpha_to_one=False,
    ).save_pretrained(folder / "scheduler")
    shutil.rmtree(folder / "raw")
    return folder


def test_core_install_does_not_import_diffusers():
    code = (
        "import sys, paintscape, paintscape.models, paintscape.losses\n"
        "from paintscape.registry import GENERATORS\n"
        "assert 'controlnet' in GENERATORS\n"
        "assert 'diffusers' not in sys.modules, 'importing paintscape imported diffusers'\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_without_diffusers_building_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "diffusers", None)  # as if it were not installed
    with pytest.raises(MissingExtra, match=re.escape(INSTALL_HINT)):
        build()
    assert main(["inspect", str(REPO / "paintscape" / "configs" / "controlnet_tiny.yaml")]) == 2
    assert (
        capsys.readouterr().err.splitlines()[0] == f"paintscape inspect: error: {INSTALL_HINT} (no module 'diffusers')"
    )


@pytest.mark.parametrize("scheduler", ["ddim", "dpm++", "unipc"])
def test_sampling_is_seeded_per_image_whatever_the_batch(tiny, scheduler):
    assert (tiny.z_dim, tiny.spatial_latent, tiny.uses_style, tiny.encoder) == (4, True, False, None)
    label = labels(3)
    z = tiny.latent_for([7, 8, 9], SIZE)
    assert z.shape == tiny.latent_shape(3, SIZE) == (3, 4, 8, 16)
    with tiny.sampling(scheduler=scheduler, guidance_scale=2.0), torch.no_grad():
        out = tiny(label, z)
        assert out.shape == (3, 3, *SIZE) and out.min() >= -1 and out.max() <= 1 and out.std() > 0.01
        assert torch.equal(tiny(label, tiny.latent_for([7, 8, 9], SIZE)), out)
        alone = tiny(label[1:2], tiny.latent_for([8], SIZE))
        torch.testing.assert_close(alone, out[1:2], atol=1e-5, rtol=0)
        assert (tiny(label[1:2], tiny.latent_for([10], SIZE)) - alone).abs().max() > 1e-3


def test_guidance_progress_and_sampling_options(tiny, monkeypatch):
    label = labels(2)
    z = tiny.latent_for([0, 1], SIZE)
    seen = []
    real_predict = tiny.predict

    def spy(noisy, t, condition):
        seen.append(condition)
        return real_predict(noisy, t, condition)

    monkeypatch.setattr(tiny, "predict", spy)
    steps = []
    with (
        torch.no_grad(),
        tiny.sampling(num_inference_steps=3, guidance_scale=3.0, progress=lambda s, n: steps.append((s, n))),
    ):
        tiny(label, z)
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert len(seen) == 3 and all(
        c.shape[0] == 4 and c[:2].abs().sum() == 0 and torch.equal(c[2:], label) for c in seen
    )
    seen.clear()
    with torch.no_grad():
        tiny(label, z)  # the constructor's settings again: 2 steps, no guidance (one prediction per step)
    assert len(seen) == 2 and all(torch.equal(c, label) for c in seen)
    assert tiny.sampling_options.progress is None and tiny.sampling_options.guidance_scale == 1.0
    with (
        pytest.raises(ValueError, match="scheduler must be one of ddim, dpm\\+\\+, unipc"),
        tiny.sampling(scheduler="euler"),
    ):
        pass
    with pytest.raises(ValueError, match="unknown sampling option steps"), tiny.sampling(steps=3):
        pass
    tiny.sampling_options = tiny.sampling_options.replace(num_inference_steps=1)
    seen.clear()
    with torch.no_grad():
        tiny(label, z)
    assert len(seen) == 1
    tiny.sampling_options = tiny.sampling_options.replace(num_inference_steps=2)


def test_bad_inputs_are_named(tiny):
    label = labels(1)
    with pytest.raises(ValueError, match="takes no style photo"):
        tiny(label, style=torch.zeros(1, 3, *SIZE))
    with pytest.raises(ValueError, match=r"z must have shape \(1, 4, 8, 16\)"):
        tiny(label, torch.zeros(1, 4))
    with pytest.raises(ValueError, match="29-channel one-hot"):
        tiny(label[:, :3])
    with pytest.raises(ValueError, match="must be a multiple of 4"):
        tiny.latent_shape(1, (18, 32))
    with pytest.raises(ValueError, match="give base=FOLDER"):
        build(train_base=False)
    with pytest.raises(ValueError, match="base_dtype applies to a frozen base"):
        build(base_dtype="bf16")
    with pytest.raises(ValueError, match="downsample the label map by 4, but the VAE downsamples by 2"):
        build(conditioning_channels=[4, 8, 16])
    with pytest.raises(ValueError, match="the VAE downsamples by 16; give conditioning_channels with 5 entries"):
        build(vae_channels=[4, 4, 4, 4, 4], conditioning_channels=None)
    with torch.no_grad():
        assert tiny(label).shape == (1, 3, *SIZE)  # no z: drawn from the global RNG


@pytest.mark.parametrize(
    "change, message",
    [
        ({"num_inference_steps": 0}, "num_inference_steps must be >= 1"),
        ({"guidance_scale": -1.0}, "guidance_scale must be >= 0"),
        ({"prior": "gaussian"}, "prior must be one of none, spatial, class, joint"),
        ({"prior_strength": 0.0}, "prior_strength must lie in"),
        ({"prior_min_count": 0}, "prior_min_count must be >= 1"),
    ],
)
def test_sampling_options_are_checked(tiny, change, message):
    with pytest.raises(ValueError, match=message):
        tiny.sampling_options.replace(**change)


def test_sampler_names_agree():
    parts = diffusion_components()
    assert set(parts.SAMPLERS) == set(SCHEDULERS)
    with pytest.raises(ValueError, match="unknown scheduler 'euler'"):
        parts.make_sampler("euler", parts.scratch_schedule_config("epsilon"))


def test_frozen_base_folder_checkpoint_holds_the_controlnet_alone(base_folder, tmp_path):
    torch.manual_seed(0)
    generator = GENERATORS.build("controlnet", base=str(base_folder), **{**BASE_ARGS, "image_size": SIZE})
    assert (
        generator.vae.config.scaling_factor == 0.5 and generator.noise_schedule.config.steps_offset == 1
    )  # read from the folder
    assert generator.prompt_embedding.shape == (1, 8, 8) and generator.prompt_embedding.abs().sum() > 0  # encoded once
    state = generator.state_dict()
    assert state and all(k.startswith("controlnet.") for k in state)
    assert not any(p.requires_grad for p in [*generator.unet.parameters(), *generator.vae.parameters()])
    generator.train()
    assert generator.controlnet.training and not generator.unet.training and not generator.vae.training
    wake_controlnet(generator)
    generator.eval()
    args = {**BASE_ARGS, "base": str(base_folder)}
    save_generator(tmp_path / "g.safetensors", generator, GeneratorSpec("controlnet", args, SIZE))
    torch.manual_seed(123)  # a different initialisation: equal outputs below come from the loaded weights
    loaded, spec = load_generator(tmp_path / "g.safetensors")
    label, z = labels(2), generator.latent_for([3, 4], SIZE)
    with torch.no_grad():
        expected = generator(label, z)
        torch.testing.assert_close(loaded(label, z), expected, rtol=0, atol=0)
        assert (expected - generator(torch.zeros_like(label), z)).abs().max() > 1e-4  # the label map matters
    half = GENERATORS.build("controlnet", base=str(base_folder), base_dtype="bf16", **{**BASE_ARGS, "image_size": SIZE})
    half.load_state_dict(generator.state_dict())  # strict: the frozen base is not "missing"
    assert half.unet.dtype == torch.bfloat16 and half.controlnet.dtype == torch.float32
    with torch.no_grad():
        torch.testing.assert_close(half(label, z), expected, atol=0.1, rtol=0)


def test_missing_or_incomplete_base_folder_is_one_line(base_folder, tmp_path, capsys):
    with pytest.raises(FileNotFoundError) as missing:
        GENERATORS.build("controlnet", base=str(tmp_path / "sd15"), **{**BASE_ARGS, "image_size": SIZE})
    message = str(missing.value)
    assert f"base folder '{tmp_path / 'sd15'}' not found" in message and "\n" not in message
    assert "huggingface-cli download stable-diffusion-v1-5/stable-diffusion-v1-5" in message
    partial = tmp_path / "partial"
    shutil.copytree(base_folder, partial)
    for weights in (partial / "vae").glob("*.safetensors"):
        weights.unlink()
    shutil.rmtree(partial / "tokenizer")
    (partial / "text_encoder" / "config.json").unlink()
    (partial / "scheduler" / "scheduler_config.json").unlink()
    missing = "vae weights (*.safetensors), text_encoder/config.json, tokenizer/, scheduler/scheduler_config.json"
    with pytest.raises(FileNotFoundError, match=re.escape(f"is incomplete (missing {missing})")):
        GENERATORS.build("controlnet", base=str(partial), **{**BASE_ARGS, "image_size": SIZE})
    config = REPO / "paintscape" / "configs" / "controlnet.yaml"
    assert main(["inspect", str(config), f"model.generator.args.base={tmp_path / 'sd15'}"]) == 2
    assert f"base folder '{tmp_path / 'sd15'}' not found" in capsys.readouterr().err.splitlines()[0]


def fixed_batch():
    ids = torch.zeros(2, *SIZE, dtype=torch.long)
    ids[:, SIZE[0] // 2 :] = 3
    sky, sea = torch.tensor([0.6, 0.7, 0.9]).view(3, 1, 1), torch.tensor([-0.5, 0.1, 0.6]).view(3, 1, 1)
    return torch.where(ids[:, None] == 3, sea, sky), one_hot(ids)


def test_training_steps_lower_the_loss():
    generator = build().train()
    photos, label = fixed_batch()

    def evaluate():
        torch.manual_seed(123)  # the same timesteps, noise and dropout each time
        with torch.no_grad():
            return {k: v.item() for k, v in diffusion_terms(generator, photos, label).items()}

    before = evaluate()
    assert set(before) == {"G/diffusion", "G/vae_rec", "G/vae_kl"}
    optimizer = torch.optim.Adam(generator.parameters(), lr=3e-3)
    for _ in range(8):
        terms = diffusion_terms(generator, photos, label)
        optimizer.zero_grad()
        (terms["G/diffusion"] + terms["G/vae_rec"] + 1e-3 * terms["G/vae_kl"]).backward()
        optimizer.step()
    after = evaluate()
    assert after["G/diffusion"] < 0.8 * before["G/diffusion"], (before, after)
    assert after["G/vae_rec"] < 0.5 * before["G/vae_rec"], (before, after)


def test_frozen_base_loss_trains_the_controlnet_only(base_folder):
    generator = GENERATORS.build(
        "controlnet", base=str(base_folder), gradient_checkpointing=True, **{**BASE_ARGS, "image_size": SIZE}
    )
    assert generator.controlnet.is_gradient_checkpointing and generator.unet.is_gradient_checkpointing
    photos, label = fixed_batch()
    terms = diffusion_terms(generator.train(), photos, label)
    assert set(terms) == {"G/diffusion"}
    terms["G/diffusion"].backward()
    assert all(p.grad is None for p in generator.unet.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in generator.controlnet.parameters())


def test_gradient_checkpointing_gives_the_same_gradients():
    photos, label = fixed_batch()
    grads = []
    for checkpointing in (False, True):
        generator = build(gradient_checkpointing=checkpointing).train()
        wake_controlnet(generator)
        torch.manual_seed(5)
        diffusion_terms(generator, photos, label)["G/diffusion"].backward()
        grads.append(torch.cat([p.grad.flatten() for p in generator.controlnet.parameters() if p.grad is not None]))
    torch.testing.assert_close(grads[1], grads[0], atol=1e-6, rtol=1e-4)


def test_label_dropout_feeds_the_all_zero_map(tiny, monkeypatch):
    photos, label = fixed_batch()
    seen = []
    monkeypatch.setattr(tiny, "predict", lambda noisy, t, condition: seen.append(condition) or torch.zeros_like(noisy))
    with torch.no_grad():
        diffusion_terms(tiny, photos, label, label_dropout=1.0)
        diffusion_terms(tiny, photos, label, label_dropout=0.0)
    assert seen[0].abs().sum() == 0 and torch.equal(seen[1], label)
    with pytest.raises(ValueError, match="label_dropout must lie in"):
        diffusion_terms(tiny, photos, label, label_dropout=1.5)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample", "flow"])
def test_prediction_target_follows_the_schedule(prediction_type):
    parts = diffusion_components()
    schedule = parts.noise_schedule(parts.scratch_schedule_config(prediction_type))
    x0, noise = torch.randn(2, 2, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([10, 900])
    if prediction_type == "flow":
        with pytest.raises(ValueError, match="unsupported prediction_type 'flow'"):
            prediction_target(schedule, x0, noise, t)
        return
    abar = schedule.alphas_cumprod[t].view(2, 1, 1, 1)
    expected = {"epsilon": noise, "v_prediction": abar.sqrt() * noise - (1 - abar).sqrt() * x0, "sample": x0}[
        prediction_type
    ]
    torch.testing.assert_close(prediction_target(schedule, x0, noise, t), expected)


def test_sampling_from_a_prior_starts_from_the_noised_prior(tiny):
    g = torch.Generator().manual_seed(0)
    accumulator = PriorAccumulator(29, 4, (8, 16))
    for _ in range(3):  # training latents whose statistics differ by class and position
        ids = torch.randint(0, 4, (8, 8, 16), generator=g)
        latents = (
            torch.randn(8, 4, 8, 16, generator=g) * (1 + ids[:, None]) + ids[:, None] * 2.0 + torch.linspace(-1, 1, 16)
        )
        accumulator.update(latents, ids)
    tiny.priors = accumulator.result()
    B = 1500
    ids = torch.randint(0, 4, SIZE, generator=g).expand(B, -1, -1)
    label = one_hot(ids)
    z = torch.randn(B, 4, 8, 16, generator=g)
    mean, var = tiny.priors.moments("joint", labels_at_latent_size(ids[:1], (8, 16)), min_count=3)
    try:
        for scheduler in ("ddim", "dpm++", "unipc"):
            with tiny.sampling(
                scheduler=scheduler, prior="joint", prior_strength=0.5, num_inference_steps=10, prior_min_count=3
            ):
                sampler, timesteps, start = tiny.prepare_sampling(label, z)
            assert len(timesteps) == 5
            abar = float(tiny.noise_schedule.alphas_cumprod[int(timesteps[0])])
            expected_var = abar * var[0] + 1 - abar
            tolerance = 5 * (expected_var.max() / B) ** 0.5
            torch.testing.assert_close(start.mean(0), abar**0.5 * mean[0], atol=float(tolerance), rtol=0)
            torch.testing.assert_close(
                start.var(0), expected_var, atol=float(6 * expected_var.max() * (2 / B) ** 0.5), rtol=0
            )
            # the scheduler agrees on the noise level it starts from
            x0, n = mean[:1], torch.randn(1, 4, 8, 16, generator=g)
            torch.testing.assert_close(
                sampler.add_noise(x0, n, timesteps[:1]), abar**0.5 * x0 + (1 - abar) ** 0.5 * n, atol=1e-5, rtol=1e-5
            )
        with torch.no_grad(), tiny.sampling(prior="joint", prior_strength=1.0, prior_min_count=3):
            out = tiny(label[:2], tiny.latent_for([0, 1], SIZE))
            torch.testing.assert_close(tiny(label[1:2], tiny.latent_for([1], SIZE)), out[1:2], atol=1e-5, rtol=0)
        sampler, timesteps, start = tiny.prepare_sampling(label[:2], z[:2])  # prior none: z itself, every step
        assert torch.equal(start, z[:2]) and len(timesteps) == 2
        with (
            pytest.raises(ValueError, match="leaves no step to run"),
            tiny.sampling(prior="spatial", prior_strength=0.2),
        ):
            tiny.prepare_sampling(label[:1], z[:1])
    finally:
        tiny.priors = None
    with pytest.raises(ValueError, match="needs noise priors"), tiny.sampling(prior="class"):
        tiny.prepare_sampling(label[:1], z[:1])
    other = PriorAccumulator(29, 2, (8, 16))
    other.update(torch.zeros(1, 2, 8, 16), torch.zeros(1, 8, 16, dtype=torch.long))
    tiny.priors = other.result({"source": "two-channel.safetensors"})
    try:
        with pytest.raises(ValueError, match="two-channel.safetensors: priors have 2 latent channels, this model 4"):
            with tiny.sampling(prior="spatial"):
                tiny.prepare_sampling(label[:1], z[:1])
    finally:
        tiny.priors = None


def test_priors_over_the_models_own_latents(tiny):
    photos, label = fixed_batch()
    ids = label.argmax(1)
    priors = compute_priors(tiny.encode_photos, [(photos, ids), (photos[:1], ids[:1])], num_classes=29)
    assert priors.latent_size == tiny.latent_size == (8, 16) and priors.images == 3
    with torch.no_grad():
        latents = tiny.encode_photos(photos)
    assert set(torch.nonzero(priors.class_count).flatten().tolist()) == {0, 3}
    torch.testing.assert_close(priors.joint_mean[0, :, 0], latents[:, :, 0].mean(0), atol=1e-5, rtol=0)


def test_training_over_a_frozen_base_folder(base_folder, tmp_path, monkeypatch):
    """The ``diffusion`` objective over a (tiny) base folder, named by a relative path: the optimiser
    and the EMA hold the ControlNet alone (the base is shared, not copied), the checkpoint omits the
    base, and the spec names the folder absolutely, so the run loads from any directory."""
    import json

    from paintscape.checkpoint import CheckpointManager, load_training_state
    from paintscape.config import load_config
    from paintscape.data.synthetic import write_dataset
    from paintscape.inference.painter import Painter
    from paintscape.train.trainer import Trainer

    write_dataset(str(tmp_path / "data"), 2, size=SIZE, seed=1, progress=False)
    monkeypatch.chdir(base_folder.parent)
    args = {**BASE_ARGS, "base": base_folder.name}
    config = load_config(REPO / "paintscape" / "configs" / "controlnet.yaml", [
        f"data.root={tmp_path / 'data'}", f"data.size=[{SIZE[0]}, {SIZE[1]}]", "data.workers=0",
        f"model.generator.args={json.dumps(args)}", "train.device=cpu", "train.precision=fp32",
        "train.phases=[{batch_size: 2, lr: 0.001, steps: 1}]", "train.ema_half_life_images=10", "train.image_every=0",
    ])  # fmt: skip
    trainer = Trainer(config, tmp_path / "run", progress=False)
    result = trainer.fit()
    assert result.steps == 1 and set(result.last_terms) == {"G/diffusion"}
    generator = trainer.state.objective.generator()
    trainable = [p for p in generator.parameters() if p.requires_grad]
    assert trainable and len(trainable) == len(list(generator.controlnet.parameters()))
    (group,) = trainer.state.optimizers["generator"].param_groups
    assert len(group["params"]) == len(trainable)
    ema = trainer.state.ema.model
    assert ema.unet.conv_in.weight is generator.unet.conv_in.weight  # shared
    assert ema.controlnet.conv_in.weight is not generator.controlnet.conv_in.weight
    state = load_training_state(CheckpointManager(tmp_path / "run").latest_state_path())
    assert all(k.startswith("controlnet.") for k in [*state["networks"]["generator"], *state["ema"]])
    assert json.loads(state["spec"])["args"]["base"] == str(base_folder)
    monkeypatch.chdir(tmp_path)  # elsewhere: the absolute base folder still loads
    painter = Painter.from_checkpoint(tmp_path / "run", device="cpu")
    assert painter.spec.args["base"] == str(base_folder) and painter.steps == 2
