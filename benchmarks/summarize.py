"""Tables for docs/benchmarks.md from the JSON lines of ``bench_train.py`` and
``reference/time_reference.py`` (or ``reference/bench_controlnet_step.py``): one row per measurement,
in the order measured, then one row per setting with the medians over its rounds and the ratios to
the reference of the same case and size (rate: the reference's s/it over ours, from wall time and
from CPU time; memory: our peak RSS over the reference's). A case is the family, and for the
controlnet family also the base and which parts recompute activations in backward (gradient
checkpointing), which both sides record and which must match for a ratio. With one thread per process (``OMP_NUM_THREADS=1``) the CPU-time rate is the one that
holds on a busy machine (benchmarks/reference/README.md).

    python benchmarks/summarize.py tsit-256.jsonl
    python benchmarks/summarize.py tsit-256.jsonl spade-256.jsonl --family tsit --size 256 256

Reads files (or stdin with ``-``); lines that are not JSON objects (markers, notes) are skipped, and
so are generator-forward lines (``"mode": "generate"``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterable

#: The fields every training line of bench_train.py and time_reference.py has.
REQUIRED = ("impl", "family", "size", "median_s", "spread_s", "iqr_s", "median_cpu_s", "peak_rss_gb", "loadavg")


class SummaryError(ValueError):
    """A measurement line lacks a field; the message names the file and line."""


def label(record: dict) -> str:
    """The setting a measurement ran with, e.g. ``paintscape fp32 optimizer_in_backward=true``."""
    if record["impl"] == "reference":
        return "reference"
    parts = ["paintscape", record.get("precision", "fp32")]
    if record.get("ema"):
        parts.append("EMA")
    if record.get("channels_last"):
        parts.append("channels_last")
    if record.get("compile"):
        parts.append("compile")
    parts += [s.removeprefix("train.") for s in record.get("set", [])]
    if record.get("malloc_mmap_threshold", "glibc default") != "glibc default":
        parts.append(f"mmap threshold {int(record['malloc_mmap_threshold']) >> 20} MiB")
    return " ".join(parts)


def read(paths: Iterable[str]) -> list[dict]:
    """The training measurements in the files, in order."""
    records = []
    for path in paths:
        with sys.stdin if path == "-" else open(path) as handle:
            lines = handle.read().splitlines()
        for number, line in enumerate(lines, 1):
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(record, dict) or "impl" not in record or record.get("mode", "train") != "train":
                continue
            missing = [key for key in REQUIRED if key not in record]
            if missing:
                raise SummaryError(f"{path}:{number}: a measurement without {', '.join(missing)}")
            records.append(record)
    return records


def _size(record: dict) -> str:
    return "x".join(str(s) for s in record["size"])


def case(record: dict) -> str:
    """The family, with the settings both sides record where they can differ: ``controlnet (sd15 base,
    checkpointing controlnet+unet)``."""
    details = []
    if "base" in record:
        details.append(f"{record['base']} base")
    if "gradient_checkpointing" in record:
        details.append("checkpointing " + ("+".join(record["gradient_checkpointing"]) or "none"))
    return record["family"] + (f" ({', '.join(details)})" if details else "")


def summary(records: list[dict]) -> list[dict]:
    """Per (case, size, setting), in first-measured order: rounds, median s/it, CPU s/it and peak
    RSS over the rounds, and the ratios to the reference (None without a reference row)."""
    groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for r in records:
        groups[(case(r), _size(r), label(r))].append(r)
    rows = []
    for (family, size, name), group in groups.items():
        row = {
            "family": family,  # the case
            "size": size,
            "setting": name,
            "rounds": len(group),
            "median_s": statistics.median(r["median_s"] for r in group),
            "median_cpu_s": statistics.median(r["median_cpu_s"] for r in group),
            "peak_rss_gb": statistics.median(r["peak_rss_gb"] for r in group),
            "rate_vs_reference": None,
            "cpu_rate_vs_reference": None,
            "memory_vs_reference": None,
        }
        reference = groups.get((family, size, "reference"))
        if reference and name != "reference":
            row["rate_vs_reference"] = statistics.median(r["median_s"] for r in reference) / row["median_s"]
            row["cpu_rate_vs_reference"] = statistics.median(r["median_cpu_s"] for r in reference) / row["median_cpu_s"]
            row["memory_vs_reference"] = row["peak_rss_gb"] / statistics.median(r["peak_rss_gb"] for r in reference)
        rows.append(row)
    return rows


def markdown(records: list[dict]) -> str:
    lines = [
        "| run | size | s/it (median) | timed iterations: min–max, IQR | CPU s/it | peak RSS | load (1 min) |",
        "|---|---|---:|---|---:|---:|---:|",
    ]
    for r in records:
        lines.append(
            f"| {case(r)} {label(r)} | {_size(r)} | {r['median_s']:.2f} | {r['spread_s'][0]:.2f}–{r['spread_s'][1]:.2f}, "
            f"{r['iqr_s']:.2f} | {r['median_cpu_s']:.2f} | {r['peak_rss_gb']:.2f} GB | {r['loadavg'][0]:.1f} |"
        )
    lines += [
        "",
        "| setting | size | rounds | s/it | CPU s/it | peak RSS | rate vs reference (wall, CPU) | memory vs reference |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in summary(records):
        rate = (
            ""
            if row["rate_vs_reference"] is None
            else (f"{row['rate_vs_reference']:.2f}x, {row['cpu_rate_vs_reference']:.2f}x")
        )
        memory = "" if row["memory_vs_reference"] is None else f"{row['memory_vs_reference']:.2f}x"
        lines.append(
            f"| {row['family']} {row['setting']} | {row['size']} | {row['rounds']} | {row['median_s']:.2f} | "
            f"{row['median_cpu_s']:.2f} | {row['peak_rss_gb']:.2f} GB | {rate} | {memory} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", help="JSON-lines files, - for stdin")
    parser.add_argument("--family", help="only this family")
    parser.add_argument("--size", type=int, nargs=2, metavar=("HEIGHT", "WIDTH"), help="only this size")
    args = parser.parse_args(argv)
    try:
        records = read(args.files)
    except (OSError, SummaryError) as exc:
        print(f"summarize.py: {exc}", file=sys.stderr)
        return 2
    if args.family:
        records = [r for r in records if r["family"] == args.family]
    if args.size:
        records = [r for r in records if list(r["size"]) == list(args.size)]
    if not records:
        print("summarize.py: no training measurements in " + ", ".join(args.files), file=sys.stderr)
        return 2
    print(markdown(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
