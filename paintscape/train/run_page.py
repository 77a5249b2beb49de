"""``RUN/report.html``: one page to look at a training run — loss curves, evaluation metrics over
time (plots, from ``log.jsonl``) and the sample grids of ``samples/`` over time.

``paintscape report RUN`` writes it, and ``paintscape train`` does at the end of every run. The page
links the grids by relative path, so the run folder can be moved or copied whole.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

from paintscape.io_atomic import atomic_write_text
from paintscape.svg_plot import line_chart

#: At most this many sample grids on the page, spread over the run (the last one always shown).
MAX_GRIDS = 8


class RunPageError(ValueError):
    """The folder is not a training run."""


def read_log(run_dir: Path) -> list[dict]:
    """The records of ``log.jsonl``; a line cut short by a crash is skipped."""
    path = run_dir / "log.jsonl"
    records = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and isinstance(record.get("step"), int | float):
                records.append(record)
    return records


def chart_groups(records: list[dict]) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """Series grouped into charts: ``G/*`` terms, ``D/*`` terms, learning rates, speed; one chart per metric."""
    groups: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for record in records:
        for key, value in record.items():
            if key in ("step", "images", "time", "phase") or isinstance(value, bool) or not isinstance(value, int | float):
                continue
            prefix, _, rest = key.partition("/")
            if prefix == "eval":
                title = f"evaluation: {rest}"
            elif prefix in ("G", "D"):
                title = f"{prefix} loss terms"
            elif prefix == "lr":
                title = "learning rates"
            elif prefix == "speed":
                title = "speed (images/s)"
            else:
                title = key
            groups.setdefault(title, {}).setdefault(key, []).append((record["step"], float(value)))
    # losses first, then evaluation, then the rest
    order = {"G loss terms": 0, "D loss terms": 1}
    return dict(sorted(groups.items(), key=lambda kv: (order.get(kv[0], 2 if kv[0].startswith("evaluation") else 3), kv[0])))


def sample_grids(run_dir: Path) -> list[Path]:
    """Up to :data:`MAX_GRIDS` of ``samples/step_N.png``, evenly spread, first and last included."""
    grids = sorted((run_dir / "samples").glob("step_*.png"))
    if len(grids) <= MAX_GRIDS:
        return grids
    picks = {round(i * (len(grids) - 1) / (MAX_GRIDS - 1)) for i in range(MAX_GRIDS)}
    return [grids[i] for i in sorted(picks)]


def _latest_metrics(records: list[dict]) -> dict[str, float]:
    latest: dict[str, float] = {}
    for record in records:
        for key, value in record.items():
            if key.startswith("eval/") and isinstance(value, int | float) and math.isfinite(value):
                latest[key[5:]] = value
    return latest


def write_run_page(run_dir: str | Path) -> Path:
    """Write ``RUN/report.html`` and return its path."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise RunPageError(f"{run_dir}: not a training run (no config.yaml); give the --out folder of paintscape train")
    records = read_log(run_dir)
    last_step = int(records[-1]["step"]) if records else 0
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>paintscape run {html.escape(run_dir.name)}</title>",
        "<style>body{font-family:sans-serif;margin:24px;max-width:1200px}"
        ".charts{display:flex;flex-wrap:wrap;gap:12px}figure{margin:8px 0}img{max-width:100%}</style></head><body>",
        f"<h1>Run {html.escape(run_dir.name)}</h1>",
        f"<p>{len(records)} log records, last at step {last_step}. Config: <a href='config.yaml'>config.yaml</a>.</p>",
    ]
    latest = _latest_metrics(records)
    if latest:
        parts.append("<p>Latest evaluation: " + ", ".join(f"{html.escape(k)} {v:.4g}" for k, v in latest.items()) + "</p>")
    parts.append("<h2>Curves</h2><div class='charts'>")
    groups = chart_groups(records)
    if not groups:
        parts.append("<p>No log records yet.</p>")
    parts.extend(line_chart(title, series) for title, series in groups.items())
    parts.append("</div><h2>Sample grids over time (label | real | generated)</h2>")
    grids = sample_grids(run_dir)
    if not grids:
        parts.append("<p>No sample grids yet (train.image_every).</p>")
    for grid in grids:
        step = int(grid.stem.split("_")[1])
        parts.append(f"<figure><figcaption>step {step}</figcaption><img src='samples/{html.escape(grid.name)}' alt='samples at step {step}'></figure>")
    parts.append("</body></html>")
    path = run_dir / "report.html"
    atomic_write_text(path, "\n".join(parts))
    return path
