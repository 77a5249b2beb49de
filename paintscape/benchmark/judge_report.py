"""``paintscape benchmark judge KIT``: where the kit's judge is right and where it is not.

Mask accuracy alone hides which classes a judge never learned. This report segments the kit's real
held-out photos with its judge and gives the accuracy per time of day (the synthetic style a label
map does not fix: dark scenes are harder) and each class's pixel share and recall. Faithfulness
figures of generators mean little for the classes the judge itself does not see.
"""

from __future__ import annotations

import json

import numpy as np

from paintscape.benchmark.judge import judge_outputs
from paintscape.benchmark.kit import Kit, KitError
from paintscape.labels import CLASS_NAMES, IGNORE_INDEX


def judge_report(kit: Kit) -> dict:
    """``{"mask_accuracy", "by_time_of_day": {time: {"images", "mask_accuracy"}}, "classes": [{"id", "name", "share", "recall"}]}``."""
    photos, labels = kit.load_set("heldout")
    names = kit.names("heldout")
    path = kit.root / "attributes.json"
    try:
        attributes = json.loads(path.read_text())["heldout"]
        times = [attributes[n]["time_of_day"] for n in names]
    except (OSError, ValueError, KeyError) as exc:
        raise KitError(f"{path}: unreadable or without the held-out scenes ({exc}); prepare the kit again") from None
    segmented, _, _ = judge_outputs(kit.judge, photos)
    labelled = labels != IGNORE_INDEX
    correct = (segmented == labels) & labelled
    per_image = correct.sum(axis=(1, 2)) / np.maximum(labelled.sum(axis=(1, 2)), 1)
    by_time = {}
    for time in dict.fromkeys(times):  # first-seen order
        chosen = np.array([t == time for t in times])
        by_time[time] = {"images": int(chosen.sum()), "mask_accuracy": float(per_image[chosen].mean())}
    total = labelled.sum()
    classes = []
    for class_id in range(kit.judge.num_classes):
        mask = labels == class_id
        if mask.any():
            classes.append({"id": class_id, "name": CLASS_NAMES[class_id] if class_id < len(CLASS_NAMES) else str(class_id),
                            "share": float(mask.sum() / total), "recall": float(correct[mask].mean())})  # fmt: skip
    return {"mask_accuracy": float(correct.sum() / total), "by_time_of_day": by_time, "classes": classes}


def judge_report_markdown(report: dict) -> str:
    lines = [f"judge mask accuracy on the real held-out photos: {report['mask_accuracy']:.3f}", "",
             "| time of day | images | mask accuracy |", "|---|---:|---:|"]  # fmt: skip
    lines += [f"| {t} | {v['images']} | {v['mask_accuracy']:.3f} |" for t, v in report["by_time_of_day"].items()]
    lines += ["", "| class | pixel share | recall |", "|---|---:|---:|"]
    ordered = sorted(report["classes"], key=lambda c: -c["share"])
    lines += [f"| {c['name']} ({c['id']}) | {c['share']:.4f} | {c['recall']:.3f} |" for c in ordered]
    learned = sum(c["recall"] >= 0.5 for c in report["classes"])
    lines += ["", f"classes with recall >= 0.5: {learned} of {len(report['classes'])} present"]
    return "\n".join(lines)
