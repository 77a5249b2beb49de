"""OASIS as a family a user trains: the oasis objective's terms, exact resume, the EMA generator's
batch-norm refresh, generation with several samples per map."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from train_helpers import REPO, make_data, tiny_config

from paintscape.checkpoint import CheckpointManager, load_generator, load_training_state
from paintscape.cli import main
from paintscape.config import load_config
from paintscape.data.dataset import PairedFolder
from paintscape.labels import one_hot
from paintscape.losses.labelmix import labelmix_loss, labelmix_mask, mix_images
from paintscape.losses.segmentation_adversarial import segmentation_adversarial_loss
from paintscape.registry import GENERATORS, OBJECTIVES
from paintscape.train.batchnorm_refresh import BatchNormRefresh, batch_norms, refresh_batchnorm
from paintscape.train.objectives.base import Role, StepContext
from paintscape.train.objectives.oasis import OASISObjective, label_ids
from paintscape.train.trainer import train

TINY_G = dict(num_classes=29, image_size=(32, 64), base_channels=2, channel_multipliers=(4, 4, 2, 1), z_dim=4, hidden_channels=8, norm="batch")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("syn") / "data", count=8)


def final_state(run):
    return load_training_state(CheckpointManager(run).latest_state_path())


@pytest.mark.parametrize("override, message", [
    ("model.generator={name: spade, args: {base_channels: 4, hidden_channels: 8, norm: batch, use_vae: true, z_dim: 8}}",
     "loss.objective oasis trains generators without a style input; 'spade' has one"),
    ("model.discriminator.args.num_classes=10", "the OASIS discriminator segments 10 classes, the generator takes 29"),
])  # fmt: skip
def test_the_oasis_objective_refuses_networks_it_cannot_train(data, tmp_path, override, message):
    with pytest.raises(ValueError, match=message):
        OASISObjective(config=tiny_config(data, override, family="oasis"))


def test_label_ids_mark_ignored_pixels():
    ids = torch.tensor([[[0, 3], [255, 28]]])
    assert torch.equal(label_ids(one_hot(ids)), ids)


def test_step_computes_the_reference_terms_on_its_tensors(data):
    """D's terms are the reference's three passes (fake, real, LabelMix mix), run as one batch here."""
    config = tiny_config(data, family="oasis")
    objective = OBJECTIVES.build("oasis", config=config)
    assert isinstance(objective, OASISObjective) and objective.vgg is None
    label = one_hot(torch.from_numpy(np.stack([PairedFolder(data, (32, 64), train=False)[i]["label"].numpy() for i in range(2)])).long())
    real = torch.rand(2, 3, 32, 64) * 2 - 1
    roles = objective.roles()
    networks = {name: role.training_forward() for name, role in roles.items()}
    for role in roles.values():
        role.module.train()
    ctx = StepContext(networks=networks, roles=roles, autocast=lambda: torch.autocast("cpu", enabled=False),
                      scaler=torch.amp.GradScaler("cpu", enabled=False), accumulation=1, last=True,
                      loss_weights={"adv": 1.0, "labelmix": 10.0, "vgg": 0.0}, check_finite=lambda loss, terms: None)  # fmt: skip
    torch.manual_seed(5)
    terms = objective.step({"image": real, "label": label}, ctx)
    assert set(terms) == {"D/fake", "D/real", "D/labelmix", "G/adv"}
    assert all(p.grad is not None for p in objective.discriminator.parameters())
    assert all(p.grad is not None for p in objective.generator_network.parameters())

    # the same terms by the reference's recipe: G's noise, then the mask, from the same RNG state
    torch.manual_seed(5)
    D, G = objective.discriminator, objective.generator_network
    ids = label_ids(label)
    with torch.no_grad():
        fake = G(label)
        mask = labelmix_mask(ids)
        out_fake, out_real, out_mixed = D(fake), D(real), D(mix_images(real, fake, mask))
    expected = {
        "D/fake": segmentation_adversarial_loss(out_fake, ids, real=False),
        "D/real": segmentation_adversarial_loss(out_real, ids, real=True),
        "D/labelmix": labelmix_loss(mask, out_mixed, out_fake, out_real),
        "G/adv": segmentation_adversarial_loss(out_fake, ids, real=True),
    }
    for name, value in expected.items():
        # one D batch of 3x against three D calls: float32 summation order, measured up to 1.9e-5 relative
        torch.testing.assert_close(terms[name].detach(), value, rtol=1e-4, atol=1e-6, msg=lambda m, name=name: f"{name}: {m}")


def test_labelmix_weight_zero_skips_it_and_vgg_builds_the_perceptual_term(data):
    config = tiny_config(data, "loss.weights={adv: 1.0, labelmix: 0.0, vgg: 10.0}", "loss.vgg_weights=random", family="oasis")
    objective = OBJECTIVES.build("oasis", config=config)
    assert set(objective.frozen()) == {"vgg"}
    result = train(config, data.parent / "vgg_run", progress=False, stop_after=1)
    assert set(result.last_terms) == {"D/fake", "D/real", "G/adv", "G/vgg"}


def test_objective_refuses_other_networks(data):
    with pytest.raises(ValueError, match="model.discriminator.name: oasis"):
        OBJECTIVES.build("oasis", config=tiny_config(data, "loss.objective=oasis", family="spade"))


@pytest.mark.slow
def test_cli_trains_resumes_exactly_and_generates_different_samples(data, tmp_path, capsys):
    """`paintscape train configs/oasis_tiny.yaml` end to end. The interrupted run writes a checkpoint
    (and so refreshes the EMA's batch norms) at a step the straight run does not: the stored EMA must
    not depend on it."""
    overrides = [f"data.root={data}", "data.size=[32, 64]", "train.phases=[{batch_size: 2, lr: 0.0002, steps: 4}]",
                 "train.image_every=3", "train.checkpoint_every=100"]  # fmt: skip
    assert main(["train", str(REPO / "paintscape" / "configs" / "oasis_tiny.yaml"), *overrides, "--out", str(tmp_path / "straight")]) == 0
    config = load_config(REPO / "paintscape" / "configs" / "oasis_tiny.yaml", overrides)
    assert config.loss.objective == "oasis" and config.train.ema_bn_refresh_batches == 2
    train(config, tmp_path / "resumed", progress=False, stop_after=1)
    assert main(["train", str(REPO / "paintscape" / "configs" / "oasis_tiny.yaml"), *overrides, "--out", str(tmp_path / "resumed"), "--resume"]) == 0
    a, b = final_state(tmp_path / "straight"), final_state(tmp_path / "resumed")
    assert a["step"] == b["step"] == 4
    for part in ("generator", "discriminator"):
        for key, value in a["networks"][part].items():
            assert torch.equal(value, b["networks"][part][key]), f"{part}.{key} differs after resume"
    for key, value in a["ema"].items():
        assert torch.equal(value, b["ema"][key]), f"ema.{key} differs after resume"
    terms = [json.loads(line) for line in (tmp_path / "straight" / "log.jsonl").read_text().splitlines()]
    assert {"D/fake", "D/real", "D/labelmix", "G/adv"} <= set(terms[-1])

    # the generator file is the EMA with refreshed batch-norm statistics, not the stored average's
    generator, spec = load_generator(tmp_path / "straight")
    assert spec.family == "oasis"
    stored = {k: v for k, v in a["ema"].items() if k.endswith("running_mean")}
    written = generator.state_dict()
    assert stored and all(not torch.equal(written[k], v) for k, v in stored.items())
    assert all(torch.equal(written[k], v) for k, v in a["ema"].items() if k.endswith("weight_orig") or k.endswith("bias"))

    capsys.readouterr()
    assert main(["generate", str(tmp_path / "straight"), str(data / "labels"), str(tmp_path / "out"), "--samples", "2", "--device", "cpu"]) == 0
    first = sorted((tmp_path / "out" / "sample_0").iterdir())
    assert len(first) == 8 and len(list((tmp_path / "out" / "sample_1").iterdir())) == 8
    for path in first[:3]:
        a0 = np.asarray(Image.open(path), dtype=np.float64)
        a1 = np.asarray(Image.open(tmp_path / "out" / "sample_1" / path.name), dtype=np.float64)
        assert np.abs(a0 - a1).mean() > 0.5, "two samples of one label map are the same photo"


def test_batchnorm_refresh_makes_eval_mode_match_the_batch_statistics():
    """Refreshed on one batch, the generator in eval mode renders that batch as in training mode
    (batch statistics), up to the unbiased-variance factor; the run's RNG stream does not move."""
    torch.manual_seed(0)
    generator = GENERATORS.build("oasis", **TINY_G)
    labels = torch.randint(0, 29, (3, 32, 64))
    z = generator.latent_for(range(54321, 54324), (32, 64))
    with torch.no_grad():
        generator.train()
        for m in batch_norms(generator):
            m.momentum = 0.0  # batch statistics, running statistics untouched
        in_training = generator(one_hot(labels), z=z)
        for m in batch_norms(generator):
            m.momentum = 0.1
        stale = generator.eval()(one_hot(labels), z=z)
    before = torch.get_rng_state()
    assert refresh_batchnorm(generator, iter([labels])) == 3
    assert torch.equal(torch.get_rng_state(), before)
    assert not generator.training and all(m.momentum == 0.1 for m in batch_norms(generator))
    with torch.no_grad():
        refreshed = generator(one_hot(labels), z=z)
    error = (refreshed - in_training).abs().max().item()
    assert error < 2e-3 < (stale - in_training).abs().max().item()


def test_batchnorm_refresh_works_on_a_copy_once_per_step(data):
    torch.manual_seed(0)
    generator = GENERATORS.build("oasis", **TINY_G).eval()
    original = {k: v.clone() for k, v in generator.state_dict().items()}
    refresh = BatchNormRefresh(PairedFolder(data, (32, 64), train=False), batches=2, batch_size=2)
    assert len(refresh.indices) == 4
    copy = refresh(generator, step=3)
    assert copy is not generator and not copy.training
    assert all(torch.equal(v, generator.state_dict()[k]) for k, v in original.items())  # the EMA is untouched
    assert not torch.equal(copy.state_dict()["body.0.norm_0.param_free_norm.running_mean"], original["body.0.norm_0.param_free_norm.running_mean"])
    assert refresh(generator, step=3) is copy
    assert refresh_batchnorm(torch.nn.Conv2d(1, 1, 1), iter([])) == 0  # type: ignore[arg-type]  # nothing to refresh


def test_role_order_steps_the_discriminator_first(data):
    roles = OBJECTIVES.build("oasis", config=tiny_config(data, family="oasis")).roles()
    assert list(roles) == ["discriminator", "generator"] and all(isinstance(r, Role) for r in roles.values())
    assert (roles["generator"].lr_scale, roles["discriminator"].lr_scale) == (0.5, 2.0)


@pytest.mark.slow
def test_quickstart_family_oasis_trains(tmp_path):
    from paintscape.data.synthetic import write_dataset
    from paintscape.quickstart import FAMILIES, SIZE, quickstart_config

    assert "oasis" in FAMILIES
    write_dataset(str(tmp_path / "data"), 4, size=SIZE, seed=0, progress=False)
    config = quickstart_config(tmp_path / "data", "oasis", steps=2, batch_size=2)
    assert config.loss.objective == "oasis" and config.model.discriminator.name == "oasis"
    result = train(config, tmp_path / "run", progress=False, check_data=False)
    assert result.steps == 2 and {"D/labelmix", "G/adv"} <= set(result.last_terms)
    generator, spec = load_generator(tmp_path / "run")
    assert spec.family == "oasis" and spec.image_size == SIZE
