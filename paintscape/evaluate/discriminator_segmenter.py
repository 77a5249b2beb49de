"""An OASIS run's discriminator as the segmenter of mask accuracy and mIoU (``evaluate --segmenter RUN``).

OASIS's discriminator segments a photo into the N classes plus "fake"; with the fake channel left
out (:func:`paintscape.models.oasis.class_logits`) it is an N-class segmenter that needs no
SegFormer nor any download. It is not the track's judge: it was trained on the same data as the
generator it judges and, adversarially, to tell that generator's fakes apart, so its number answers
"does the photo show the label's classes to this discriminator" and is comparable between
checkpoints of one run, or between models judged by the same discriminator, not to the SegFormer
figure (docs/parity_oasis.md).
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F

from paintscape.checkpoint import CheckpointError, CheckpointManager, load_state_strict, load_training_state
from paintscape.models.base import constructor_kwargs
from paintscape.models.oasis import OASISDiscriminator, class_logits
from paintscape.registry import DISCRIMINATORS


def is_training_run(path: str | Path) -> bool:
    """A ``paintscape train`` run directory (or one of its ``step_*.pt`` states), not a SegFormer folder."""
    path = Path(path)
    return (path / "latest.json").is_file() or (path.is_file() and path.suffix == ".pt")


def load_discriminator(run: str | Path, device: str | torch.device = "cpu") -> tuple[OASISDiscriminator, tuple[int, int]]:
    """``(discriminator in eval mode, the (H, W) it was trained at)`` of an OASIS run's latest
    checkpoint (or of the given ``.pt`` state)."""
    import paintscape.models  # noqa: F401  (registers the networks)

    run = Path(run)
    path = run if run.is_file() else CheckpointManager(run).latest_state_path()
    if path is None:
        raise CheckpointError(f"{run}: no complete checkpoint (no latest.json)")
    state = load_training_state(path)
    config = json.loads(state["config"])
    name = config["model"]["discriminator"]["name"]
    weights = state.get("networks", {}).get("discriminator")
    if name != "oasis" or weights is None:
        raise CheckpointError(
            f"{path}: its discriminator is {name!r}, not a segmentation discriminator: --segmenter takes an OASIS run "
            "(loss.objective: oasis) or a `paintscape train-segmenter` folder"
        )
    args = dict(config["model"]["discriminator"]["args"])
    args["num_classes"] = int(weights["layer_up_last.weight"].shape[0]) - 1
    discriminator = DISCRIMINATORS.build(name, **constructor_kwargs(args))
    load_state_strict(discriminator, weights, str(path))
    height, width = config["data"]["size"]
    return discriminator.eval().to(device), (int(height), int(width))


@torch.no_grad()
def segment_with_discriminator(discriminator: OASISDiscriminator, size: tuple[int, int], images: torch.Tensor) -> torch.Tensor:
    """Class ids ``(B, H, W)`` for photos ``(B, 3, H, W)`` in [-1, 1]: resized (bilinear) to the size
    the discriminator was trained at, its class logits resized back, argmax."""
    device = next(discriminator.parameters()).device
    images = images.to(device, torch.float32)
    shape = tuple(images.shape[-2:])
    if shape != size:
        images = F.interpolate(images, size=size, mode="bilinear", align_corners=False)
    logits = class_logits(discriminator(images))
    if shape != size:
        logits = F.interpolate(logits, size=shape, mode="bilinear", align_corners=False)
    return logits.argmax(dim=1)


def load_discriminator_segmenter(run: str | Path, device: str | torch.device = "cpu", num_classes: int | None = None):
    """A segmenter (``images -> class ids``, see :data:`paintscape.evaluate.inputs.Segmenter`) from an OASIS run;
    ``num_classes``: the classes of the label maps it will judge (another count is refused)."""
    from paintscape.evaluate.segmenter import check_segmenter_classes

    discriminator, size = load_discriminator(run, device)
    check_segmenter_classes(run, discriminator.num_classes, num_classes)
    return partial(segment_with_discriminator, discriminator, size)
