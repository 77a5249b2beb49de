"""Distillation of a trained generator into a narrower one of its family (``loss.objective: distill``).

GAN Compression's recipe (Li et al., CVPR 2020) without the architecture search: the student
(``model.generator``, the teacher's args with scaled widths, see :mod:`paintscape.train.distill`)
learns to reproduce the frozen teacher (``distill.teacher``, a run directory: its generator file)
on the teacher's training data. Both see the same label map, latent and style. Named terms::

    G/l1       L1(student photo, teacher photo)
    G/vgg      VGG19 perceptual distance to the teacher's photo (when weighted and available)
    G/feat     L1 between D's features on the student's photo and on the teacher's
    G/adv      the adversarial term against D
    G/distill  intermediate-feature distillation: mean over the matched blocks of
               MSE(1x1 conv(student block output), teacher block output)
    G/encoder  L1 of the student's VAE encoding (mu, logvar) of the photo to the teacher's
    D/fake, D/real   D on the student's photo and on the real photo (hinge/ls/bce as loss.adversarial)

D starts as the teacher's discriminator (its latest training state) and keeps learning. The
matched blocks are the generator's top-level blocks (and the items of its top-level ModuleLists)
whose outputs are feature maps of the same height and width in teacher and student; the 1x1
projections (student channels -> teacher channels) are the trainable role ``projections``,
checkpointed with the rest, so a distillation resumes like any run. With a VAE teacher the latent
is the teacher's encoding of the real photo (reparameterised), as during the teacher's training.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from paintscape.checkpoint import CheckpointManager, load_generator, load_state_strict, load_training_state
from paintscape.config import Config
from paintscape.losses.perceptual import VGG19Features
from paintscape.losses.reconstruction import l1_loss
from paintscape.models.base import Generator
from paintscape.registry import OBJECTIVES
from paintscape.train.distill import DistillError
from paintscape.train.networks import build_discriminator, build_generator_from_config
from paintscape.train.objectives.base import Objective, Role, StepContext, weighted_sum
from paintscape.train.objectives.gan import TTUR_SCALES, adversarial_mode, discriminator_terms, generator_terms


def block_names(generator: Generator) -> list[str]:
    """The generator's top-level blocks (ModuleLists opened one level), the style encoder left out."""
    names = []
    for name, child in generator.named_children():
        if child is generator.encoder:
            continue
        if isinstance(child, nn.ModuleList):
            names.extend(f"{name}.{i}" for i in range(len(child)))
        else:
            names.append(name)
    return names


class FeatureTap:
    """Keeps the latest output of each named block of a module (forward hooks; tensors only)."""

    def __init__(self, module: nn.Module, names: list[str]) -> None:
        self.features: dict[str, Tensor] = {}
        modules = dict(module.named_modules())
        for name in names:
            modules[name].register_forward_hook(self._keep(name))

    def _keep(self, name: str):
        def hook(module: nn.Module, inputs: object, output: object) -> None:
            if isinstance(output, Tensor) and output.dim() == 4:
                self.features[name] = output

        return hook

    def take(self) -> dict[str, Tensor]:
        features, self.features = self.features, {}
        return features


class Projections(nn.Module):
    """One learned 1x1 convolution per matched block: student channels -> teacher channels."""

    def __init__(self, channels: Mapping[str, tuple[int, int]]) -> None:
        super().__init__()
        self.names = list(channels)
        self.convs = nn.ModuleDict({_key(n): nn.Conv2d(s, t, 1) for n, (s, t) in channels.items()})

    def forward(self, features: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return {name: self.convs[_key(name)](features[name]) for name in self.names}


def _key(name: str) -> str:
    return name.replace(".", "_")  # ModuleDict keys cannot hold dots


class StudentStep(nn.Module):
    """The student's training forward: ``(label, real, z, style) -> (photo, mu, logvar)``.

    The photo is rendered from the given (shared) latent; a VAE student also encodes the real photo,
    so its encoder learns the teacher's encoding (and DDP sees every parameter used)."""

    def __init__(self, generator: Generator) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, label: Tensor, real: Tensor, z: Tensor | None, style: Tensor | None) -> tuple[Tensor, Tensor | None, Tensor | None]:
        mu = logvar = None
        if self.generator.encoder is not None:
            mu, logvar = self.generator.encoder(real)
        return self.generator(label, z=z, style=style), mu, logvar


def teacher_discriminator_state(run: Path) -> dict[str, Tensor]:
    path = CheckpointManager(run).latest_state_path()
    if path is None:
        raise DistillError(f"{run}: no complete training checkpoint, so no discriminator to start from (distill.teacher_discriminator=false starts a fresh one)")
    state = load_training_state(path)
    networks = state.get("networks", {})
    if "discriminator" not in networks:
        raise DistillError(f"{path}: holds no discriminator (networks: {', '.join(networks) or 'none'})")
    return networks["discriminator"]


