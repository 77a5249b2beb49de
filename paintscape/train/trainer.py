"""The training loop: phases, mixed precision, EMA, DDP, crash-safe checkpoints, resume, logging.

One optimiser step of the GAN (per micro-batch when accumulating gradients)::

    fake, mu, logvar = G(label, real)                  # one generator forward
    D step: D(cat[label, label], cat[fake.detach(), real]) -> D/fake, D/real      (D gets grads)
    G step: D frozen (requires_grad_ False, DDP no_sync) -> G/adv, G/feat, G/vgg, G/kl, G/l1
    step D and G (TTUR learning rates), update the EMA generator

The discriminator sees a detached fake (no gradient into G), real and fake go through D in one
batch, and D's gradients are never all-reduced during the G step. Using the same generator forward
for both steps (the pix2pix order) saves a full generator forward per step compared with SPADE's
trainer, which runs G again under no_grad for its D step.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from paintscape.checkpoint import CheckpointManager, load_state_strict, load_training_state
from paintscape.config import Config, config_from_yaml_text, config_to_dict, save_config
from paintscape.data.check import check_dataset
from paintscape.data.dataset import PairedFolder, paired_names
from paintscape.data.io import DataError, read_subset
from paintscape.io_atomic import atomic_write_text
from paintscape.labels import NUM_CLASSES, one_hot
from paintscape.registry import DISCRIMINATORS, GENERATORS
from paintscape.train.distributed import (
    DistInfo,
    RankBatchSampler,
    all_ranks_finite,
    init_distributed,
    maybe_no_sync,
    unwrap,
)
from paintscape.train.ema import EMA
from paintscape.train.objective import GANObjective, GeneratorStep, weighted_sum
from paintscape.train.optimizers import build_optimizers, consolidate, step_in_backward
from paintscape.train.schedule import PhasePlan, lr_factor, optimizer_lrs, phase_at, plan_phases

log = logging.getLogger("paintscape.train")


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is left untouched."""


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    images: int
    seconds: float
    last_checkpoint: Path | None
    last_terms: dict[str, float]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"train.device={name} but no CUDA device is available; use train.device=cpu or auto")
    return device


def network_args(registry: Any, name: str, args: dict[str, Any], size: tuple[int, int]) -> dict[str, Any]:
    """The config's args plus ``num_classes``/``image_size`` when the network takes them."""
    accepted = registry.accepted_arguments(name)
    full = dict(args)
    if "num_classes" in accepted:
        full.setdefault("num_classes", NUM_CLASSES)
    if "image_size" in accepted:
        full.setdefault("image_size", list(size))
    return full


def generator_spec(config: Config) -> dict[str, Any]:
    import paintscape.models  # noqa: F401

    name = config.model.generator.name
    args = network_args(GENERATORS, name, config.model.generator.args, config.data.size)
    return {"name": name, "args": args, "image_size": list(config.data.size), "num_classes": NUM_CLASSES}


def build_networks(config: Config) -> tuple[nn.Module, nn.Module, dict[str, Any]]:
    import paintscape.models  # noqa: F401

    spec = generator_spec(config)
    generator = GENERATORS.build(spec["name"], **_tuple_sizes(spec["args"]))
    d_name = config.model.discriminator.name
    d_args = network_args(DISCRIMINATORS, d_name, config.model.discriminator.args, config.data.size)
    discriminator = DISCRIMINATORS.build(d_name, **_tuple_sizes(d_args))
    return generator, discriminator, spec


