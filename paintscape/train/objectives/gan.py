"""The conditional GAN objective of pix2pix, SPADE and TSIT (``loss.objective: gan``).

Named terms: ``D/fake``, ``D/real`` for the discriminator; ``G/adv``, ``G/feat``, ``G/vgg``,
``G/kl``, ``G/l1`` for the generator, each weighted by ``loss.weights`` (or the phase's
``loss_weights``); a generator term whose weight is zero is not computed. One micro-batch::

    fake, mu, logvar = G(label, real)                  # one generator forward
    D step: D(cat[label, label], cat[fake.detach(), real]) -> D/fake, D/real; backward into D
    G step: D frozen and never synchronised -> G/adv, G/feat, G/vgg, G/kl, G/l1; backward into G

The discriminator's loss is computed and back-propagated first, on a detached fake (no gradient
into G), with real and fake through D in one batch; the generator's loss then runs D again on the
fake with D's parameters frozen, inside DDP's ``no_sync`` (D's gradients are neither needed nor
all-reduced). Both optimisers step afterwards (the trainer's job), so G's adversarial term sees the
discriminator of before this step. SPADE's trainer instead runs G a second time under ``no_grad``
for its D step; the single forward here saves that. With ``train.ttur`` the generator learns at
half the phase's rate and the discriminator at twice it (SPADE's TTUR).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from paintscape.config import Config
from paintscape.losses.adversarial import discriminator_adversarial_loss, gan_mode, generator_adversarial_loss
from paintscape.losses.feature_matching import feature_matching_loss
from paintscape.losses.kl import kl_divergence
from paintscape.losses.perceptual import VGG19Features, perceptual_loss
from paintscape.losses.reconstruction import l1_loss
from paintscape.registry import OBJECTIVES
from paintscape.train.networks import build_discriminator, build_generator_from_config
from paintscape.train.objectives.base import GeneratorStep, Objective, Role, StepContext, weighted_sum

#: (G, D) learning-rate factors with TTUR, as SPADE's ``--no_TTUR`` off.
TTUR_SCALES = (0.5, 2.0)


def adversarial_mode(config: Config) -> str:
    """``loss.adversarial`` checked when the objective is built, before the run's folder is made."""
    try:
        return gan_mode(config.loss.adversarial)
    except ValueError as exc:
        raise ValueError(f"loss.adversarial: {exc}") from None


def split_predictions(predictions: list[list[Tensor]], first: int) -> tuple[list[list[Tensor]], list[list[Tensor]]]:
    """Split D's output on ``cat([a, b])`` into its outputs on ``a`` (first rows) and ``b``."""
    a = [[t[:first] for t in scale] for scale in predictions]
    b = [[t[first:] for t in scale] for scale in predictions]
    return a, b