@OBJECTIVES.register("distill", description="distillation: a narrower student learns the teacher run's photos, D features and block outputs (1x1 projections), against the teacher's D")
class DistillObjective(Objective):
    """See the module docstring."""

    def __init__(self, *, config: Config) -> None:
        if not config.distill.teacher:
            raise DistillError("loss.objective=distill needs distill.teacher (the teacher's run directory); paintscape distill sets it")
        teacher_run = Path(config.distill.teacher)
        self.teacher, teacher_spec = load_generator(teacher_run)
        self.student, self.spec = build_generator_from_config(config)
        if teacher_spec.family != self.spec.family:
            raise DistillError(f"distill: the teacher {teacher_run} is a {teacher_spec.family} generator, the student a {self.spec.family}")
        if tuple(teacher_spec.image_size) != tuple(config.data.size):
            raise DistillError(f"distill: the teacher {teacher_run} renders {tuple(teacher_spec.image_size)}, data.size is {tuple(config.data.size)}")
        self.discriminator = build_discriminator(config)
        if config.distill.teacher_discriminator:
            load_state_strict(self.discriminator, teacher_discriminator_state(teacher_run), f"{teacher_run} discriminator")
        self.size = tuple(config.data.size)
        self.adversarial = adversarial_mode(config)
        self.vgg_distance = config.loss.vgg_distance
        weights_in_use = [config.loss.weights] + [p.loss_weights for p in config.train.phases if p.loss_weights]
        self.vgg: VGG19Features | None = None
        if any(w.get("vgg", 0) > 0 for w in weights_in_use):
            self.vgg = VGG19Features(weights=config.loss.vgg_weights, input_normalization=config.loss.vgg_normalization)

        names = block_names(self.teacher)
        self.teacher_tap = FeatureTap(self.teacher, names)
        self.student_tap = FeatureTap(self.student, names)
        self.projections = Projections(self.matched_channels())
        g_scale, d_scale = TTUR_SCALES if config.train.ttur else (1.0, 1.0)
        self._roles = {
            "discriminator": Role(self.discriminator, lr_scale=d_scale, short_name="D"),
            "generator": Role(self.student, lr_scale=g_scale, step_module=StudentStep(self.student), short_name="G"),
            "projections": Role(self.projections, lr_scale=g_scale, short_name="P"),
        }

    def matched_channels(self) -> dict[str, tuple[int, int]]:
        """One forward of each on a blank map: the blocks whose outputs match in size, and their channels."""
        label = torch.zeros(1, self.teacher.num_classes, *self.size)
        label[:, 0] = 1
        outputs = []
        for generator, tap in ((self.teacher, self.teacher_tap), (self.student, self.student_tap)):
            was_training = generator.training
            generator.eval()
            z, style = self.latent_and_style(label, torch.zeros(1, 3, *self.size))
            with torch.no_grad():
                generator(label, z=z, style=style)
            generator.train(was_training)
            outputs.append(tap.take())
        teacher, student = outputs
        matched = {
            name: (student[name].shape[1], t.shape[1])
            for name, t in teacher.items()
            if name in student and student[name].shape[2:] == t.shape[2:]
        }
        if not matched:
            raise DistillError(f"distill: no block of the {self.spec.family} student matches the teacher's in size")
        return matched

    def latent_and_style(self, label: Tensor, real: Tensor) -> tuple[Tensor | None, Tensor | None]:
        """The latent and style both networks get: the teacher's encoding of the photo (VAE), or noise."""
        z = None
        if self.teacher.encoder is not None:
            mu, logvar = self.teacher.encoder(real)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        else:
            shape = self.teacher.latent_shape(label.shape[0], self.size)
            if shape is not None:
                z = torch.randn(shape, device=label.device)
        return z, (real if self.teacher.uses_style else None)

    def roles(self) -> dict[str, Role]:
        return self._roles

    def frozen(self) -> dict[str, nn.Module]:
        frozen: dict[str, nn.Module] = {"teacher": self.teacher}
        if self.vgg is not None:
            frozen["vgg"] = self.vgg
        return frozen

    def step(self, batch: Mapping[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        label, real = batch["label"], batch["image"]
        weights = ctx.loss_weights
        with torch.no_grad(), ctx.forward():
            z, style = self.latent_and_style(label, real)
            mu_t = logvar_t = None
            if self.teacher.encoder is not None:
                mu_t, logvar_t = self.teacher.encoder(real)
            target = self.teacher(label, z=z, style=style)
            target_features = self.teacher_tap.take()
        with ctx.forward("generator", "projections"):
            fake, mu, logvar = ctx.network("generator")(label, real, z, style)
            student_features = self.student_tap.take()
            projected = ctx.network("projections")(student_features) if weights.get("distill", 0) > 0 else {}
        with ctx.forward("discriminator"):
            d_terms = self.discriminator_terms(ctx.network("discriminator"), label, real, fake)
        ctx.backward(weighted_sum(d_terms, weights), d_terms)
        with ctx.frozen("discriminator"), ctx.forward("discriminator", sync=False):
            g_terms = self.generator_terms(ctx.network("discriminator"), label, fake, target, weights)
        if projected:
            g_terms["G/distill"] = torch.stack(
                [F.mse_loss(p.float(), target_features[name].float()) for name, p in projected.items()]
            ).mean()
        if weights.get("encoder", 0) > 0 and mu is not None and mu_t is not None:
            g_terms["G/encoder"] = l1_loss(mu.float(), mu_t.float()) + l1_loss(logvar.float(), logvar_t.float())
        ctx.backward(weighted_sum(g_terms, weights), g_terms)
        return {**d_terms, **g_terms}

    def discriminator_terms(self, discriminator: nn.Module, label: Tensor, real: Tensor, fake: Tensor) -> dict[str, Tensor]:
        return discriminator_terms(discriminator, label, real, fake, self.adversarial)

    def generator_terms(self, discriminator: nn.Module, label: Tensor, fake: Tensor, target: Tensor, weights: Mapping[str, float]) -> dict[str, Tensor]:
        # the GAN objective's generator terms with the teacher's photo as the target (and no KL)
        return generator_terms(discriminator, label, target, fake, weights, adversarial=self.adversarial, vgg=self.vgg,
                               vgg_distance=self.vgg_distance)  # fmt: skip
