"""Batch-norm statistics for the EMA generator (``train.ema_bn_refresh_batches``), as OASIS does.

The EMA averages the generator's weights, but its batch-norm running statistics are those of the
trained generator, which do not fit the averaged weights. OASIS (``utils.update_EMA``) therefore
runs its EMA generator on about 50 training batches before every sample dump, evaluation and
checkpoint, so its batch norms see activations of the averaged weights.

:class:`BatchNormRefresh` does that on a **copy** of the EMA generator: the averaged state that a
checkpoint stores (and a resumed run continues from) never depends on when samples were dumped,
so resuming stays exact. Differences from the reference, deliberate: the statistics are the plain
mean over the batches (momentum ``None``, as ``torch.optim.swa_utils.update_bn``) instead of a
momentum-0.1 running average; only the batch norms run in training mode (spectral norm's power
iteration does not move); the batches and the noise are the same at every refresh (a fixed,
seeded choice of training label maps), and drawing them never touches the run's random stream.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from paintscape.data.dataset import PairedFolder
from paintscape.labels import one_hot
from paintscape.models.base import Generator

#: First seed of the refresh batches' noise.
REFRESH_SEED = 54321


def batch_norms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@torch.no_grad()
def refresh_batchnorm(generator: Generator, label_batches: Iterator[Tensor], seed: int = REFRESH_SEED) -> int:
    """Replace every batch norm's running statistics of ``generator`` (in place) by their mean over
    the batches of label ids ``(B, H, W)``; the rest of the network runs in eval mode. Returns the
    number of images seen (0: no batch norm, nothing done)."""
    norms = batch_norms(generator)
    if not norms:
        return 0
    device = next(generator.parameters()).device
    was_training = generator.training
    momenta = [m.momentum for m in norms]
    generator.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative mean over the batches
        m.train()
    seen = 0
    devices = [device] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):  # whatever the generator draws, the run's stream stays
            for labels in label_batches:
                size = tuple(labels.shape[1:])
                z = generator.latent_for(range(seed + seen, seed + seen + len(labels)), size, device=device)
                generator(one_hot(labels.to(device), generator.num_classes), z=z)
                seen += len(labels)
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        generator.train(was_training)
    return seen


class BatchNormRefresh:
    """``refresh(ema_generator, step)`` -> a copy of it with refreshed batch-norm statistics.

    ``dataset``'s label maps, ``batches`` of ``batch_size`` chosen once by ``seed``; the copy is
    made once and reused, and refreshed at most once per step.
    """

    def __init__(self, dataset: PairedFolder, *, batches: int, batch_size: int, seed: int = 0) -> None:
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
        self.dataset = dataset
        self.indices = order[: batches * batch_size].tolist()
        self.batch_size = batch_size
        self._copy: Generator | None = None
        self._step: int | None = None

    def _label_batches(self) -> Iterator[Tensor]:
        for start in range(0, len(self.indices), self.batch_size):
            chunk = self.indices[start : start + self.batch_size]
            yield torch.stack([self.dataset[i]["label"] for i in chunk])

    def __call__(self, ema_generator: Generator, step: int) -> Generator:
        if self._copy is not None and self._step == step:
            return self._copy
        if self._copy is None:
            self._copy = copy.deepcopy(ema_generator)
        else:
            self._copy.load_state_dict(ema_generator.state_dict())
        refresh_batchnorm(self._copy, self._label_batches())
        self._step = step
        return self._copy.eval()
