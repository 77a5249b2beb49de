"""Phased schedules: which phase, epoch and batch a global step belongs to, and its learning rate."""

from __future__ import annotations

from dataclasses import dataclass

from paintscape.config import PhaseConfig


@dataclass(frozen=True)
class PhasePlan:
    index: int
    config: PhaseConfig
    dataset_size: int
    world_size: int
    steps_per_epoch: int
    steps: int
    first_step: int  # global step at which the phase starts

    @property
    def last_step(self) -> int:
        return self.first_step + self.steps


def steps_per_epoch(dataset_size: int, batch_size: int, world_size: int) -> int:
    # drop_last semantics: every step sees a full batch on every rank; a set smaller than one
    # global batch still gives one step per epoch (the sampler repeats images).
    return max(1, dataset_size // (batch_size * world_size))


def plan_phases(phases: tuple[PhaseConfig, ...], dataset_sizes: list[int], world_size: int) -> list[PhasePlan]:
    plans, start = [], 0
    for index, (phase, size) in enumerate(zip(phases, dataset_sizes)):
        spe = steps_per_epoch(size, phase.batch_size, world_size)
        # PhaseConfig holds exactly one of epochs and steps, at least 1, and spe >= 1: steps >= 1
        steps = phase.steps if phase.steps is not None else phase.epochs * spe
        plans.append(PhasePlan(index, phase, size, world_size, spe, steps, start))
        start += steps
    return plans


def phase_at(plans: list[PhasePlan], step: int) -> PhasePlan:
    """The phase that trains global ``step`` (one below the schedule's last step)."""
    return next(plan for plan in plans if plan.first_step <= step < plan.last_step)


def lr_factor(step: int, total_steps: int, decay_start: float) -> float:
    """1 until ``decay_start`` of the whole run, then linear down to 0 at the end (SPADE's decay)."""
    if decay_start >= 1.0 or total_steps <= 0:
        return 1.0
    start = decay_start * total_steps
    if step < start:
        return 1.0
    return max(0.0, 1.0 - (step - start) / max(total_steps - start, 1.0))
