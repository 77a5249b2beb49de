"""Where ``Painter.from_pretrained`` finds a generator, never downloading anything: a run directory,
a ``.safetensors`` generator file, a folder holding one (a Hugging Face snapshot), or a Hugging Face
model id (``org/name``) already in the local hub cache (``HF_HUB_CACHE``, ``HF_HOME/hub`` or
``~/.cache/huggingface/hub``).
"""

from __future__ import annotations

import os
from pathlib import Path

from paintscape.checkpoint import CheckpointError, latest_record

#: File names a published paintscape generator is looked up by in a folder, in this order.
PREFERRED_FILES = ("generator.safetensors", "best.safetensors", "model.safetensors")


def hub_cache() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    return Path.home() / ".cache" / "huggingface" / "hub"


def cached_snapshot(model_id: str, revision: str = "main") -> Path | None:
    """The local snapshot folder of ``model_id`` at ``revision`` (a ref such as main, or a commit), if cached."""
    repo = hub_cache() / f"models--{model_id.replace('/', '--')}"
    ref = repo / "refs" / revision
    commit = ref.read_text().strip() if ref.is_file() else revision
    snapshot = repo / "snapshots" / commit
    return snapshot if snapshot.is_dir() else None


def _generator_in_folder(folder: Path) -> Path:
    for name in PREFERRED_FILES:
        if (folder / name).is_file():
            return folder / name
    found = sorted(folder.glob("*.safetensors"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise CheckpointError(f"{folder}: no run (latest.json) and no .safetensors generator in it")
    raise CheckpointError(f"{folder}: several .safetensors files ({', '.join(p.name for p in found)}); name one, or call one {PREFERRED_FILES[0]}")


def resolve_pretrained(name_or_path: str | Path, revision: str = "main") -> Path:
    """The file or run directory ``load_generator`` reads for ``name_or_path``."""
    path = Path(name_or_path)
    if path.is_file() or (path.is_dir() and latest_record(path) is not None):
        return path
    if path.is_dir():
        return _generator_in_folder(path)
    text = str(name_or_path)
    if text.count("/") == 1 and not text.startswith((".", "/")):
        snapshot = cached_snapshot(text, revision)
        if snapshot is not None:
            return _generator_in_folder(snapshot)
        raise CheckpointError(
            f"{text}: not a local path, and not in the Hugging Face cache ({hub_cache()}); paintscape downloads nothing: "
            f"fetch it first (huggingface-cli download {text}) or give the folder"
        )
    raise CheckpointError(f"{text}: no such run directory, generator file or folder")
