"""Tiny training configs on synthetic data, shared by the training tests and their subprocesses."""

from __future__ import annotations

from pathlib import Path

from paintscape.config import Config, load_config

REPO = Path(__file__).resolve().parents[1]


def make_data(root: Path, count: int = 12, size: tuple[int, int] = (32, 64)) -> Path:
    from paintscape.data.synthetic import write_dataset

    if not (root / "labels").is_dir():
        write_dataset(str(root), count, size=size, seed=3, progress=False)
    return root


SIZES = {"spade": "[32, 64]", "pix2pix": "[32, 64]", "tsit": "[128, 256]", "oasis": "[32, 64]", "controlnet": "[16, 32]"}


def tiny_config(data: Path, *overrides: str, family: str = "spade") -> Config:
    return load_config(
        REPO / "paintscape" / "configs" / f"{family}_tiny.yaml",
        [f"data.root={data}", f"data.size={SIZES[family]}", "train.phases=[{batch_size: 2, lr: 0.0002, steps: 4}]",
         "train.log_every=1", "train.image_every=0", "train.checkpoint_every=100", *overrides],
    )
