"""The objective contract: what a training recipe declares and what it computes per micro-batch.

An :class:`Objective` owns the networks of one recipe. It declares

* its **trainable roles**, ``{role name: Role}``: each a module with its own optimiser (Adam, or
  AdamW with weight decay) whose learning rate is the phase's times ``lr_scale`` (TTUR: a GAN's
  generator 0.5, its discriminator 2); the trainer checkpoints every role and its optimiser;
* its **frozen modules**, ``{name: module}``: moved to the device, in eval mode, never stepped
  nor checkpointed (a VGG for the perceptual loss, a teacher generator, a diffusion model's VAE);
* the role whose **inference generator** it trains (``inference_role``, a
  :class:`~paintscape.models.base.Generator`): the trainer keeps its EMA, evaluates it and writes it
  with ``spec`` as the run's generator file;

and computes, in :meth:`Objective.step`, one micro-batch's named loss terms, calling
``ctx.backward`` on each loss it wants gradients of. The :class:`StepContext` is everything the
trainer lends for that: mixed precision, the gradient scaler, gradient accumulation and, under
DDP, gradient synchronisation only on the last micro-batch. The trainer does the rest: phases,
learning-rate schedule, zeroing, clipping and stepping the optimisers, the EMA, logging the
returned terms, checkpoints, resume, stop conditions.

A new objective is one file in this folder that subclasses :class:`Objective` and registers its
factory with ``@OBJECTIVES.register("name", description=...)``; ``loss.objective: name`` selects
it. The factory is called with ``config=`` (the experiment config).
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from paintscape.models.base import Generator, GeneratorSpec
from paintscape.train.distributed import maybe_no_sync
from paintscape.train.optimizers import step_in_backward


@dataclass
class Role:
    """A trainable network of an objective.

    ``module`` holds the parameters (optimised, checkpointed under the role's name). ``step_module``
    is the module the objective calls through :meth:`StepContext.network` in its training forward;
    the trainer wraps it in DDP / ``torch.compile``, so its forward must use every parameter of the
    role (default: ``module`` itself). ``short_name`` names the role in logs (``lr/G``).
    """

    module: nn.Module
    lr_scale: float = 1.0
    betas: tuple[float, float] | None = None  # None: train.betas
    weight_decay: float = 0.0  # > 0: AdamW
    step_module: nn.Module | None = None
    short_name: str | None = None

    def training_forward(self) -> nn.Module:
        return self.module if self.step_module is None else self.step_module


class StepContext:
    """What the trainer lends an objective for one micro-batch.

    * :meth:`network` -- a role's training forward as the trainer wrapped it (DDP, compile);
    * :meth:`forward` -- a context for a forward pass through roles: mixed precision, and DDP
      ``no_sync`` on those roles unless this is the last micro-batch (gradients are all-reduced once
      per optimiser step); ``sync=False`` never synchronises (a network whose gradients this loss
      does not need, e.g. D during the generator's step);
    * :meth:`frozen` -- roles whose parameters get no gradient inside the block;
    * :meth:`backward` -- scales the loss for mixed precision and accumulation and back-propagates,
      after checking it is finite on every rank (a NaN stops the run naming the term);
    * ``loss_weights`` -- this phase's weights of the named terms.
    """

    def __init__(
        self,
        *,
        networks: Mapping[str, nn.Module],
        roles: Mapping[str, Role],
        autocast: Callable[[], contextlib.AbstractContextManager],
        scaler: torch.amp.GradScaler,
        accumulation: int,
        last: bool,
        loss_weights: Mapping[str, float],
        check_finite: Callable[[Tensor, Mapping[str, Tensor]], None],
        optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
    ) -> None:
        self._networks = networks
        self._optimizers = optimizers or {}
        self._roles = roles
        self._autocast = autocast
        self._scaler = scaler
        self.accumulation = accumulation
        self.last = last
        self.loss_weights = loss_weights
        self._check_finite = check_finite

    def network(self, role: str) -> nn.Module:
        return self._networks[role]

    @contextlib.contextmanager
    def forward(self, *roles: str, sync: bool = True) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            for role in roles:
                stack.enter_context(maybe_no_sync(self._networks[role], not (sync and self.last)))
            stack.enter_context(self._autocast())
            yield

    @contextlib.contextmanager
    def frozen(self, *roles: str) -> Iterator[None]:
        parameters = [p for role in roles for p in self._roles[role].module.parameters()]
        flags = [p.requires_grad for p in parameters]
        for p in parameters:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p, flag in zip(parameters, flags):
                p.requires_grad_(flag)

    def backward(self, loss: Tensor, terms: Mapping[str, Tensor]) -> None:
        """Back-propagate ``loss`` (the weighted sum of ``terms``, which name it if it is not finite)."""
        self._check_finite(loss, terms)
        with contextlib.ExitStack() as stack:
            # train.optimizer_in_backward: the generator's optimiser steps each parameter as its
            # gradient completes in the last micro-batch (so a role must get its gradient from one
            # backward per step); every other optimiser steps after the objective returns.
            for optimizer in self._optimizers.values():
                stack.enter_context(step_in_backward(optimizer, armed=self.last))
            self._scaler.scale(loss / self.accumulation).backward()


class Objective(ABC):
    """A training recipe; see the module docstring. Subclasses set ``spec`` in ``__init__``."""

    #: The role whose network is the run's generator (EMA, evaluation, the generator file).
    inference_role: str = "generator"
    spec: GeneratorSpec

    @abstractmethod
    def roles(self) -> dict[str, Role]:
        """The trainable networks by role name, in the order their optimisers step."""

    def frozen(self) -> dict[str, nn.Module]:
        """Networks the objective uses but never trains."""
        return {}

    @abstractmethod
    def step(self, batch: Mapping[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        """One micro-batch: ``batch`` holds ``image`` (B, 3, H, W) in [-1, 1] and ``label`` (B, C, H, W)
        one-hot, on the device. Calls ``ctx.backward`` per loss; returns every named term (for the log)."""

    def generator(self) -> Generator:
        module = self.roles()[self.inference_role].module
        assert isinstance(module, Generator), f"role {self.inference_role!r} must hold a Generator"
        return module


class GeneratorStep(nn.Module):
    """Encoder + generator as one module, so DDP sees every parameter used in one forward.

    ``forward(label, real) -> (fake, mu, logvar)``: with a VAE encoder the latent is drawn by the
    reparameterisation trick from the encoding of the real photo; a style stream gets the real
    photo as its style (TSIT trains that way). Without an encoder the generator draws its own
    latent, if it has one.
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


def weighted_sum(terms: Mapping[str, Tensor], weights: Mapping[str, float], prefix: str = "G/") -> Tensor:
    """Terms named ``prefix + key`` weigh ``weights[key]``; the others (a discriminator's) count once."""
    total = None
    for name, value in terms.items():
        weight = weights.get(name[len(prefix) :], 0.0) if name.startswith(prefix) else 1.0
        total = value.float() * weight if total is None else total + value.float() * weight
    assert total is not None, "no loss term was computed"
    return total
