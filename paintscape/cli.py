"""The ``paintscape`` command: wiring only; each subcommand calls into the library.

A user error prints one readable line and exits with status 2 (1 for data problems found by
check-data); ``--verbose`` shows the traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from paintscape import __version__

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str) -> Callable[[Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]:
    def decorator(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        COMMANDS[name] = func
        return func

    return decorator


def parse_size(text: str) -> tuple[int, int]:
    """``512x384`` (width x height, as people say it) -> ``(384, 512)`` (H, W)."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} must look like WIDTHxHEIGHT, e.g. 512x384") from None
    if width <= 0 or height <= 0:
        raise argparse.ArgumentTypeError(f"size {text!r} must be positive")
    return height, width


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paintscape", description="Semantic label maps to landscape photographs.")
    parser.add_argument("--version", action="version", version=f"paintscape {__version__}")
    parser.add_argument("--verbose", action="store_true", help="show tracebacks and debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("synth", help="write procedural landscape scenes in the dataset format")
    p.add_argument("out", type=Path, help="dataset folder to create (imgs/ and labels/)")
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--size", type=parse_size, default=(384, 512), help="WIDTHxHEIGHT (default 512x384)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    p.add_argument("--sheet", type=Path, default=None, help="also write a contact sheet PNG (label | photo)")

    p = sub.add_parser("check-data", help="read every pair and report problems; exit 1 on any")
    p.add_argument("root", type=Path, help="dataset folder with imgs/ and labels/")
    p.add_argument("--subset", type=Path, default=None, help="only the names listed in this file")

    return parser


@command("synth")
def run_synth(args: argparse.Namespace) -> int:
    from paintscape.data.synthetic import write_dataset

    if args.count <= 0:
        raise ValueError(f"--count must be positive, got {args.count}")
    names = write_dataset(args.out, args.count, size=args.size, seed=args.seed, workers=args.workers, progress=True)
    print(f"wrote {len(names)} scenes to {args.out}/imgs and {args.out}/labels")
    if args.sheet:
        from paintscape.data.contact_sheet import dataset_sheet
        from paintscape.io_atomic import atomic_save_image

        atomic_save_image(args.sheet, dataset_sheet(args.out, names[:8]))
        print(f"contact sheet: {args.sheet}")
    return 0


@command("check-data")
def run_check_data(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from paintscape.data.check import check_dataset

    report = check_dataset(args.root, args.subset, progress=lambda names: tqdm(names, desc="checking", unit="pair", leave=False))
    print(f"{args.root}: {report.pairs} good pairs, {len(report.problems)} problems")
    if report.pairs:
        print(report.class_table())
    for problem in report.problems:
        print(f"problem: {problem}")
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, RuntimeError) as exc:
        if args.verbose:
            raise
        print(f"paintscape {args.command}: error: {exc}", file=sys.stderr)
        print("(run with --verbose for the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
