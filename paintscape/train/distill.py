"""``paintscape distill``: a narrower student of a trained run's generator family.

:func:`student_config` turns a teacher run's config into the student's: the generator's channel
widths scaled by ``width`` (:data:`WIDTH_ARGUMENTS` names them per family, SPADE's hidden width
too), ``loss.objective: distill`` with ``distill.teacher`` pointing at the run, and the
distillation's loss weights. The student then trains as any run does (``paintscape train
RUN_SMALL/config.yaml --out RUN_SMALL --resume`` continues it); the objective is
:mod:`paintscape.train.objectives.distill`.

A teacher run lists its students in ``students.json`` (:func:`record_student`), so the paint page
can use the newest one for live previews (:func:`find_student`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from paintscape.config import Config, config_to_dict, load_dataclass, read_yaml_mapping
from paintscape.io_atomic import atomic_write_text

#: Per generator family, the constructor arguments that are channel widths (scaled by ``--width``).
WIDTH_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "spade": ("base_channels", "hidden_channels"),
    "oasis": ("base_channels", "hidden_channels"),
    "tsit": ("base_channels",),
    "pix2pix": ("base_channels",),
}
#: The constructors' defaults of those widths, for configs that leave them out.
DEFAULT_WIDTHS = {"base_channels": 64, "hidden_channels": 128}
#: The generator terms of the distill objective and their weights (GAN Compression's GauGAN recipe:
#: 10 x reconstruction, 10 x feature distillation, 10 x D features, 1 x adversarial).
DISTILL_WEIGHTS = {"adv": 1.0, "feat": 10.0, "l1": 10.0, "distill": 10.0, "encoder": 1.0}
STUDENTS_FILE = "students.json"


class DistillError(ValueError):
    """A teacher run that cannot be distilled; the message names the run and the problem."""


def scale_widths(family: str, args: Mapping[str, Any], width: float) -> dict[str, Any]:
    """``args`` with every width of ``family`` times ``width`` (rounded, at least 2)."""
    if family not in WIDTH_ARGUMENTS:
        raise DistillError(f"distill: generator family {family!r} has no width table; known: {', '.join(WIDTH_ARGUMENTS)}")
    if not 0 < width <= 1:
        raise DistillError(f"distill: --width must be in (0, 1], got {width}")
    scaled = dict(args)
    for name in WIDTH_ARGUMENTS[family]:
        scaled[name] = max(2, round(int(args.get(name, DEFAULT_WIDTHS[name])) * width))
    return scaled


def read_run_config(run: str | Path) -> Config:
    path = Path(run) / "config.yaml"
    if not path.is_file():
        raise DistillError(f"{run}: not a run directory (no config.yaml); give the teacher's --out of paintscape train")
    return load_dataclass(Config, read_yaml_mapping(path), (), source=str(path))


def student_config(teacher_run: str | Path, width: float, overrides: Sequence[str] = ()) -> Config:
    """The student's config: the teacher's, narrower, trained by the distill objective.

    Per-phase loss weights are dropped (the distillation's own weights apply to every phase); the
    VGG term keeps the teacher's weight when the teacher used one. ``overrides`` come last.
    """
    teacher = read_run_config(teacher_run)
    if teacher.loss.objective not in ("gan", "distill"):
        raise DistillError(f"{teacher_run}: trained with objective {teacher.loss.objective!r}; distill needs a GAN generator")
    data = config_to_dict(teacher)
    generator = data["model"]["generator"]
    generator["args"] = scale_widths(generator["name"], generator["args"], width)
    weights = dict(DISTILL_WEIGHTS)
    if teacher.loss.weights.get("vgg", 0) > 0:
        weights["vgg"] = teacher.loss.weights["vgg"]
    data["loss"]["objective"] = "distill"
    data["loss"]["weights"] = weights
    for phase in data["train"]["phases"]:
        phase["loss_weights"] = None
    data["distill"] = {"teacher": str(teacher_run), "teacher_discriminator": True}
    return load_dataclass(Config, data, list(overrides), source=f"the student of {teacher_run}")


def record_student(teacher_run: str | Path, student_run: str | Path) -> None:
    """Add ``student_run`` (relative to the teacher run when it can) to the teacher's students.json."""
    teacher_run = Path(teacher_run)
    path = teacher_run / STUDENTS_FILE
    students = read_students(teacher_run)
    entry = os.path.relpath(Path(student_run).resolve(), teacher_run.resolve())
    if entry in students:
        students.remove(entry)
    students.append(entry)  # newest last
    atomic_write_text(path, json.dumps({"students": students}, indent=1) + "\n")


def read_students(teacher_run: str | Path) -> list[str]:
    path = Path(teacher_run) / STUDENTS_FILE
    if not path.is_file():
        return []
    try:
        students = json.loads(path.read_text())["students"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DistillError(f"{path}: unreadable ({exc}); delete it or fix the JSON") from None
    if not isinstance(students, list) or not all(isinstance(s, str) for s in students):
        raise DistillError(f"{path}: 'students' must be a list of run directories")
    return list(students)


def find_student(teacher_run: str | Path) -> Path | None:
    """The newest student of ``teacher_run`` that has a checkpoint, or None."""
    teacher_run = Path(teacher_run)
    if not teacher_run.is_dir():
        return None
    for entry in reversed(read_students(teacher_run)):
        run = teacher_run / entry
        if (run / "latest.json").is_file():
            return run
    return None
