"""OASIS's objective (``loss.objective: oasis``): a segmentation discriminator, 3D noise and LabelMix.

Schönfeld, Sushko et al., ICLR 2021; the training step of boschresearch/OASIS (``train.py``,
``models/models.py``, ``models/losses.py``). The discriminator (``model.discriminator.name: oasis``)
segments a photo into the N classes plus "fake"; the generator draws its own noise. Named terms:

* ``D/real``: class-balanced (N+1)-class cross-entropy of D on the real photo, target its classes;
* ``D/fake``: cross-entropy of D on the fake, target "fake" everywhere;
* ``D/labelmix``: LabelMix (:mod:`paintscape.losses.labelmix`), weighted by ``loss.weights.labelmix``
  (10 in the reference); skipped at weight 0 (the reference's ``--no_labelmix``);
* ``G/adv``: D on the fake, target the label's classes, class-balanced; weight ``loss.weights.adv``;
* ``G/vgg``: the "+VGG" variant's perceptual term, weight ``loss.weights.vgg`` (0 by default: OASIS
  trains with no pretrained network at all).

One micro-batch::

    fake = G(label)                                          # one generator forward, noise drawn inside
    D step: D(cat[fake.detach(), real, mix(real, fake)]) -> D/fake, D/real, D/labelmix; backward into D
    G step: D frozen and never synchronised -> G/adv (+ G/vgg); backward into G

Deliberate difference from the reference: it updates G first and then runs G a second time, under
``no_grad``, to make the fake for D's update; here one forward serves both losses and both
optimisers step afterwards (as :mod:`paintscape.train.objectives.gan` does for SPADE), so D learns
from the fake of the generator before this step rather than after it. This saves a generator
forward per step. D's three passes (fake, real, mix) run as one batch: D has no batch-dependent
layers, so the outputs are the same as three calls.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from paintscape.config import Config
from paintscape.labels import IGNORE_INDEX
from paintscape.losses.labelmix import labelmix_loss, labelmix_mask, mix_images
from paintscape.losses.perceptual import VGG19Features, perceptual_loss
from paintscape.losses.segmentation_adversarial import segmentation_adversarial_loss
from paintscape.models.oasis import OASISDiscriminator
from paintscape.registry import OBJECTIVES
from paintscape.train.networks import build_discriminator, build_generator_from_config
from paintscape.train.objectives.base import GeneratorStep, Objective, Role, StepContext, weighted_sum
from paintscape.train.objectives.gan import TTUR_SCALES


def label_ids(one_hot_label: Tensor) -> Tensor:
    """One-hot ``(B, C, H, W)`` -> ids ``(B, H, W)`` long; all-zero (ignored) pixels -> 255."""
    ids = one_hot_label.argmax(dim=1)
    return torch.where(one_hot_label.sum(dim=1) > 0, ids, torch.full_like(ids, IGNORE_INDEX))


@OBJECTIVES.register("oasis", description="OASIS: a U-Net D segmenting into N classes + fake (class-balanced), LabelMix; G by D alone (+ optional VGG)")
class OASISObjective(Objective):
    """See the module docstring. Needs ``model.discriminator.name: oasis``."""

    def __init__(self, *, config: Config) -> None:
        self.generator_network, self.spec = build_generator_from_config(config)
        if self.generator_network.encoder is not None or self.generator_network.uses_style:
            raise ValueError(f"loss.objective oasis trains generators without a style input; {config.model.generator.name!r} has one")
        self.discriminator = build_discriminator(config)
        if not isinstance(self.discriminator, OASISDiscriminator):
            raise ValueError(
                f"loss.objective oasis needs model.discriminator.name: oasis (a segmentation discriminator), got "
                f"{config.model.discriminator.name!r}"
            )
        if self.discriminator.num_classes != self.generator_network.num_classes:
            raise ValueError(
                f"the OASIS discriminator segments {self.discriminator.num_classes} classes, the generator takes "
                f"{self.generator_network.num_classes}"
            )
        weights_in_use = [config.loss.weights] + [p.loss_weights for p in config.train.phases if p.loss_weights]
        self.vgg: VGG19Features | None = None
        if any(w.get("vgg", 0) > 0 for w in weights_in_use):
            self.vgg = VGG19Features(weights=config.loss.vgg_weights, input_normalization=config.loss.vgg_normalization)
        self.vgg_distance = config.loss.vgg_distance
        g_scale, d_scale = TTUR_SCALES if config.train.ttur else (1.0, 1.0)
        self._roles = {
            "discriminator": Role(self.discriminator, lr_scale=d_scale, short_name="D"),
            "generator": Role(self.generator_network, lr_scale=g_scale, step_module=GeneratorStep(self.generator_network), short_name="G"),
        }

    def roles(self) -> dict[str, Role]:
        return self._roles

    def frozen(self) -> dict[str, nn.Module]:
        return {} if self.vgg is None else {"vgg": self.vgg}

    def step(self, batch: Mapping[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        label, real = batch["label"], batch["image"]
        ids = label_ids(label)
        weights = ctx.loss_weights
        with ctx.forward("generator"):
            fake, _, _ = ctx.network("generator")(label, real)
        with ctx.forward("discriminator"):
            d_terms = self.discriminator_terms(ctx.network("discriminator"), ids, real, fake.detach(), weights.get("labelmix", 0.0))
        d_weights = {"real": 1.0, "fake": 1.0, "labelmix": weights.get("labelmix", 0.0)}
        ctx.backward(weighted_sum(d_terms, d_weights, prefix="D/"), d_terms)
        with ctx.frozen("discriminator"), ctx.forward("discriminator", sync=False):
            g_terms = self.generator_terms(ctx.network("discriminator"), ids, real, fake, weights)
        if g_terms:  # a phase may weigh every generator term 0 (D alone learns)
            ctx.backward(weighted_sum(g_terms, weights), g_terms)
        return {**d_terms, **g_terms}

    def discriminator_terms(self, discriminator: nn.Module, ids: Tensor, real: Tensor, fake: Tensor, labelmix_weight: float) -> dict[str, Tensor]:
        """``fake`` is detached. LabelMix's mask is drawn from the global RNG (as the reference)."""
        B = real.shape[0]
        images = [fake, real]
        mask = None
        if labelmix_weight > 0:
            mask = labelmix_mask(ids).to(real.dtype)
            images.append(mix_images(real, fake, mask))
        outputs = discriminator(torch.cat(images)).float().split(B)
        terms = {
            "D/fake": segmentation_adversarial_loss(outputs[0], ids, real=False),
            "D/real": segmentation_adversarial_loss(outputs[1], ids, real=True),
        }
        if mask is not None:
            terms["D/labelmix"] = labelmix_loss(mask.float(), outputs[2], outputs[0], outputs[1])
        return terms

    def generator_terms(self, discriminator: nn.Module, ids: Tensor, real: Tensor, fake: Tensor, weights: Mapping[str, float]) -> dict[str, Tensor]:
        terms: dict[str, Tensor] = {}
        if weights.get("adv", 0) > 0:
            terms["G/adv"] = segmentation_adversarial_loss(discriminator(fake).float(), ids, real=True)
        if weights.get("vgg", 0) > 0:
            if self.vgg is None:
                raise ValueError("loss.weights.vgg > 0 needs a VGG19 (loss.vgg_weights)")
            terms["G/vgg"] = perceptual_loss(self.vgg, fake.float(), real.float(), distance=self.vgg_distance)
        return terms
