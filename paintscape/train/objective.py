"""The GAN objective: named loss terms for the generator and the discriminator.

Networks never compute their own loss; this module turns their outputs into a dict of named terms
(``G/adv``, ``G/feat``, ``G/vgg``, ``G/kl``, ``G/l1``, ``D/real``, ``D/fake``) and the trainer sums,
steps and logs exactly that dict. A generator term whose weight is zero is not computed.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from paintscape.losses.adversarial import discriminator_adversarial_loss, generator_adversarial_loss
from paintscape.losses.feature_matching import feature_matching_loss
from paintscape.losses.kl import kl_divergence
from paintscape.losses.perceptual import VGG19Features, perceptual_loss
from paintscape.losses.reconstruction import l1_loss
from paintscape.models.base import Generator

GENERATOR_TERMS = ("adv", "feat", "vgg", "kl", "l1")


class GeneratorStep(nn.Module):
    """Encoder + generator as one module, so DDP sees every parameter used in one forward.

    ``forward(label, real) -> (fake, mu, logvar)``: with a VAE encoder the latent is drawn by the
    reparameterisation trick from the encoding of the real photo; a style stream gets the real
    photo as its style (TSIT trains that way).
    """

    def __init__(self, generator: Generator) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, label: Tensor, real: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None]:
        mu = logvar = z = None
        if self.generator.encoder is not None:
            mu, logvar = self.generator.encoder(real)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        style = real if self.generator.uses_style else None
        return self.generator(label, z=z, style=style), mu, logvar


def split_predictions(predictions: list[list[Tensor]], first: int) -> tuple[list[list[Tensor]], list[list[Tensor]]]:
    """Split D's output on ``cat([a, b])`` into its outputs on ``a`` (first rows) and ``b``."""
    a = [[t[:first] for t in scale] for scale in predictions]
    b = [[t[first:] for t in scale] for scale in predictions]
    return a, b


class GANObjective:
    def __init__(self, adversarial: str = "hinge", vgg: VGG19Features | None = None, vgg_distance: str = "l1") -> None:
        self.adversarial = adversarial
        self.vgg = vgg
        self.vgg_distance = vgg_distance

    def discriminator_terms(self, discriminator: nn.Module, label: Tensor, real: Tensor, fake: Tensor) -> dict[str, Tensor]:
        # Real and fake through D in one batch: one pass, and batch-dependent layers see both.
        B = real.shape[0]
        predictions = discriminator(torch.cat([label, label]), torch.cat([fake.detach(), real]))
        on_fake, on_real = split_predictions(predictions, B)
        return {
            "D/fake": discriminator_adversarial_loss(on_fake, target_is_real=False, mode=self.adversarial),
            "D/real": discriminator_adversarial_loss(on_real, target_is_real=True, mode=self.adversarial),
        }

    def generator_terms(
        self,
        discriminator: nn.Module,
        label: Tensor,
        real: Tensor,
        fake: Tensor,
        mu: Tensor | None,
        logvar: Tensor | None,
        weights: dict[str, float],
    ) -> dict[str, Tensor]:
        terms: dict[str, Tensor] = {}
        needs_d = weights.get("adv", 0) > 0 or weights.get("feat", 0) > 0
        if needs_d:
            # D on the fake with gradient, on the real without: the real half needs no backward
            # (feature matching detaches it), so it costs neither a backward nor saved activations.
            on_fake = discriminator(label, fake)
            if weights.get("feat", 0) > 0:
                with torch.no_grad():
                    on_real = discriminator(label, real)
            if weights.get("adv", 0) > 0:
                terms["G/adv"] = generator_adversarial_loss(on_fake, mode=self.adversarial)
            if weights.get("feat", 0) > 0:
                terms["G/feat"] = feature_matching_loss(on_fake, on_real)
        if weights.get("vgg", 0) > 0:
            if self.vgg is None:
                raise ValueError("loss.weights.vgg > 0 needs a VGG19 (loss.vgg_weights)")
            terms["G/vgg"] = perceptual_loss(self.vgg, fake.float(), real.float(), distance=self.vgg_distance)
        if weights.get("kl", 0) > 0 and mu is not None:
            terms["G/kl"] = kl_divergence(mu.float(), logvar.float())
        if weights.get("l1", 0) > 0:
            terms["G/l1"] = l1_loss(fake, real)
        return terms


def weighted_sum(terms: dict[str, Tensor], weights: dict[str, float]) -> Tensor:
    """Generator terms are weighted by ``weights[name without "G/"]``; D terms count once."""
    total = None
    for name, value in terms.items():
        weight = weights.get(name.split("/", 1)[1], 0.0) if name.startswith("G/") else 1.0
        total = value.float() * weight if total is None else total + value.float() * weight
    assert total is not None, "no loss term was computed"
    return total