@OBJECTIVES.register("gan", description="conditional GAN: D on real/fake pairs; G by adversarial, feature-matching, VGG, KL and L1 terms")
class GANObjective(Objective):
    """See the module docstring. Builds ``model.generator`` and ``model.discriminator`` of ``config``,
    and a frozen VGG19 when any phase weighs the ``vgg`` term."""

    def __init__(self, *, config: Config) -> None:
        self.generator_network, self.spec = build_generator_from_config(config)
        self.discriminator = build_discriminator(config)
        self.adversarial = adversarial_mode(config)
        self.vgg_distance = config.loss.vgg_distance
        weights_in_use = [config.loss.weights] + [p.loss_weights for p in config.train.phases if p.loss_weights]
        self.vgg: VGG19Features | None = None
        if any(w.get("vgg", 0) > 0 for w in weights_in_use):
            self.vgg = VGG19Features(weights=config.loss.vgg_weights, input_normalization=config.loss.vgg_normalization)
        g_scale, d_scale = TTUR_SCALES if config.train.ttur else (1.0, 1.0)
        self._roles = {
            # the discriminator steps first, as it did before this step's generator update
            "discriminator": Role(self.discriminator, lr_scale=d_scale, short_name="D"),
            "generator": Role(self.generator_network, lr_scale=g_scale, step_module=GeneratorStep(self.generator_network), short_name="G"),
        }

    def roles(self) -> dict[str, Role]:
        return self._roles

    def frozen(self) -> dict[str, nn.Module]:
        return {} if self.vgg is None else {"vgg": self.vgg}

    def step(self, batch: Mapping[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        label, real = batch["label"], batch["image"]
        weights = ctx.loss_weights
        with ctx.forward("generator"):
            fake, mu, logvar = ctx.network("generator")(label, real)
        # D step on the detached fake; backward at once so D's graph is freed before the G step.
        with ctx.forward("discriminator"):
            d_terms = self.discriminator_terms(ctx.network("discriminator"), label, real, fake)
        ctx.backward(weighted_sum(d_terms, weights), d_terms)
        # G step with D frozen and unsynchronised: D's gradients are not needed, not reduced.
        with ctx.frozen("discriminator"), ctx.forward("discriminator", sync=False):
            g_terms = self.generator_terms(ctx.network("discriminator"), label, real, fake, mu, logvar, weights)
        ctx.backward(weighted_sum(g_terms, weights), g_terms)
        return {**d_terms, **g_terms}

    def discriminator_terms(self, discriminator: nn.Module, label: Tensor, real: Tensor, fake: Tensor) -> dict[str, Tensor]:
        return discriminator_terms(discriminator, label, real, fake, self.adversarial)

    def generator_terms(
        self,
        discriminator: nn.Module,
        label: Tensor,
        real: Tensor,
        fake: Tensor,
        mu: Tensor | None,
        logvar: Tensor | None,
        weights: Mapping[str, float],
    ) -> dict[str, Tensor]:
        return generator_terms(discriminator, label, real, fake, weights, adversarial=self.adversarial, vgg=self.vgg,
                               vgg_distance=self.vgg_distance, mu=mu, logvar=logvar)  # fmt: skip


def discriminator_terms(discriminator: nn.Module, label: Tensor, real: Tensor, fake: Tensor, adversarial: str) -> dict[str, Tensor]:
    """``D/fake``, ``D/real`` on a detached ``fake``. Real and fake through D in one batch: one pass,
    and batch-dependent layers see both."""
    B = real.shape[0]
    predictions = discriminator(torch.cat([label, label]), torch.cat([fake.detach(), real]))
    on_fake, on_real = split_predictions(predictions, B)
    return {
        "D/fake": discriminator_adversarial_loss(on_fake, target_is_real=False, mode=adversarial),
        "D/real": discriminator_adversarial_loss(on_real, target_is_real=True, mode=adversarial),
    }


def generator_terms(
    discriminator: nn.Module,
    label: Tensor,
    real: Tensor,
    fake: Tensor,
    weights: Mapping[str, float],
    *,
    adversarial: str,
    vgg: nn.Module | None,
    vgg_distance: str,
    mu: Tensor | None = None,
    logvar: Tensor | None = None,
) -> dict[str, Tensor]:
    """The generator terms of ``weights`` with a non-zero weight, ``real`` the photo ``fake`` is
    compared with (the distill objective passes its teacher's photo)."""
    terms: dict[str, Tensor] = {}
    if weights.get("adv", 0) > 0 or weights.get("feat", 0) > 0:
        # D on the fake with gradient, on the real without: the real half needs no backward
        # (feature matching detaches it), so it costs neither a backward nor saved activations.
        on_fake = discriminator(label, fake)
        if weights.get("adv", 0) > 0:
            terms["G/adv"] = generator_adversarial_loss(on_fake, mode=adversarial)
        if weights.get("feat", 0) > 0:
            with torch.no_grad():
                on_real = discriminator(label, real)
            terms["G/feat"] = feature_matching_loss(on_fake, on_real)
    if weights.get("vgg", 0) > 0:
        if vgg is None:
            raise ValueError("loss.weights.vgg > 0 needs a VGG19 (loss.vgg_weights)")
        terms["G/vgg"] = perceptual_loss(vgg, fake.float(), real.float(), distance=vgg_distance)
    if weights.get("kl", 0) > 0 and mu is not None:
        terms["G/kl"] = kl_divergence(mu.float(), logvar.float())
    if weights.get("l1", 0) > 0:
        terms["G/l1"] = l1_loss(fake, real)
    return terms
