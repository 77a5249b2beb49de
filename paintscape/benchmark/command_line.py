"""``paintscape benchmark``: the command line of the quality benchmark (docs/quality.md).

Wiring only, like :mod:`paintscape.cli` (which adds this parser and dispatches to
:func:`run_benchmark_command`): arguments in, the package's functions called, results printed.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


def add_benchmark_parser(sub: argparse._SubParsersAction, parse_size: Callable[[str], tuple[int, int]]) -> None:
    """``paintscape benchmark ACTION``: its arguments (``parse_size`` is the CLI's WIDTHxHEIGHT parser)."""
    bench = sub.add_parser("benchmark", help="the synthetic quality benchmark: prepare a kit, run families at a CPU budget, validate, leaderboard")
    actions = bench.add_subparsers(dest="benchmark_command", metavar="ACTION", help="prepare | run | measure | validate | judge | leaderboard")
    actions.required = True
    p = actions.add_parser("prepare", help="draw the kit's sets, train its judge network, write its manifest")
    p.add_argument("kit", type=Path, help="folder of the kit to write")
    p.add_argument("--size", type=parse_size, default=(128, 128), help="WIDTHxHEIGHT (default 128x128)")
    p.add_argument("--train-count", type=int, default=2000, help="synthetic training scenes")
    p.add_argument("--heldout-count", type=int, default=300, help="held-out scenes the families are measured on")
    p.add_argument("--reference-count", type=int, default=300, help="real photos the distribution measures compare with")
    p.add_argument("--diversity-maps", type=int, default=16, help="label maps rendered several times for diversity")
    p.add_argument("--diversity-samples", type=int, default=4, help="renders per diversity map")
    p.add_argument("--judge-steps", type=int, default=800, help="training steps of the judge network")
    p.add_argument("--judge-crop", type=int, default=64, help="judge trains on random CROPxCROP windows (0: whole photos)")
    p.add_argument("--judge-widths", default="8,16,32,64,128", help="judge channels per encoder stage, comma-separated")
    p = actions.add_parser("run", help="train each config for the same CPU budget (round-robin) and measure it on the kit")
    p.add_argument("kit", type=Path, help="folder of a kit written by benchmark prepare")
    p.add_argument("configs", type=Path, nargs="+", help="family configs, e.g. configs/benchmark/pix2pix.yaml")
    p.add_argument("--cpu-seconds", type=float, required=True, help="process CPU seconds of training per family")
    p.add_argument("--seeds", default="0", help="training seeds, comma-separated: each family trains once per seed (default 0)")
    p.add_argument("--out", type=Path, required=True, help="OUT/<config name>/result.json per family")
    p = actions.add_parser("measure", help="measure a generator file or run directory on the kit (no training)")
    p.add_argument("kit", type=Path, help="folder of a kit written by benchmark prepare")
    p.add_argument("generator", type=Path, help="a generator file (.safetensors) or a run directory")
    p.add_argument("--out", type=Path, required=True, help="folder for result.json and samples/")
    p.add_argument("--name", default=None, help="row name (default: the generator's file or folder name)")
    p = actions.add_parser("validate", help="check each measure orders untrained < short < long training < real photos")
    p.add_argument("kit", type=Path, help="folder of a kit written by benchmark prepare")
    p.add_argument("--config", type=Path, default=Path("configs/benchmark/pix2pix.yaml"), help="the family config whose run is checkpointed")
    p.add_argument("--steps", default="0,100,500,2000", help="checkpoints, comma-separated (0 = untrained)")
    p.add_argument("--seeds", default="0", help="training seeds, comma-separated")
    p.add_argument("--out", type=Path, required=True, help="folder for the checkpoints, their measures and validation.md")
    p = actions.add_parser("judge", help="the judge's accuracy per time of day and recall per class on the real held-out photos")
    p.add_argument("kit", type=Path, help="folder of a kit written by benchmark prepare")
    p = actions.add_parser("leaderboard", help="a Markdown table and a gallery of results measured on one kit")
    p.add_argument("kit", type=Path, help="folder of a kit written by benchmark prepare")
    p.add_argument("results", type=Path, nargs="+", help="result.json files or their folders")
    p.add_argument("--markdown", type=Path, default=None, help="write the table here too")
    p.add_argument("--gallery", type=Path, default=None, help="write label | real | each family here (PNG)")
    for action in actions.choices.values():
        action.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: CPU time is then the work done)")


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"{text!r} must be comma-separated integers, e.g. 0,100,500") from None


