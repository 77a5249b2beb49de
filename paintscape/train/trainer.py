"""The training loop: phases, learning-rate schedule, mixed precision, gradient accumulation, DDP,
EMA, crash-safe checkpoints, resume and stop conditions.

What is computed per micro-batch is the objective's (``loss.objective``, default ``gan``; see
:mod:`paintscape.train.objectives`); the networks, optimisers and what a checkpoint holds are the
training state's (:mod:`paintscape.train.state`); evaluation and best-checkpoint tracking are
:mod:`paintscape.train.evaluation`'s; logs and sample grids :mod:`paintscape.train.logs`'. One
optimiser step::

    set every role's learning rate (phase lr x linear decay x the role's scale)
    zero the gradients
    for each of train.grad_accumulation micro-batches:
        objective.step(micro-batch, ctx)     # computes its terms, ctx.backward(loss) per loss
    clip (train.max_grad_norm) and step every role's optimiser; update the gradient scaler
    update the EMA of the inference generator; log, sample, evaluate, checkpoint as due
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from paintscape.checkpoint import CheckpointManager, load_training_state
from paintscape.config import Config, config_from_yaml_text, save_config
from paintscape.data.check import check_dataset
from paintscape.data.dataset import PairedFolder, paired_names
from paintscape.data.io import DataError, read_subset
from paintscape.devices import resolve_device, slow_bf16_warning
from paintscape.labels import one_hot
from paintscape.registry import OBJECTIVES
from paintscape.train.batchnorm_refresh import BatchNormRefresh
from paintscape.train.distributed import (
    DistInfo,
    RankBatchSampler,
    all_ranks_finite,
    init_distributed,
    shutdown_distributed,
)
from paintscape.train.divergence import TrainingDiverged, check_weights_finite
from paintscape.train.evaluation import EvaluationHook
from paintscape.train.logs import TrainingLog
from paintscape.train.objectives.base import StepContext
from paintscape.train.optimizers import consolidate
from paintscape.train.schedule import PhasePlan, lr_factor, phase_at, plan_phases
from paintscape.train.state import TrainingState

log = logging.getLogger("paintscape.train")

__all__ = ["Trainer", "TrainResult", "TrainingDiverged", "train"]


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    images: int
    seconds: float
    last_checkpoint: Path | None
    last_terms: dict[str, float]
    first_step: int = 0  # the step it started from (> 0 when resumed); steps - first_step were trained now
    total_steps: int = 0  # the schedule's length


class Trainer:
    def __init__(self, config: Config, run_dir: str | Path, resume: bool = False, progress: bool = True, check_data: bool = True, stop_after: int | None = None, time_limit: float | None = None) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.resume = resume
        self.progress = progress
        self.check_data = check_data
        self.stop_after = stop_after  # stop (with a checkpoint) after this global step; for tests
        self.time_limit = time_limit  # seconds; stop (with a checkpoint) once training has run this long

    # --- setup ------------------------------------------------------------------------------
    def setup(self) -> None:
        """Everything before the first step: processes, data, the objective and its state, resume."""
        import paintscape.train.objectives  # noqa: F401  (registers the objectives)

        config = self.config
        self.device = resolve_device(config.train.device)
        self.info: DistInfo = init_distributed(self.device.type)
        if self.device.type == "cuda" and self.info.enabled:
            self.device = torch.device("cuda", self.info.local_rank)
        if config.train.precision == "bf16" and (warning := slow_bf16_warning(self.device)):
            log.warning(warning)
        # Reproducible and per-rank: seed = base + rank.
        seed = config.train.seed + self.info.rank
        torch.manual_seed(seed)
        random.seed(seed)

        self.holdout = read_subset(config.data.holdout) if config.data.holdout else []
        self.phase_names = [self._phase_names(p.subset) for p in config.train.phases]
        self.evaluation = None
        if config.eval.every:
            self.evaluation = EvaluationHook(config, self.run_dir, self._evaluation_names(), self.device)
        if self.check_data and self.info.is_main:
            self._check_data()
        self.plans = plan_phases(config.train.phases, [len(n) for n in self.phase_names], self.info.world_size)
        self.total_steps = self.plans[-1].last_step
        for plan in self.plans:
            per_rank, rest = divmod(plan.config.batch_size, self.info.world_size * config.train.grad_accumulation)
            if rest or per_rank == 0:
                raise ValueError(
                    f"train.phases[{plan.index}].batch_size={plan.config.batch_size} must be a positive multiple of "
                    f"world size x grad_accumulation = {self.info.world_size} x {config.train.grad_accumulation}"
                )

        objective = OBJECTIVES.build(config.loss.objective, config=config)
        self.state = TrainingState(objective, config, self.device, self.info)
        self.num_classes = objective.spec.num_classes  # the dataset's class table (classes.yaml or the landscape 29)
        if config.train.ema_bn_refresh_batches and self.state.ema is not None:
            self.state.refresh = self._batchnorm_refresh()
        self.checkpoints = CheckpointManager(self.run_dir, keep_last=config.train.keep_last)
        if self.resume:
            self._load_latest()
        elif self.info.is_main and (self.run_dir / "latest.json").exists():
            raise ValueError(f"{self.run_dir} already holds a run; pass --resume to continue it or choose another --out")

        self.log: TrainingLog | None = None
        if self.info.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(config, self.run_dir / "config.yaml")
            samples = PairedFolder(config.data.root, config.data.size, names=(self.holdout or self.phase_names[0])[:4], train=False, load_size=config.data.load_size)
            self.log = TrainingLog(self.run_dir, samples, min(256, config.data.size[1]), self.state.step if self.resume else None)
            self.log.palette = np.asarray(self.state.objective.spec.palette, dtype=np.uint8)

    def _batchnorm_refresh(self) -> BatchNormRefresh:
        config = self.config
        dataset = PairedFolder(config.data.root, config.data.size, names=self.phase_names[0], train=False, load_size=config.data.load_size)
        batch_size = config.train.phases[0].batch_size // (self.info.world_size * config.train.grad_accumulation)
        return BatchNormRefresh(dataset, batches=config.train.ema_bn_refresh_batches, batch_size=batch_size, seed=config.train.seed)

    def _phase_names(self, subset: str | None) -> list[str]:
        names = paired_names(self.config.data.root, subset)
        if self.holdout:
            held = set(self.holdout)
            names = [n for n in names if n not in held]
        if not names:
            raise DataError(f"{self.config.data.root}: no training pairs left{' after removing the holdout' if self.holdout else ''}")
        return names

    def _evaluation_names(self) -> list[str]:
        if self.holdout:
            return self.holdout
        if not self.config.eval.on_training_images:
            raise ValueError(
                "eval.every evaluates held-out pairs, and data.holdout is not set: give data.holdout a subset file of "
                "names kept out of training, or set eval.on_training_images=true to select on training images"
            )
        return self.phase_names[0]

    def _check_data(self) -> None:
        # One pass over the whole folder covers every phase's subset (paired_names has already
        # checked that each subset's names have a photo and a label).
        problems = [str(p) for p in check_dataset(self.config.data.root).problems]
        if problems:
            shown = "\n  ".join(problems[:20])
            more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
            raise DataError(f"the dataset has {len(problems)} problems (see `paintscape check-data {self.config.data.root}`):\n  {shown}{more}")

    # --- checkpoints ------------------------------------------------------------------------
    def save_checkpoint(self) -> Path | None:
        consolidate(*self.state.optimizers.values())  # train.shard_optimizer: gather on rank 0 (every rank calls this)
        if not self.info.is_main:
            return None
        best = self.evaluation.best if self.evaluation else None
        state = self.state.state_dict(best)
        path = self.checkpoints.save(self.state.step, state, self.state.inference_generator(), self.state.objective.spec)
        log.debug("checkpoint %s", path)
        return path

    def _load_latest(self) -> None:
        path = self.checkpoints.latest_state_path()
        if path is None:
            raise ValueError(f"--resume: {self.run_dir} has no complete checkpoint (no latest.json)")
        state = load_training_state(path, map_location=self.device)
        saved = config_from_yaml_text(json.dumps(json.loads(state["config"])))
        if saved.model != self.config.model or saved.loss.objective != self.config.loss.objective:
            raise ValueError(
                f"--resume: {path} was trained with model {saved.model} and objective {saved.loss.objective!r}, "
                f"the config now says {self.config.model} and {self.config.loss.objective!r}"
            )
        best = self.state.load_state_dict(state, str(path))
        if self.evaluation is not None:
            self.evaluation.best = best
        log.info("resumed %s at step %d", self.run_dir, self.state.step)

    # --- one step ---------------------------------------------------------------------------
    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.config.train.precision == "fp32":
            return torch.autocast(self.device.type, enabled=False)
        dtype = torch.bfloat16 if self.config.train.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def _check_finite(self, loss: torch.Tensor, terms: Mapping[str, torch.Tensor]) -> None:
        if all_ranks_finite(loss, self.info):
            return
        bad = [k for k, v in terms.items() if not torch.isfinite(v).all()]
        raise TrainingDiverged(
            f"step {self.state.step + 1}: loss {', '.join(bad) or 'on another rank'} is not finite (NaN or Inf); training stopped. "
            f"The last good checkpoint in {self.run_dir} is intact: lower the learning rate, use precision fp32/bf16, "
            "or check the data, then continue with --resume"
        )

    def train_step(self, batch: dict[str, torch.Tensor], weights: Mapping[str, float]) -> dict[str, float]:
        """One optimiser step on ``batch`` (``image``, ``label`` ids), in ``grad_accumulation`` micro-batches."""
        accumulation = self.config.train.grad_accumulation
        memory_format = self.state.memory_format
        images = batch["image"].to(self.device, non_blocking=True).contiguous(memory_format=memory_format)
        labels = one_hot(batch["label"].to(self.device, non_blocking=True), self.num_classes).contiguous(memory_format=memory_format)
        self.state.zero_grad()
        totals: dict[str, float] = {}
        for index, (real, label) in enumerate(zip(images.chunk(accumulation), labels.chunk(accumulation))):
            ctx = StepContext(
                networks=self.state.networks, roles=self.state.roles, autocast=self._autocast, scaler=self.state.scaler,
                accumulation=accumulation, last=index == accumulation - 1, loss_weights=weights, check_finite=self._check_finite,
                optimizers=self.state.optimizers,
            )  # fmt: skip
            terms = self.state.objective.step({"image": real, "label": label}, ctx)
            for name, value in terms.items():
                totals[name] = totals.get(name, 0.0) + float(value.detach()) / accumulation
        self.state.step_optimizers(self.config.train.max_grad_norm)
        return totals

    # --- the loop ---------------------------------------------------------------------------
    def _loader(self, plan: PhasePlan, epoch: int, start_batch: int, num_batches: int) -> DataLoader:
        config = self.config
        dataset = PairedFolder(
            config.data.root, config.data.size, names=self.phase_names[plan.index], train=True,
            load_size=config.data.load_size, flip=config.data.flip, seed=config.train.seed,
        )  # fmt: skip
        dataset.set_epoch(plan.index * 100_000 + epoch)
        per_rank = plan.config.batch_size // self.info.world_size
        sampler = RankBatchSampler(len(dataset), per_rank, self.info, config.train.seed, plan.index * 100_000 + epoch, start_batch, num_batches)
        workers = config.data.workers
        # Its own generator: creating a loader must not draw from the global RNG, or a resumed run
        # (which creates a loader mid-epoch) would see different noise from an uninterrupted one.
        seeds = torch.Generator().manual_seed(config.train.seed * 7919 + plan.index * 100_000 + epoch)
        return DataLoader(dataset, batch_sampler=sampler, num_workers=workers, pin_memory=self.device.type == "cuda", persistent_workers=False, prefetch_factor=4 if workers else None, generator=seeds)

    def _progress_bar(self):
        if not (self.info.is_main and self.progress):
            return None
        from tqdm import tqdm

        # A time-limited run has no known end in steps: count without a total. A run told to stop
        # early (stop_after) ends there, not at the config's last step.
        total = None if self.time_limit is not None else self.total_steps
        if total is not None and self.stop_after is not None:
            total = min(total, self.stop_after)
        return tqdm(total=total, initial=self.state.step, desc="train", unit="step", dynamic_ncols=True)

    def fit(self) -> TrainResult:
        self.setup()
        state, train = self.state, self.config.train
        first_step = state.step
        start_time = time.time()
        last_terms: dict[str, float] = {}
        last_checkpoint = None
        bar = self._progress_bar()
        try:
            while state.step < self.total_steps and state.step != self.stop_after:
                plan = phase_at(self.plans, state.step)
                weights = dict(plan.config.loss_weights or self.config.loss.weights)
                epoch, start_batch = divmod(state.step - plan.first_step, plan.steps_per_epoch)
                num_batches = min(plan.steps_per_epoch, plan.steps - epoch * plan.steps_per_epoch)
                for batch in self._loader(plan, epoch, start_batch, num_batches):
                    lrs = state.set_lr(plan.config.lr * lr_factor(state.step, self.total_steps, train.lr_decay_start))
                    state.train_mode()
                    last_terms = self.train_step(batch, weights)
                    # before the EMA moves and anything is saved: a Inf running_var leaves the losses finite
                    check_weights_finite({n: r.module for n, r in state.roles.items()}, self.info, state.step + 1, self.run_dir)
                    state.advance(plan.config.batch_size)
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix({k: f"{v:.3f}" for k, v in last_terms.items()}, refresh=False)
                    self._after_step(plan, last_terms, lrs)
                    if self.time_limit is not None and time.time() - start_time >= self.time_limit:
                        self.stop_after = state.step  # all ranks run the same steps, so they stop together only on CPU/1 rank
                    if state.step % train.checkpoint_every == 0 or state.step == plan.last_step or state.step == self.stop_after:
                        last_checkpoint = self.save_checkpoint() or last_checkpoint
                    if state.step == self.stop_after:
                        break
            if self.log is not None and train.image_every:
                self.log.samples(state.inference_generator(), state.step, self.device)
        finally:
            if bar is not None:
                bar.close()
            if self.log is not None:
                self.log.close()
        shutdown_distributed(self.info)
        return TrainResult(self.run_dir, state.step, state.images_seen, time.time() - start_time, last_checkpoint, last_terms, first_step, self.total_steps)

    def _after_step(self, plan: PhasePlan, terms: dict[str, float], lrs: dict[str, float]) -> None:
        """Log, dump samples and evaluate when due (rank 0)."""
        state, train = self.state, self.config.train
        if self.log is None:
            return
        self.log.add(terms, plan.config.batch_size)
        if state.step % train.log_every == 0 or state.step == self.total_steps:
            self.log.write_window(state.step, state.images_seen, {**lrs, "phase": plan.index})
        if train.image_every and state.step % train.image_every == 0:
            self.log.samples(state.inference_generator(), state.step, self.device)
        if self.evaluation is not None and state.step % self.config.eval.every == 0:
            metrics = self.evaluation(state.inference_generator(), state.objective.spec, state.step)
            self.log.write(state.step, state.images_seen, {f"eval/{k}": v for k, v in metrics.items()})


def train(config: Config, run_dir: str | Path, resume: bool = False, progress: bool = True, check_data: bool = True, stop_after: int | None = None, time_limit: float | None = None) -> TrainResult:
    """Train ``config`` into ``run_dir`` (see :class:`Trainer`)."""
    return Trainer(config, run_dir, resume=resume, progress=progress, check_data=check_data, stop_after=stop_after, time_limit=time_limit).fit()
