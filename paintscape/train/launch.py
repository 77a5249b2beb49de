"""What ``paintscape train`` trains: a config (a file or a packaged name) with overrides and shortcuts,
or a run directory's own saved config when it is resumed (``--resume RUN`` needs nothing else).

The shortcuts are the overrides people type most: ``--data DIR`` (``data.root``), ``--steps N`` /
``--epochs N`` (the length of a one-phase schedule) and ``--batch-size N`` (every phase's).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from paintscape.config import Config, ConfigError, load_config


@dataclass(frozen=True)
class Shortcuts:
    data: Path | None = None
    steps: int | None = None
    epochs: int | None = None
    batch_size: int | None = None


def shortcut_overrides(config: Config, shortcuts: Shortcuts) -> list[str]:
    """The dotted overrides the shortcuts stand for, checked against ``config``'s phases."""
    out: list[str] = []
    if shortcuts.data is not None:
        out.append(f"data.root={shortcuts.data}")
    if shortcuts.steps is not None and shortcuts.epochs is not None:
        raise ConfigError("give --steps or --epochs, not both")
    length = ("steps", shortcuts.steps) if shortcuts.steps is not None else ("epochs", shortcuts.epochs)
    if length[1] is not None:
        phases = len(config.train.phases)
        if phases != 1:
            raise ConfigError(
                f"--{length[0]} sets the length of a one-phase schedule and this config has {phases} phases; "
                f"set each with train.phases[K].{length[0]}=N"
            )
        other = "epochs" if length[0] == "steps" else "steps"
        out += [f"train.phases[0].{length[0]}={length[1]}", f"train.phases[0].{other}=null"]
    if shortcuts.batch_size is not None:
        out += [f"train.phases[{i}].batch_size={shortcuts.batch_size}" for i in range(len(config.train.phases))]
    return out


def saved_run_config(run_dir: Path) -> Path:
    """``RUN/config.yaml``: the resolved config (file + overrides) a run was started with."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"--resume {run_dir}: no run there (no config.yaml); give the run directory a training wrote")
    return path


def training_config(config: str | Path | None, overrides: list[str], shortcuts: Shortcuts, resume_dir: Path | None = None) -> Config:
    """The config to train: ``config`` (or, resuming without one, the run's saved config) + overrides + shortcuts."""
    if config is None:
        if resume_dir is None:
            raise ConfigError("give a config (a YAML file or a packaged name: paintscape configs lists them), or --resume RUN")
        config = saved_run_config(resume_dir)
    base = load_config(config, overrides)
    extra = shortcut_overrides(base, shortcuts)
    return load_config(config, [*overrides, *extra]) if extra else base
