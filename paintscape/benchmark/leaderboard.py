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


def _spread(result: dict, key: str) -> tuple[float, float] | None:
    """``(value, spread)`` of a measure: the mean and std over training seeds when the family ran with
    several, else the value with its evaluation spread (KID's draws; 0 for the others)."""
    summary = result.get("seeds_summary", {}).get(key)
    if summary is not None and summary["seeds"] > 1:
        return summary["mean"], summary["std"]
    value = result["measures"].get(key)
    if value is None:
        return None
    return (value["mean"], value["std"]) if isinstance(value, dict) else (float(value), 0.0)


def _cell(entry: tuple[float, float] | None, key: str, fmt: str) -> str:
    if entry is None:
        return "—"
    value, spread = entry
    if key == "diversity" and value == 0.0 and spread == 0.0:
        return "0 (deterministic)"
    return f"{fmt.format(value)} ± {fmt.format(spread)}" if spread else fmt.format(value)


def _floor_cell(floor: dict, key: str, fmt: str) -> str:
    value = floor.get(key)
    if value is None:
        return "—"
    entry = (value["mean"], value["std"]) if isinstance(value, dict) else (float(value), 0.0)
    return _cell(entry, key, fmt)


def separations(results: list[dict], key: str = "fid", higher_is_better: bool = False) -> list[dict]:
    """For each pair of neighbours in the ranking by ``key``: the gap between them and the noise
    (the sum of their spreads); ``resolved`` when the gap is larger, i.e. the two differ beyond
    what another training seed (or another evaluation draw) would change."""
    rows = [(r["name"], *(_spread(r, key) or (float("nan"), 0.0))) for r in results]
    rows.sort(key=lambda row: -row[1] if higher_is_better else row[1])
    out = []
    for (a, va, sa), (b, vb, sb) in zip(rows, rows[1:]):
        gap = abs(vb - va)
        out.append({"better": a, "worse": b, "gap": gap, "noise": sa + sb, "resolved": bool(gap > sa + sb)})
    return out


def leaderboard_markdown(results: list[dict]) -> str:
    """One row per result, best FID first, then the real photos' floor; below the table, whether
    each neighbour in the ranking is told apart beyond the spread, and the commands."""
    results = sorted(results, key=lambda r: _spread(r, "fid")[0])
    head = "| family | CPU s | steps | images | " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    lines = [head, "|---|---:|---:|---:|" + "---:|" * len(COLUMNS)]
    for r in results:
        t = r["training"]
        cells = " | ".join(_cell(_spread(r, key), key, fmt) for key, _, fmt in COLUMNS)
        budget = f"{t['cpu_seconds']:.0f} | {t['steps']:,} | {t['images']:,}" if t else "not trained here | — | —"
        lines.append(f"| {r['name']} | {budget} | {cells} |")
    floor = results[0]["floor"]
    cells = " | ".join(_floor_cell(floor, key, fmt) for key, _, fmt in COLUMNS)
    lines.append(f"| *real photos (floor)* | — | — | — | {cells} |")
    lines.append("")
    seeds = sorted({len(r.get("seeds", [0])) for r in results})
    spread = (
        f"± is the std over {seeds[0]} training seeds (CPU s, steps, images: their mean)"
        if seeds == [max(seeds)] and seeds[0] > 1
        else "± is the std over training seeds where a row has several, else KID's std over 50 subsets of 100"
    )
    lines.append(f"Kit `{results[0]['kit_id']}`; {spread}.")
    if len(results) > 1:
        for key, title, higher in (("fid", "FID", False), ("kid_x1000", "KID", False)):
            verdicts = [
                f"{s['better']} ahead of {s['worse']} by {s['gap']:.2f} ({'beyond' if s['resolved'] else 'within'} the spread {s['noise']:.2f})"
                for s in separations(results, key, higher)
            ]
            lines.append(f"{title}: " + "; ".join(verdicts) + ".")
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
