"""The leaderboard: every family's result on one kit as a Markdown table, and a gallery image
(label | real | each family) of the first held-out maps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from paintscape.benchmark.kit import Kit, KitError

COLUMNS = (
    ("fid", "FID ↓", "{:.2f}"),
    ("kid_x1000", "KID×1000 ↓", "{:.1f}"),
    ("class_color", "class colour ↓", "{:.3f}"),
    ("mask_accuracy", "mask acc. ↑", "{:.3f}"),
    ("mean_iou", "mIoU ↑", "{:.3f}"),
    ("diversity", "diversity", "{:.2f}"),
)


def read_results(paths: list[str | Path]) -> list[dict]:
    """``result.json`` files (or folders holding one), all measured on the same kit."""
    results = []
    for path in paths:
        path = Path(path)
        path = path / "result.json" if path.is_dir() else path
        if not path.is_file():
            raise KitError(f"{path}: no benchmark result (run `paintscape benchmark run` first)")
        result = json.loads(path.read_text())
        result["_dir"] = str(path.parent)
        results.append(result)
    kits = {r["kit_id"] for r in results}
    if len(kits) > 1:
        raise KitError(
            f"the results were measured on different kits ({', '.join(sorted(kits))}); a leaderboard compares one kit"
        )
    return results


def _cell(measures: dict, key: str, fmt: str) -> str:
    if key not in measures:
        return "—"
    value = measures[key]
    if isinstance(value, dict):
        return f"{fmt.format(value['mean'])} ± {fmt.format(value['std'])}"
    if key == "diversity" and value == 0.0:
        return "0 (deterministic)"
    return fmt.format(value)


def leaderboard_markdown(results: list[dict]) -> str:
    """One row per result, best FID first, then the real photos' floor; commands below the table."""
    results = sorted(results, key=lambda r: r["measures"]["fid"])
    head = "| family | CPU s | steps | images | " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    lines = [head, "|---|---:|---:|---:|" + "---:|" * len(COLUMNS)]
    for r in results:
        t = r["training"]
        cells = " | ".join(_cell(r["measures"], key, fmt) for key, _, fmt in COLUMNS)
        budget = f"{t['cpu_seconds']:.0f} | {t['steps']:,} | {t['images']:,}" if t else "not trained here | — | —"
        lines.append(f"| {r['name']} | {budget} | {cells} |")
    floor = results[0]["floor"]
    cells = " | ".join(_cell(floor, key, fmt) for key, _, fmt in COLUMNS)
    lines.append(f"| *real photos (floor)* | — | — | — | {cells} |")
    lines.append("")
    lines.append(f"Kit `{results[0]['kit_id']}`; KID as mean ± std over 50 subsets of 100.")
    commands = {r["command"] for r in results if r.get("command")}
    for command in sorted(commands):
        lines.append(f"Reproduce: `{command}`")
    return "\n".join(lines) + "\n"


def gallery(kit: Kit, results: list[dict], rows: int = 6, tile_width: int = 128) -> Image.Image:
    """label | real | each family, for the first ``rows`` held-out maps (from each result's samples/)."""
    from paintscape.data.contact_sheet import contact_sheet
    from paintscape.labels import colorize

    real, labels = kit.load_set("heldout", limit=rows)
    columns = []
    for r in results:
        folder = Path(r["_dir"]) / "samples"
        files = sorted(folder.glob("*.png"))[:rows]
        if len(files) < len(real):
            raise KitError(f"{folder}: {len(files)} sample photos, the gallery needs {len(real)}")
        columns.append([np.asarray(Image.open(f).convert("RGB")) for f in files])
    grid = [[colorize(labels[i]), real[i], *(col[i] for col in columns)] for i in range(len(real))]
    return contact_sheet(grid, ["label", "real", *(r["name"] for r in results)], tile_width=tile_width)