def _tuple_sizes(args: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if k == "image_size" else v for k, v in args.items()}


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1]), "python_pos": random.getstate()[2]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((3, tuple(state["python"]), state["python_pos"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


class Trainer:
    def __init__(self, config: Config, run_dir: str | Path, resume: bool = False, progress: bool = True, check_data: bool = True, stop_after: int | None = None, time_limit: float | None = None) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.resume = resume
        self.progress = progress
        self.check_data = check_data
        self.stop_after = stop_after  # stop (with a checkpoint) after this global step; for tests
        self.time_limit = time_limit  # seconds; stop (with a checkpoint) once training has run this long
        train = config.train
        if train.precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"train.precision must be fp32, bf16 or fp16, got {train.precision!r}")
        if train.grad_accumulation < 1:
            raise ValueError("train.grad_accumulation must be at least 1")

    # --- setup ------------------------------------------------------------------------------
    def _setup(self) -> None:
        config = self.config
        self.device = resolve_device(config.train.device)
        self.info: DistInfo = init_distributed(self.device.type)
        if self.device.type == "cuda" and self.info.enabled:
            self.device = torch.device("cuda", self.info.local_rank)
        # Reproducible and per-rank: seed = base + rank.
        seed = config.train.seed + self.info.rank
        torch.manual_seed(seed)
        random.seed(seed)

        self.holdout = read_subset(config.data.holdout) if config.data.holdout else []
        self.phase_names = [self._phase_names(p.subset) for p in config.train.phases]
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

        generator, discriminator, self.spec = build_networks(config)
        if self.info.enabled:
            generator, discriminator = (self._sync_batchnorm(m) for m in (generator, discriminator))
        memory_format = torch.channels_last if config.train.channels_last else torch.contiguous_format
        self.generator = generator.to(self.device, memory_format=memory_format)
        self.discriminator = discriminator.to(self.device, memory_format=memory_format)
        self.memory_format = memory_format
        self.ema = EMA(self.generator, config.train.ema_half_life_images, config.train.ema_rampup) if config.train.ema_half_life_images > 0 else None

        lr_g, lr_d = optimizer_lrs(self.plans[0].config.lr, config.train.ttur)
        self.opt_g, self.opt_d = build_optimizers(
            self.generator, self.discriminator, config.train, lr_g=lr_g, lr_d=lr_d, device=self.device, world_size=self.info.world_size
        )
        fp16 = config.train.precision == "fp16"
        self.scaler_g = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.scaler_d = torch.amp.GradScaler(self.device.type, enabled=fp16)

        loss = config.loss
        vgg = None
        weights_in_use = [loss.weights] + [p.loss_weights for p in config.train.phases if p.loss_weights]
        if any(w.get("vgg", 0) > 0 for w in weights_in_use):
            from paintscape.losses.perceptual import VGG19Features

            vgg = VGG19Features(weights=loss.vgg_weights, input_normalization=loss.vgg_normalization).to(self.device, memory_format=memory_format)
        self.objective = GANObjective(loss.adversarial, vgg, loss.vgg_distance)

        self.step = 0
        self.images_seen = 0
        self.best: dict[str, Any] | None = None
        self.checkpoints = CheckpointManager(self.run_dir, keep_last=config.train.keep_last)
        if self.resume:
            self._load_latest()
        elif self.info.is_main and (self.run_dir / "latest.json").exists():
            raise ValueError(f"{self.run_dir} already holds a run; pass --resume to continue it or choose another --out")

        self.g_step_module: nn.Module = GeneratorStep(self.generator)
        self.d_module: nn.Module = self.discriminator
        if self.info.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.g_step_module = nn.parallel.DistributedDataParallel(self.g_step_module, device_ids=ids)
            self.d_module = nn.parallel.DistributedDataParallel(self.discriminator, device_ids=ids)
        if config.train.compile:
            self.g_step_module = torch.compile(self.g_step_module)
            self.d_module = torch.compile(self.d_module)

        self.writer = None
        if self.info.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(config, self.run_dir / "config.yaml")
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.run_dir / "tensorboard"), purge_step=self.step if self.resume else None)
            self.sample_batch = self._sample_batch()

    def _sync_batchnorm(self, module: nn.Module) -> nn.Module:
        if not any(getattr(m, "paintscape_sync", False) for m in module.modules()):
            return module
        if self.device.type != "cuda":
            # PyTorch's SyncBatchNorm runs on GPUs only; on CPU (gloo) each process keeps its own
            # statistics and DDP broadcasts rank 0's buffers at every forward.
            log.warning("norm=syncbatch: SyncBatchNorm needs CUDA; on %s each process normalises over its own batch", self.device)
            return module
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)

    def _phase_names(self, subset: str | None) -> list[str]:
        names = paired_names(self.config.data.root, subset)
        if self.holdout:
            held = set(self.holdout)
            names = [n for n in names if n not in held]
        if not names:
            raise DataError(f"{self.config.data.root}: no training pairs left{' after removing the holdout' if self.holdout else ''}")
        return names

    def _check_data(self) -> None:
        # One pass over the whole folder covers every phase's subset (paired_names has already
        # checked that each subset's names have a photo and a label).
        problems = [str(p) for p in check_dataset(self.config.data.root).problems]
        if problems:
            shown = "\n  ".join(problems[:20])
            more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
            raise DataError(f"the dataset has {len(problems)} problems (see `paintscape check-data {self.config.data.root}`):\n  {shown}{more}")

    def _sample_batch(self) -> dict[str, torch.Tensor]:
        names = (self.holdout or self.phase_names[0])[:4]
        dataset = PairedFolder(self.config.data.root, self.config.data.size, names=names, train=False, load_size=self.config.data.load_size)
        items = [dataset[i] for i in range(len(dataset))]
        return {"image": torch.stack([i["image"] for i in items]), "label": torch.stack([i["label"] for i in items])}

    # --- checkpoints ------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {
            "generator": unwrap(self.generator).state_dict(),
            "discriminator": unwrap(self.discriminator).state_dict(),
            "ema": self.ema.model.state_dict() if self.ema else {},
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict(),
            "scaler_d": self.scaler_d.state_dict(),
            "step": self.step,
            "images_seen": self.images_seen,
            "rng": _rng_state(),
            "config": json.dumps(config_to_dict(self.config)),
            "spec": json.dumps(self.spec),
            "best": json.dumps(self.best),
        }

    def _inference_generator(self) -> nn.Module:
        return self.ema.model if self.ema else unwrap(self.generator)

    def save_checkpoint(self) -> Path | None:
        consolidate(self.opt_g, self.opt_d)  # train.shard_optimizer: gather the state on rank 0 (all ranks call this)
        if not self.info.is_main:
            return None
        path = self.checkpoints.save(self.step, self._state(), self._inference_generator(), self.spec)
        log.debug("checkpoint %s", path)
        return path

    def _load_latest(self) -> None:
        path = self.checkpoints.latest_state_path()
        if path is None:
            raise ValueError(f"--resume: {self.run_dir} has no complete checkpoint (no latest.json)")
        state = load_training_state(path, map_location=self.device)
        saved = config_from_yaml_text(json.dumps(json.loads(state["config"])))
        if saved.model != self.config.model:
            raise ValueError(f"--resume: {path} was trained with model {saved.model}, the config now says {self.config.model}")
        load_state_strict(unwrap(self.generator), state["generator"], str(path))
        load_state_strict(unwrap(self.discriminator), state["discriminator"], str(path))
        if self.ema and state["ema"]:
            load_state_strict(self.ema.model, state["ema"], str(path))
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.scaler_g.load_state_dict(state["scaler_g"])
        self.scaler_d.load_state_dict(state["scaler_d"])
        self.step = int(state["step"])
        self.images_seen = int(state["images_seen"])
        self.best = json.loads(state.get("best", "null"))
        if self.info.world_size == 1:
            _set_rng_state(state["rng"])
        else:  # other ranks had other streams; re-seed deterministically from the step
            torch.manual_seed(self.config.train.seed + self.info.rank + 7919 * self.step)
        log.info("resumed %s at step %d", self.run_dir, self.step)

    # --- one step ---------------------------------------------------------------------------
    def _autocast(self):
        if self.config.train.precision == "fp32":
            return torch.autocast(self.device.type, enabled=False)
        dtype = torch.bfloat16 if self.config.train.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def _set_lr(self, plan: PhasePlan) -> tuple[float, float]:
        factor = lr_factor(self.step, self.total_steps, self.config.train.lr_decay_start)
        lr_g, lr_d = optimizer_lrs(plan.config.lr * factor, self.config.train.ttur)
        for group in self.opt_g.param_groups:
            group["lr"] = lr_g
        for group in self.opt_d.param_groups:
            group["lr"] = lr_d
        return lr_g, lr_d

    def _check_finite(self, loss: torch.Tensor, terms: dict[str, torch.Tensor]) -> None:
        if all_ranks_finite(loss, self.info):
            return
        bad = [k for k, v in terms.items() if not torch.isfinite(v).all()]
        raise TrainingDiverged(
            f"step {self.step + 1}: loss {', '.join(bad) or 'on another rank'} is not finite (NaN or Inf); training stopped. "
            f"The last good checkpoint in {self.run_dir} is intact: lower the learning rate, use precision fp32/bf16, "
            "or check the data, then continue with --resume"
        )

    def train_step(self, batch: dict[str, torch.Tensor], weights: dict[str, float]) -> dict[str, float]:
        accumulation = self.config.train.grad_accumulation
        images = batch["image"].to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
        labels = one_hot(batch["label"].to(self.device, non_blocking=True)).contiguous(memory_format=self.memory_format)
        self.opt_g.zero_grad(set_to_none=True)
        self.opt_d.zero_grad(set_to_none=True)
        totals: dict[str, float] = {}
        for real, label, last in zip(images.chunk(accumulation), labels.chunk(accumulation), [False] * (accumulation - 1) + [True]):
            with maybe_no_sync(self.g_step_module, not last), self._autocast():
                fake, mu, logvar = self.g_step_module(label, real)
            # D step on the detached fake; backward at once so D's graph is freed before the G step.
            self.discriminator.requires_grad_(True)
            with maybe_no_sync(self.d_module, not last), self._autocast():
                d_terms = self.objective.discriminator_terms(self.d_module, label, real, fake)
            d_loss = weighted_sum(d_terms, weights)
            self._check_finite(d_loss, d_terms)
            self.scaler_d.scale(d_loss / accumulation).backward()
            # G step with D frozen and unsynchronised: D's gradients are not needed, not reduced.
            self.discriminator.requires_grad_(False)
            with maybe_no_sync(self.d_module, True), self._autocast():
                g_terms = self.objective.generator_terms(self.d_module, label, real, fake, mu, logvar, weights)
            g_loss = weighted_sum(g_terms, weights)
            self._check_finite(g_loss, g_terms)
            with step_in_backward(self.opt_g, armed=last):  # train.optimizer_in_backward: G steps here
                self.scaler_g.scale(g_loss / accumulation).backward()
            for name, value in {**d_terms, **g_terms}.items():
                totals[name] = totals.get(name, 0.0) + float(value.detach()) / accumulation
        self.discriminator.requires_grad_(True)
        clip = self.config.train.max_grad_norm
        for scaler, opt, module in ((self.scaler_d, self.opt_d, self.discriminator), (self.scaler_g, self.opt_g, self.generator)):
            if clip:
                scaler.unscale_(opt)
                nn.utils.clip_grad_norm_(module.parameters(), clip)
            scaler.step(opt)
            scaler.update()
        return totals

    # --- the loop ---------------------------------------------------------------------------
    def _loader(self, plan: PhasePlan, epoch: int, start_batch: int, num_batches: int) -> DataLoader:
        config = self.config
        dataset = PairedFolder(
            config.data.root, config.data.size, names=self.phase_names[plan.index], train=True,
            load_size=config.data.load_size, flip=config.data.flip, seed=config.train.seed,
        )
        dataset.set_epoch(plan.index * 100_000 + epoch)
        per_rank = plan.config.batch_size // self.info.world_size
        sampler = RankBatchSampler(len(dataset), per_rank, self.info, config.train.seed, plan.index * 100_000 + epoch, start_batch, num_batches)
        workers = config.data.workers
        # Its own generator: creating a loader must not draw from the global RNG, or a resumed run
        # (which creates a loader mid-epoch) would see different noise from an uninterrupted one.
        seeds = torch.Generator().manual_seed(config.train.seed * 7919 + plan.index * 100_000 + epoch)
        return DataLoader(dataset, batch_sampler=sampler, num_workers=workers, pin_memory=self.device.type == "cuda", persistent_workers=False, prefetch_factor=4 if workers else None, generator=seeds)

    def fit(self) -> TrainResult:
        self._setup()
        start_time = time.time()
        last_terms: dict[str, float] = {}
        bar = None
        if self.info.is_main and self.progress:
            from tqdm import tqdm

            # A time-limited run has no known end in steps: count without a total.
            total = None if self.time_limit is not None else self.total_steps
            bar = tqdm(total=total, initial=self.step, desc="train", unit="step", dynamic_ncols=True)
        window: dict[str, float] = {}
        window_steps, window_images, window_start = 0, 0, time.time()
        last_checkpoint = None
        try:
            while self.step < self.total_steps:
                plan = phase_at(self.plans, self.step)
                assert plan is not None
                weights = dict(plan.config.loss_weights or self.config.loss.weights)
                offset = self.step - plan.first_step
                epoch, start_batch = divmod(offset, plan.steps_per_epoch)
                num_batches = min(plan.steps_per_epoch, plan.steps - epoch * plan.steps_per_epoch)
                for batch in self._loader(plan, epoch, start_batch, num_batches):
                    lr_g, lr_d = self._set_lr(plan)
                    self.generator.train()
                    self.discriminator.train()
                    terms = self.train_step(batch, weights)
                    self.step += 1
                    self.images_seen += plan.config.batch_size
                    if self.ema:
                        self.ema.update(unwrap(self.generator), plan.config.batch_size, self.images_seen)
                    last_terms = terms
                    for k, v in terms.items():
                        window[k] = window.get(k, 0.0) + v
                    window_steps += 1
                    window_images += plan.config.batch_size
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix({k: f"{v:.3f}" for k, v in terms.items()}, refresh=False)
                    if self.info.is_main and (self.step % self.config.train.log_every == 0 or self.step == self.total_steps):
                        elapsed = max(time.time() - window_start, 1e-9)
                        record = {k: v / window_steps for k, v in window.items()}
                        record.update({"lr/G": lr_g, "lr/D": lr_d, "speed/images_per_s": window_images / elapsed, "phase": plan.index})
                        self._log(record)
                        window, window_steps, window_images, window_start = {}, 0, 0, time.time()
                    if self.info.is_main and self.config.train.image_every and self.step % self.config.train.image_every == 0:
                        self._log_images()
                    if self.config.eval.every and self.step % self.config.eval.every == 0:
                        self._evaluate()
                    phase_end = self.step == plan.last_step
                    if self.time_limit is not None and time.time() - start_time >= self.time_limit:
                        self.stop_after = self.step  # all ranks run the same steps, so they stop together only on CPU/1 rank
                    if self.step % self.config.train.checkpoint_every == 0 or phase_end or self.step == self.stop_after:
                        last_checkpoint = self.save_checkpoint() or last_checkpoint
                    if self.step == self.stop_after:
                        break
                if self.step == self.stop_after:
                    break
            if self.info.is_main and self.config.train.image_every:
                self._log_images()
        finally:
            if bar is not None:
                bar.close()
            if self.writer is not None:
                self.writer.close()
        seconds = time.time() - start_time
        return TrainResult(self.run_dir, self.step, self.images_seen, seconds, last_checkpoint, last_terms)

    # --- logging and evaluation ---------------------------------------------------------------
    def _log(self, record: dict[str, float]) -> None:
        record = {"step": self.step, "images": self.images_seen, "time": time.time(), **record}
        with open(self.run_dir / "log.jsonl", "a") as handle:
            handle.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for key, value in record.items():
                if key not in ("step", "time") and isinstance(value, int | float):
                    self.writer.add_scalar(key, value, self.step)

    @torch.no_grad()
    def _log_images(self) -> None:
        from paintscape.data.contact_sheet import contact_sheet
        from paintscape.data.transforms import tensor_to_image
        from paintscape.io_atomic import atomic_save_image
        from paintscape.labels import colorize

        generator = self._inference_generator()
        was_training = generator.training
        generator.eval()
        torch.manual_seed(12345)  # the same z every time, so sample grids are comparable
        label = one_hot(self.sample_batch["label"].to(self.device))
        real = self.sample_batch["image"].to(self.device)
        z = None
        if getattr(generator, "encoder", None) is not None:
            z = generator.encoder(real)[0]
        style = real if getattr(generator, "uses_style", False) else None
        rng_state = torch.get_rng_state()
        fake = generator(label, z=z, style=style)
        torch.set_rng_state(rng_state)
        generator.train(was_training)
        rows = [[colorize(lab.numpy().astype(np.uint8)), tensor_to_image(r), tensor_to_image(f)] for lab, r, f in zip(self.sample_batch["label"], real.cpu(), fake.float().cpu())]
        sheet = contact_sheet(rows, ["label", "real", "generated"], tile_width=min(256, self.config.data.size[1]))
        atomic_save_image(self.run_dir / "samples" / f"step_{self.step:08d}.png", sheet)
        if self.writer is not None:
            self.writer.add_image("samples", np.asarray(sheet), self.step, dataformats="HWC")

    def _evaluate(self) -> None:
        from paintscape.train.selection import evaluate_holdout

        if not self.info.is_main:
            return
        names = self.holdout or self.phase_names[0]
        metrics = evaluate_holdout(self._inference_generator(), self.config, names[: self.config.eval.max_images], self.device)
        self._log({f"eval/{k}": v for k, v in metrics.items()})
        key = self.config.eval.select_by
        if key not in metrics:
            raise ValueError(f"eval.select_by={key!r} but the evaluation computed only {', '.join(metrics)}")
        value = metrics[key]
        better = self.best is None or (value > self.best["value"] if key == "score" else value < self.best["value"])
        record = {"step": self.step, key: value, **metrics}
        with open(self.run_dir / "evals.jsonl", "a") as handle:
            handle.write(json.dumps(record) + "\n")
        if better:
            self.best = {"step": self.step, "metric": key, "value": value}
            from paintscape.checkpoint import save_generator

            save_generator(self.run_dir / "best.safetensors", self._inference_generator(), self.spec)
            atomic_write_text(self.run_dir / "best.json", json.dumps({**self.best, **metrics}, indent=1))


def train(config: Config, run_dir: str | Path, resume: bool = False, progress: bool = True, check_data: bool = True, stop_after: int | None = None, time_limit: float | None = None) -> TrainResult:
    """Train ``config`` into ``run_dir`` (see :class:`Trainer`)."""
    return Trainer(config, run_dir, resume=resume, progress=progress, check_data=check_data, stop_after=stop_after, time_limit=time_limit).fit()


def replace_phases(config: Config, **changes: Any) -> Config:
    """A copy of ``config`` with every phase changed (e.g. ``steps=2``); for tests and benchmarks."""
    phases = tuple(replace(p, **changes) for p in config.train.phases)
    return replace(config, train=replace(config.train, phases=phases))
