"""Latent diffusion on label maps (``loss.objective: diffusion``), for the ``controlnet`` family.

One role, ``generator``: the :class:`~paintscape.models.diffusion.controlnet.ControlNetGenerator`,
whose trainable parameters are the ControlNet and the prompt token, and the UNet and VAE as well
when ``train_base``; a frozen base (a Stable Diffusion folder) sits inside the same module with
``requires_grad`` off, so the optimiser, DDP and the EMA leave it alone and checkpoints omit it. No
discriminator (``model.discriminator`` is ignored; write ``null``). One micro-batch::

    terms = diffusion_terms(G, photo, label, label_dropout=loss.label_dropout)   # inside DiffusionStep
    backward of sum(loss.weights[name] * terms["G/" + name])

Named terms (see :mod:`paintscape.losses.diffusion`): ``G/diffusion`` (the noise-prediction loss;
its weight must be positive), and ``G/vae_rec``, ``G/vae_kl`` while the base trains from scratch.
The generator's spec stores the base folder as an absolute path, so the run loads from any working
directory.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from torch import Tensor, nn

from paintscape.checkpoint import build_generator
from paintscape.config import Config
from paintscape.losses.diffusion import diffusion_terms
from paintscape.models.base import Generator, GeneratorSpec
from paintscape.registry import OBJECTIVES
from paintscape.train.networks import generator_spec
from paintscape.train.objectives.base import Objective, Role, StepContext, weighted_sum

FAMILY = "controlnet"


class DiffusionStep(nn.Module):
    """The training loss as one module's forward, so that DDP wraps (and all-reduces) exactly what it
    uses: ``forward(photos, label) -> {"G/diffusion": ..., ...}``."""

    def __init__(self, generator: Generator, *, label_dropout: float) -> None:
        super().__init__()
        self.generator = generator
        self.label_dropout = label_dropout

    def forward(self, photos: Tensor, label: Tensor) -> dict[str, Tensor]:
        return diffusion_terms(self.generator, photos, label, label_dropout=self.label_dropout)


def diffusion_spec(config: Config) -> GeneratorSpec:
    """The config's generator spec, a ``base`` folder made absolute (relative paths would load only
    from the directory training started in)."""
    spec = generator_spec(config)
    if spec.family != FAMILY:
        raise ValueError(f"loss.objective 'diffusion' trains the {FAMILY} family, model.generator.name is {spec.family!r}")
    base = spec.args.get("base")
    if base:
        spec = dataclasses.replace(spec, args={**spec.args, "base": str(Path(base).expanduser().resolve())})
    return spec


@OBJECTIVES.register("diffusion", description="latent diffusion (controlnet family): noise prediction, no discriminator")
class DiffusionObjective(Objective):
    def __init__(self, *, config: Config) -> None:
        weights_in_use = [config.loss.weights] + [p.loss_weights for p in config.train.phases if p.loss_weights]
        if not all(w.get("diffusion", 0) > 0 for w in weights_in_use):
            raise ValueError(
                "loss.objective 'diffusion': loss.weights.diffusion (and each phase's loss_weights.diffusion) must be > 0, "
                "e.g. loss.weights={diffusion: 1.0}"
            )
        self.spec = diffusion_spec(config)
        self.generator_network = build_generator(self.spec)
        step = DiffusionStep(self.generator_network, label_dropout=config.loss.label_dropout)
        self._roles = {"generator": Role(self.generator_network, step_module=step, short_name="G")}

    def roles(self) -> dict[str, Role]:
        return self._roles

    def step(self, batch: Mapping[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        with ctx.forward("generator"):
            terms = ctx.network("generator")(batch["image"], batch["label"])
        ctx.backward(weighted_sum(terms, ctx.loss_weights), terms)
        return terms