def run_benchmark_command(args: argparse.Namespace) -> int:
    """Run one ``paintscape benchmark`` action; user errors are raised as ValueError/OSError (one line, exit 2)."""
    import torch

    from paintscape.benchmark import kit as kits

    if args.threads < 1:
        raise ValueError(f"--threads must be at least 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    action = args.benchmark_command
    if action == "prepare":
        from tqdm import tqdm

        spec = kits.KitSpec(size=args.size, train_count=args.train_count, heldout_count=args.heldout_count, reference_count=args.reference_count,
                            diversity_maps=args.diversity_maps, diversity_samples=args.diversity_samples, judge_steps=args.judge_steps, judge_crop=args.judge_crop or None,
                            judge_widths=_int_list(args.judge_widths))  # fmt: skip
        bars: list = []  # opened at the judge's first step, after the sets' own progress bars

        def judge_progress(step: int, total: int, loss: float) -> None:
            if not bars:
                bars.append(tqdm(total=total, desc="train judge", unit="step"))
            bars[0].update(1)
            bars[0].set_postfix(loss=f"{loss:.3f}", refresh=False)

        try:
            manifest = kits.prepare_kit(args.kit, spec, judge_progress=judge_progress)
        finally:
            for bar in bars:
                bar.close()
        judge = manifest["judge"]["heldout"]
        print(f"kit {manifest['kit_id']} in {args.kit}: judge mask accuracy {judge['mask_accuracy']:.3f}, mIoU {judge['mean_iou']:.3f} "
              f"on {judge['images']} real held-out photos; floor FID {manifest['floor']['fid']:.2f}")  # fmt: skip
        return 0
    from paintscape.benchmark.leaderboard import leaderboard_markdown

    kit = kits.Kit.load(args.kit)
    if action == "run":
        from paintscape.benchmark.runner import run_benchmark as run_families

        configs = {path.stem: path for path in args.configs}
        if len(configs) != len(args.configs):
            raise ValueError("two configs share a file name; the name is the leaderboard row")
        seeds = _int_list(args.seeds)
        command_line = (f"paintscape benchmark run {args.kit} {' '.join(map(str, args.configs))} --cpu-seconds {args.cpu_seconds:g} "
                        f"--seeds {','.join(map(str, seeds))} --out {args.out}")  # fmt: skip
        results = run_families(kit, configs, args.cpu_seconds, args.out, seeds=seeds, command=command_line)
        print(leaderboard_markdown(list(results.values())))
    elif action == "measure":
        from paintscape.benchmark.runner import measure_result

        result = measure_result(kit, args.generator, args.out, name=args.name)
        print(leaderboard_markdown([result]))
    elif action == "validate":
        from paintscape.benchmark.validate import validate

        result = validate(kit, args.config, args.out, steps=_int_list(args.steps), seeds=_int_list(args.seeds))
        print((args.out / "validation.md").read_text())
        kept = [m for m, check in result["checks"].items() if check["resolved"]]
        print(f"measures that order the checkpoints beyond their noise: {', '.join(kept) or 'none'}")
    elif action == "judge":
        from paintscape.benchmark.judge_report import judge_report, judge_report_markdown

        print(judge_report_markdown(judge_report(kit)))
    elif action == "leaderboard":
        from paintscape.benchmark.leaderboard import gallery, read_results
        from paintscape.io_atomic import atomic_save_image, atomic_write_text

        results = read_results(args.results)
        table = leaderboard_markdown(results)
        print(table)
        if args.markdown:
            atomic_write_text(args.markdown, table)
        if args.gallery:
            atomic_save_image(args.gallery, gallery(kit, results))
            print(f"gallery: {args.gallery}")
    return 0
