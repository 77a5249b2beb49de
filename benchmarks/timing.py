"""The timing fields every training benchmark's JSON line carries, ours and the references' alike, so that
``summarize.py`` reads them the same way: per-iteration wall and CPU seconds, then the medians, spread and
interquartile range of the timed ones (after ``warmup``)."""

from __future__ import annotations

import statistics


def timing_fields(wall: list[float], cpu: list[float], warmup: int, batch: int) -> dict:
    timed = wall[warmup:]
    median = statistics.median(timed)
    quartiles = statistics.quantiles(timed, n=4) if len(timed) > 1 else [median] * 3
    return {
        "wall_s": [round(t, 3) for t in wall],
        "cpu_s": [round(t, 3) for t in cpu],
        "warmup": warmup,
        "median_s": round(median, 3),
        "spread_s": [round(min(timed), 3), round(max(timed), 3)],
        "iqr_s": round(quartiles[2] - quartiles[0], 3),
        "images_per_s": round(batch / median, 4),
        "median_s_per_image": round(median / batch, 3),
        "median_cpu_s": round(statistics.median(cpu[warmup:]), 3),
    }
