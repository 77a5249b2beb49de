"""Map a function over jobs in worker processes (or inline), with a progress bar."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def parallel_map(func: Callable[[Any], Any], jobs: Iterable[Any], workers: int = 1, desc: str = "", unit: str = "it", progress: bool = True, chunksize: int = 8) -> list[Any]:
    """``[func(job) for job in jobs]`` in order; ``workers > 1`` uses a spawn pool (safe with torch
    and threads); ``func`` must be importable at module level."""
    from tqdm import tqdm

    jobs = list(jobs)
    out: list[Any] = []
    with tqdm(total=len(jobs), desc=desc, unit=unit, disable=not progress) as bar:
        if workers > 1:
            from multiprocessing import get_context

            with get_context("spawn").Pool(workers) as pool:
                for item in pool.imap(func, jobs, chunksize=chunksize):
                    out.append(item)
                    bar.update()
        else:
            for job in jobs:
                out.append(func(job))
                bar.update()
    return out
