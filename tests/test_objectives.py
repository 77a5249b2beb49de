"""The objective registry and contract: every registered objective trains through the same Trainer,
checkpoints every role it declares and resumes; a new objective is one class plus one registration."""

from __future__ import annotations

import json

import pytest
import torch
from generator_files import TINY_ARGS
from train_helpers import make_data, tiny_config

import paintscape.train.objectives  # noqa: F401  (registers the objectives)
from paintscape.checkpoint import CheckpointManager, load_generator, load_training_state
from paintscape.losses.reconstruction import l1_loss
from paintscape.registry import OBJECTIVES
from paintscape.train.networks import build_generator_from_config
from paintscape.train.objectives.base import GeneratorStep, Objective, Role, StepContext
from paintscape.train.trainer import train

#: Per registered objective: the tiny config's family and overrides it trains with here.
TINY_OBJECTIVES = {
    "gan": ("spade", ["model.generator.args.use_vae=true"]),
    "oasis": ("oasis", []),
    # the tiny test base of tests/generator_files.py (a 16x32 base trained from scratch, no download)
    "diffusion": ("controlnet", [f"model.generator.args={json.dumps({k: v for k, v in TINY_ARGS['controlnet'].items() if k != 'image_size'})}"]),
    # {teacher}: a tiny SPADE run trained first (the distill_teacher fixture)
    "distill": ("spade", ["distill.teacher={teacher}", "model.generator.args.base_channels=4", "model.generator.args.hidden_channels=8",
                          "loss.weights={adv: 1.0, feat: 10.0, l1: 10.0, distill: 10.0}"]),
}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("syn") / "data", count=6)


def test_every_registered_objective_has_a_tiny_config():
    assert set(OBJECTIVES.names()) == set(TINY_OBJECTIVES)
    assert all(entry["description"] for entry in OBJECTIVES.entries())


@pytest.fixture(scope="module")
def distill_teacher(data, tmp_path_factory):
    run = tmp_path_factory.mktemp("teacher") / "run"
    train(tiny_config(data, "train.phases[0].steps=1"), run, progress=False)
    return run


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TINY_OBJECTIVES))
def test_objective_trains_checkpoints_every_role_and_resumes(name, data, tmp_path, request):
    family, overrides = TINY_OBJECTIVES[name]
    if any("{teacher}" in o for o in overrides):
        teacher = str(request.getfixturevalue("distill_teacher"))
        overrides = [o.replace("{teacher}", teacher) for o in overrides]
    config = tiny_config(data, f"loss.objective={name}", "train.phases[0].steps=2", *overrides, family=family)
    objective = OBJECTIVES.build(name, config=config)
    roles = objective.roles()
    assert objective.inference_role in roles and objective.generator() is roles[objective.inference_role].module
    before = {role: {k: v.clone() for k, v in r.module.state_dict().items()} for role, r in roles.items()}
    del objective

    train(config, tmp_path / "run", progress=False, stop_after=1)
    result = train(config, tmp_path / "run", progress=False, resume=True)
    assert result.steps == 2 and all(torch.isfinite(torch.tensor(v)) for v in result.last_terms.values())
    state = load_training_state(CheckpointManager(tmp_path / "run").latest_state_path())
    assert set(state["networks"]) == set(state["optimizers"]) == set(roles)
    for role, weights in state["networks"].items():  # every role learned
        assert any(not torch.equal(weights[k], v) for k, v in before[role].items() if v.is_floating_point()), role
    generator, spec = load_generator(tmp_path / "run")
    assert spec.family == config.model.generator.name


class ReconstructionObjective(Objective):
    """A discriminator-free objective written for this test: the generator alone, L1 to the photo."""

    def __init__(self, *, config) -> None:
        self.generator_network, self.spec = build_generator_from_config(config)
        self._roles = {"generator": Role(self.generator_network, step_module=GeneratorStep(self.generator_network))}

    def roles(self) -> dict[str, Role]:
        return self._roles

    def step(self, batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        with ctx.forward("generator"):
            fake, _, _ = ctx.network("generator")(batch["label"], batch["image"])
            terms = {"G/l1": l1_loss(fake, batch["image"])}
        ctx.backward(terms["G/l1"], terms)
        return terms


@pytest.fixture
def reconstruction():
    OBJECTIVES.register("reconstruction", description="L1 only, for a test")(ReconstructionObjective)
    yield "reconstruction"
    OBJECTIVES.unregister("reconstruction")


def test_a_new_objective_is_one_registration(reconstruction, data, tmp_path):
    config = tiny_config(data, f"loss.objective={reconstruction}", "train.phases[0].steps=2", "train.grad_accumulation=2",
                         "train.phases=[{batch_size: 4, lr: 0.001, steps: 2}]", family="pix2pix")  # fmt: skip
    result = train(config, tmp_path / "run", progress=False)
    assert set(result.last_terms) == {"G/l1"}
    state = load_training_state(CheckpointManager(tmp_path / "run").latest_state_path())
    assert set(state["networks"]) == {"generator"}
    with pytest.raises(ValueError, match="objective 'reconstruction'.*'gan'"):  # a run resumes only with its own objective
        train(tiny_config(data, "train.phases[0].steps=3", family="pix2pix"), tmp_path / "run", progress=False, resume=True)


def test_frozen_restores_each_parameter_flag():
    layer = torch.nn.Linear(2, 2)
    layer.bias.requires_grad_(False)
    ctx = StepContext(networks={"d": layer}, roles={"d": Role(layer)}, autocast=lambda: torch.autocast("cpu", enabled=False),
                      scaler=torch.amp.GradScaler("cpu", enabled=False), accumulation=1, last=True, loss_weights={},
                      check_finite=lambda loss, terms: None)  # fmt: skip
    with ctx.frozen("d"):
        assert not layer.weight.requires_grad
    assert layer.weight.requires_grad and not layer.bias.requires_grad


def test_unknown_objective_names_the_valid_ones(data, tmp_path):
    with pytest.raises(ValueError, match=r"unknown training objective 'difusion' \(did you mean 'diffusion'\?\); valid names: diffusion, distill, gan, oasis"):
        train(tiny_config(data, "loss.objective=difusion"), tmp_path / "run", progress=False)


def test_the_discriminator_is_optional_for_objectives_that_train_none(data, tmp_path):
    with pytest.raises(ValueError, match="loss.objective 'gan' trains a discriminator and model.discriminator is null"):
        train(tiny_config(data, "model.discriminator=null"), tmp_path / "run", progress=False)
    diffusion = tiny_config(data, "model.discriminator=null", *TINY_OBJECTIVES["diffusion"][1], family="controlnet")
    assert set(OBJECTIVES.build("diffusion", config=diffusion).roles()) == {"generator"}
    with pytest.raises(ValueError, match="loss.weights.diffusion .* must be > 0"):
        OBJECTIVES.build("diffusion", config=tiny_config(data, "loss.weights={vae_rec: 1.0}", family="controlnet"))
    with pytest.raises(ValueError, match="trains the controlnet family, model.generator.name is 'spade'"):
        OBJECTIVES.build("diffusion", config=tiny_config(data, "loss.weights={diffusion: 1.0}"))
