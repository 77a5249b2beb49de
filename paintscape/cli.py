"""The ``paintscape`` command: wiring only; each subcommand calls into the library.

A user error prints one readable line and exits with status 2 (1 for data problems found by
check-data); ``--verbose`` shows the traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap
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


class _HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the text already says it or there is none."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        shown = action.option_strings or action.nargs in ("?", "*")
        if shown and action.default not in (None, False, [], argparse.SUPPRESS) and "default" not in text:
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    """argparse with defaults in --help and "did you mean" for a mistyped command or choice."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # type: ignore[override]
        import re

        from paintscape.suggest import did_you_mean

        match = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if match:
            message += did_you_mean(match.group(1), re.findall(r"'([^']*)'", match.group(2)))
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="paintscape", description="Semantic label maps to landscape photographs.")
    parser.add_argument("--version", action="version", version=f"paintscape {__version__}")
    parser.add_argument("--verbose", action="store_true", help="show tracebacks and debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    _data_commands(sub)
    _training_commands(sub)
    _inference_commands(sub)
    _evaluation_commands(sub)
    _app_commands(sub)
    from paintscape.benchmark.command_line import add_benchmark_parser

    add_benchmark_parser(sub, parse_size=parse_size)
    return parser


def _data_commands(sub: argparse._SubParsersAction) -> None:
    """The commands that read and write datasets."""
    p = sub.add_parser("synth", help="write procedural landscape scenes in the dataset format")
    p.add_argument("out", type=Path, help="dataset folder to create (imgs/ and labels/)")
    p.add_argument("--count", type=int, default=100, help="number of scenes")
    p.add_argument("--size", type=parse_size, default=(384, 512), help="WIDTHxHEIGHT (default 512x384)")
    p.add_argument("--seed", type=int, default=0, help="scene i is drawn from seed + i")
    p.add_argument("--workers", type=int, default=1, help="processes")
    p.add_argument("--sheet", type=Path, default=None, help="also write a contact sheet PNG (label | photo)")

    p = sub.add_parser(
        "check-data", help="read every pair and report problems; exit 1 on any",
        description="Read every photo/label pair of a dataset and report each problem with its file; exit 1 on any. "
        "Label ids are checked against the dataset's class table: ROOT/classes.yaml (its own classes: id, name, colour; "
        "or builtin: landscape29 | ade20k150 | cocostuff182), else the 29 landscape classes; 255 means ignore.",
    )  # fmt: skip
    p.add_argument("root", type=Path, help="dataset folder with imgs/ and labels/ (and an optional classes.yaml)")
    p.add_argument("--subset", type=Path, default=None, help="only the names listed in this file")

    p = sub.add_parser("convert-labels", help="map ADE20K or COCO-Stuff label maps onto the 29 landscape classes or their own table")
    p.add_argument("src", type=Path, help="folder of the dataset's label maps (PNG, as the dataset stores its ids)")
    p.add_argument("dst", type=Path, help="folder for the converted label maps (8-bit PNG, same names)")
    p.add_argument("--from", dest="source", choices=("ade20k", "coco-stuff"), required=True,
                   help="ade20k: ADE20K-150 files (0 = unlabelled, 1..150); coco-stuff: COCO-Stuff-182 files (id - 1, 255 = unlabelled)")
    p.add_argument("--to", dest="target", choices=("landscape29", "ade20k150", "cocostuff182"), default="landscape29",
                   help="the class table to write ids of: landscape29 (the track's classes), or the source's own built-in table "
                        "(ade20k150 for --from ade20k: 1..150 -> 0..149, 0 -> 255; cocostuff182 for --from coco-stuff: checked, "
                        "kept); a dataset of such maps names it in classes.yaml (builtin: ade20k150)")

    p = sub.add_parser("curate", help="find bad pairs and write Selection I / II subset files (report's curation)")
    p.add_argument("root", type=Path, help="dataset folder with imgs/ and labels/")
    p.add_argument("--out", type=Path, required=True, help="folder for selection1.txt, selection2.txt, findings.json, removed.html")
    p.add_argument("--segmenter", type=Path, default=None, help="trained segmenter folder: judge label/photo agreement with it")
    p.add_argument("--config", type=Path, default=None, help="thresholds YAML (default: built-in, see paintscape/configs/curate.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="threshold override, e.g. --set keep_per_group=3 (repeatable)")
    p.add_argument("--workers", type=int, default=1, help="processes")


def _training_commands(sub: argparse._SubParsersAction) -> None:
    """The training and what it produces."""
    p = sub.add_parser("train", help="train a model from a config (torchrun for several GPUs)",
                       epilog="examples: paintscape train pix2pix_tiny --data data/synthetic --steps 200 --out runs/p;  "
                              "paintscape train --resume runs/p")
    p.add_argument("config", nargs="?", default=None, help="a packaged config's name (paintscape configs lists them) or a YAML file; "
                   "omitted with --resume RUN: the run's own")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.phases[0].epochs=40 data.root=data/x")
    p.add_argument("--out", type=Path, default=None, help="run directory (checkpoints, logs, samples, report.html); required unless --resume RUN")
    p.add_argument("--resume", nargs="?", const=True, default=None, metavar="RUN",
                   help="continue a run from its latest checkpoint: --resume RUN alone uses the run's saved config and overrides "
                        "(further overrides apply on top); bare --resume continues --out")
    p.add_argument("--data", type=Path, default=None, help="dataset folder (shortcut for data.root=DIR)")
    p.add_argument("--steps", type=int, default=None, help="length of a one-phase schedule in steps (train.phases[0].steps)")
    p.add_argument("--epochs", type=int, default=None, help="length of a one-phase schedule in epochs (train.phases[0].epochs)")
    p.add_argument("--batch-size", type=int, default=None, help="every phase's batch size (train.phases[K].batch_size)")
    p.add_argument("--skip-check", action="store_true", help="do not read every pair before training")

    p = sub.add_parser("distill", help="train a narrower student of a run's generator from the run (fast previews)")
    p.add_argument("run", type=Path, help="the teacher's run directory")
    p.add_argument("overrides", nargs="*", help="dotted overrides of the student's config, e.g. train.phases=[{batch_size: 4, lr: 0.0002, steps: 2000}]")
    p.add_argument("--out", type=Path, required=True, help="the student's run directory")
    p.add_argument("--width", type=float, default=0.25, help="channel widths x this (default 0.25)")
    p.add_argument("--resume", action="store_true", help="continue the student run in --out from its latest checkpoint")
    p.add_argument("--skip-check", action="store_true", help="do not read every pair before training")

    sub.add_parser("configs", help="list the configs that ship with paintscape (train and inspect take their names)")

    p = sub.add_parser("report", help="write RUN/report.html: loss curves, evaluation metrics and sample grids over time")
    p.add_argument("run", type=Path, help="a training run directory (paintscape train --out)")

    p = sub.add_parser("inspect", help="parameter counts, output sizes and GFLOPs of a config's networks")
    p.add_argument("config", help="a packaged config's name or a YAML file")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. data.size=256x256")

    p = sub.add_parser("average", help="average the weights of a run's best evaluated checkpoints")
    p.add_argument("run", type=Path, help="a training run directory with an evaluation history")
    p.add_argument("--top", type=int, default=3, help="how many of the best checkpoints")
    p.add_argument("--by", default=None, help="the metric ranking them (default: the one the run selected by, eval.select_by)")
    p.add_argument("--out", type=Path, default=None, help="default: RUN/averaged.safetensors")


def _inference_commands(sub: argparse._SubParsersAction) -> None:
    """The generators at work."""
    p = sub.add_parser("generate", help="label maps -> photos with a trained generator")
    p.add_argument("checkpoint", type=Path, help="run directory or .safetensors generator")
    p.add_argument("labels", type=Path, help="folder of label maps (8/16-bit grayscale or palette PNG)")
    p.add_argument("out", type=Path, help="output folder")
    p.add_argument("--style", type=Path, default=None, help="JSON {label file: reference photo}")
    p.add_argument("--style-root", type=Path, default=None, help="folder of the reference photos (default: beside the JSON)")
    p.add_argument("--samples", type=int, default=1, help="photos per label map (sample_K/ folders when > 1)")
    p.add_argument("--seed", type=int, default=0, help="label map i, sample k draws its latent from seed + ...; same seed, same photo")
    p.add_argument("--batch-size", type=int, default=8, help="label maps per forward pass")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--precision", choices=("fp32", "bf16"), default=None, help="default: bf16 on GPU, fp32 on CPU")
    p.add_argument("--archive", type=Path, default=None, help="also write a zip of the photos (a submission)")
    p.add_argument("--format", choices=("jpg", "png"), default="jpg", help="photo file format (png: lossless)")
    p.add_argument("--gallery", action="store_true", help="also write OUT/gallery.html: label | photo (| style) per map")
    _sampling_arguments(p)

    p = sub.add_parser("export", help="export a generator to ONNX")
    p.add_argument("checkpoint", type=Path, help="run directory or .safetensors generator")
    p.add_argument("out", type=Path, help="e.g. generator.onnx")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset version")

    p = sub.add_parser("convert-reference", help="turn a released reference generator (.pth) into a paintscape generator file",
                       formatter_class=_PresetHelpFormatter)
    p.add_argument("preset", choices=_Presets(), metavar="PRESET", help="the reference model (listed by --help)")
    p.add_argument("checkpoint", type=Path, help="the reference latest_net_G.pth")
    p.add_argument("--out", type=Path, required=True, help="e.g. models/spade_ade20k.safetensors")
    p.add_argument("--size", type=parse_size, default=(384, 512), help="WIDTHxHEIGHT to render at (default 512x384)")
    p.add_argument("--encoder", type=Path, default=None, help="the reference latest_net_E.pth of a VAE model")
    p.add_argument("--no-encoder", action="store_true", help="convert a VAE model without its encoder (style photos are then refused)")
    p.add_argument("--num-upsampling-layers", choices=("normal", "more", "most"), default=None,
                   help="spade/tsit: the reference's --num_upsampling_layers, when the weights cannot tell it (printed when assumed)")

    p = sub.add_parser("paint", help="web page to paint label maps and see the landscape (on 127.0.0.1)")
    p.add_argument("checkpoint", type=Path, help="run directory or .safetensors generator")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port to listen on")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--precision", choices=("fp32", "bf16"), default=None, help="default: bf16 on GPU, fp32 on CPU")
    p.add_argument("--preview", type=Path, default=None,
                   help="a fast model for the live renders while painting (default: the run's newest student of paintscape distill)")
    p.add_argument("--no-preview", action="store_true", help="render everything with the full model")
    _sampling_arguments(p)
    p.add_argument("--live-steps", type=int, default=None, help="diffusion: sampling steps of live renders while painting (default: a quarter of --steps, at least 2)")

    p = sub.add_parser("priors", help="diffusion runs: compute SCP-Diff's noise priors from the run's training data")
    p.add_argument("run", type=Path, help="a controlnet run directory (writes RUN/priors.safetensors)")
    p.add_argument("--data", type=Path, default=None, help="dataset folder (default: the run config's data.root)")
    p.add_argument("--out", type=Path, default=None, help="default: RUN/priors.safetensors")
    p.add_argument("--batch-size", type=int, default=8, help="training pairs encoded at once")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")


class _LazyChoices:
    """Choices read from a torch-importing module only when argparse needs them (the option is given or
    its help shown): building the parser must not import torch for commands that never use it."""

    def __init__(self, load: Callable[[], tuple[str, ...]]) -> None:
        self._load = load

    def __contains__(self, name: object) -> bool:
        return name in self._load()

    def __iter__(self):
        return iter(self._load())


def _schedulers() -> tuple[str, ...]:
    from paintscape.models.diffusion.controlnet import SCHEDULERS

    return SCHEDULERS


def _prior_kinds() -> tuple[str, ...]:
    from paintscape.models.diffusion.priors import PRIOR_KINDS

    return PRIOR_KINDS


def _sampling_arguments(p: argparse.ArgumentParser) -> None:
    """Diffusion models' sampling options (one-pass generators refuse them)."""
    group = p.add_argument_group("diffusion sampling (controlnet runs; default: the run's settings)")
    group.add_argument("--steps", type=int, default=None, help="denoising steps")
    group.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale on the label map (1: none)")
    group.add_argument("--sampler", choices=_LazyChoices(_schedulers), default=None, help="diffusers scheduler")
    group.add_argument("--prior", choices=_LazyChoices(_prior_kinds), default=None, help="start from SCP-Diff's noise prior (needs `paintscape priors RUN`)")
    group.add_argument("--strength", type=float, default=None, help="with --prior: the fraction of the steps run, in (0, 1] (default 0.8)")
    group.add_argument("--priors", type=Path, default=None, help="priors file (default: RUN/priors.safetensors)")


def _set_sampling(painter, args: argparse.Namespace) -> None:
    painter.set_sampling(
        num_inference_steps=args.steps, guidance_scale=args.guidance, scheduler=args.sampler, prior=args.prior,
        prior_strength=args.strength,
    )  # fmt: skip


class _Presets:
    """convert-reference's choices, read from the converter registry only when that command is parsed:
    registering the converters imports torch, which no other command should wait for just to parse."""

    @staticmethod
    def entries() -> list:
        import paintscape.reference  # noqa: F401  (registers the converters: the presets)
        from paintscape.registry import CONVERTERS

        return CONVERTERS.entries()

    def __contains__(self, name: object) -> bool:
        return name in [e.name for e in self.entries()]

    def __iter__(self):
        return iter([e.name for e in self.entries()])


class _PresetHelpFormatter(argparse.HelpFormatter):
    """Lists each preset with its description in ``convert-reference --help``."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if isinstance(action.choices, _Presets):
            return "; ".join(f"{e.name}: {e['description']}" for e in action.choices.entries()).replace("%", "%%")
        return action.help

    def _split_lines(self, text: str, width: int) -> list[str]:
        # preset names hold hyphens (spade-ade20k): wrap at spaces only, so a name stays whole
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


def _evaluation_commands(sub: argparse._SubParsersAction) -> None:
    """The measuring photos."""
    p = sub.add_parser("evaluate", help="FID, KID, mask accuracy, mIoU, aesthetic and the track's score")
    p.add_argument("generated", type=Path, help="folder of generated photos (same stems as the label maps)")
    p.add_argument("--labels", type=Path, required=True, help="the label maps they were generated from")
    p.add_argument("--real", type=Path, default=None, help="real photos for FID/KID (e.g. the training imgs/)")
    p.add_argument("--targets", type=Path, default=None, help="the real photo of each label map, same names (L1, colour error)")
    p.add_argument("--segmenter", type=Path, default=None, help="a `paintscape train-segmenter` folder, or an OASIS run whose discriminator segments (mask accuracy, mIoU)")
    p.add_argument("--inception", type=Path, default=None, help="pt_inception-2015-12-05-6726825d.pth (FID, KID)")
    p.add_argument("--aesthetic", type=Path, default=None, help="LAION aesthetic MLP .pth (with --aesthetic-clip)")
    p.add_argument("--aesthetic-clip", type=Path, default=None, help="local CLIP ViT-L/14 folder for the aesthetic MLP")
    p.add_argument("--out", type=Path, default=None, help="report folder (default: GENERATED_report beside the evaluated folder)")
    p.add_argument("--cache", type=Path, default=None, help="folder for cached real-image statistics")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--batch-size", type=int, default=16, help="photos per forward pass")
    p.add_argument("--fid-method", choices=("sqrtm", "features"), default="sqrtm", help="sqrtm: pytorch-fid's; features: exact and faster below 2048 images")

    p = sub.add_parser("train-segmenter", help="train a SegFormer on a dataset's photos -> labels")
    p.add_argument("data", type=Path, help="dataset folder with imgs/ and labels/")
    p.add_argument("--out", type=Path, required=True, help="folder for the trained segmenter")
    p.add_argument("--variant", default="b0", help="SegFormer variant b0..b5 (or tiny)")
    p.add_argument("--image-size", type=parse_size, default=None, help="WIDTHxHEIGHT to train at (default: the first photo's size)")
    p.add_argument("--steps", type=int, default=None, help="optimiser steps (default 2000 unless --epochs)")
    p.add_argument("--epochs", type=int, default=None, help="passes over the data instead of --steps")
    p.add_argument("--batch-size", type=int, default=8, help="pairs per step")
    p.add_argument("--lr", type=float, default=6e-5, help="AdamW learning rate")
    p.add_argument("--pretrained", type=Path, default=None, help="local nvidia/mit-bN backbone folder")
    p.add_argument("--subset", type=Path, default=None, help="only the names listed in this file")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--workers", type=int, default=0, help="data-loading processes (0: in the training process)")

    p = sub.add_parser("select", help="per label map, keep the candidate photo a per-image metric rates best")
    p.add_argument("candidates", type=Path, nargs="+", help="folders of generated photos (or one with sample_K/ subfolders)")
    p.add_argument("--labels", type=Path, required=True, help="the label maps the candidates were generated from")
    p.add_argument("--segmenter", type=Path, default=None, help="a `paintscape train-segmenter` folder (for mask_accuracy)")
    p.add_argument("--metric", default="mask_accuracy", help="a per-image metric (default mask_accuracy: the segmenter's)")
    p.add_argument("--out", type=Path, required=True, help="folder for the kept photos, choices.csv and choices.md")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")


def _app_commands(sub: argparse._SubParsersAction) -> None:
    """The whole loop in one command."""
    p = sub.add_parser("quickstart", help="synthetic data -> train a small model on CPU -> gallery (no download)")
    p.add_argument("--out", type=Path, default=Path("runs/quickstart"), help="folder for the data, runs and gallery")
    p.add_argument("--minutes", type=float, default=6.0, help="generator training time budget")
    p.add_argument("--segmenter-steps", type=int, default=300, help="steps of the SegFormer that judges the photos")
    p.add_argument("--train-count", type=int, default=400, help="synthetic training scenes")
    p.add_argument("--test-count", type=int, default=16, help="held-out synthetic scenes")
    p.add_argument("--seed", type=int, default=0, help="seed of the scenes and the training")
    p.add_argument("--family", choices=("pix2pix", "spade", "oasis"), default="pix2pix", help="model family (pix2pix learns fastest on a CPU; oasis: several photos per map)")

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


@command("convert-labels")
def run_convert_labels(args: argparse.Namespace) -> int:
    from paintscape.data.convert_labels import convert_label_folder

    written = convert_label_folder(args.src, args.dst, args.source, args.target, progress=True)
    if args.target == "landscape29":
        print(f"wrote {len(written)} landscape label maps to {args.dst}")
    else:
        print(f"wrote {len(written)} {args.target} label maps to {args.dst}; the dataset's classes.yaml names the table: "
              f"builtin: {args.target}")
    return 0


@command("curate")
def run_curate(args: argparse.Namespace) -> int:
    from paintscape.curation.config import load_curation_config
    from paintscape.curation.pipeline import curate

    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    config = load_curation_config(args.config, args.overrides)
    result = curate(args.root, args.out, config, segmenter=args.segmenter, workers=args.workers, progress=True)
    total = len(result.names)
    print(f"{args.root}: {total} pairs; Selection I keeps {len(result.selection1)}, Selection II keeps {len(result.selection2)}")
    for kind, count in result.findings["summary"]["flag_counts"].items():
        if count:
            print(f"  {kind}: {count}")
    print(f"wrote {args.out}/selection1.txt, selection2.txt, findings.json, removed.html, contact_sheet.png")
    return 0


@command("train")
def run_train(args: argparse.Namespace) -> int:
    from paintscape.train.launch import Shortcuts, training_config
    from paintscape.train.run_page import write_run_page
    from paintscape.train.trainer import train

    # --resume RUN: the run's folder; a config given first is read as RUN when only --resume is given
    resume_dir = None if args.resume in (None, True) else Path(args.resume)
    if args.resume is True and args.out is None and args.config and not args.overrides:
        resume_dir, args.config = Path(args.config), None  # "train --resume RUN": argparse gave RUN to config
    out = args.out or resume_dir
    if out is None:
        raise ValueError("give --out RUN_DIR for a new run (or --resume RUN to continue one)")
    shortcuts = Shortcuts(data=args.data, steps=args.steps, epochs=args.epochs, batch_size=args.batch_size)
    config = training_config(args.config, args.overrides, shortcuts, resume_dir=out if args.resume else None)
    result = train(config, out, resume=args.resume is not None, check_data=not args.skip_check)
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, rank 0 alone reports
        return 0
    if result.steps == result.first_step:
        print(f"{out} has already finished: step {result.steps} of {result.total_steps}; nothing to train "
              f"(to train longer, resume with a longer schedule, e.g. --steps N for a one-phase config)")
    else:
        trained = result.steps - result.first_step
        since = f" (from step {result.first_step})" if result.first_step else ""
        print(f"trained {trained} steps{since}, now at step {result.steps} of {result.total_steps} ({result.images} images) "
              f"in {result.seconds / 60:.1f} min; latest checkpoint in {out}")
    print(f"run page: {write_run_page(out)}")
    return 0


@command("configs")
def run_configs(args: argparse.Namespace) -> int:
    from paintscape.config_files import config_description, packaged_configs

    configs = packaged_configs()
    width = max(map(len, configs))
    for name, path in configs.items():
        print(f"{name:<{width}}  {config_description(path)}")
    print(f"(paintscape train NAME ...; the files are in {next(iter(configs.values())).parent})")
    return 0


@command("report")
def run_report(args: argparse.Namespace) -> int:
    from paintscape.train.run_page import write_run_page

    print(f"run page: {write_run_page(args.run)}")
    return 0


@command("distill")
def run_distill(args: argparse.Namespace) -> int:
    from paintscape.train.distill import record_student, student_config
    from paintscape.train.trainer import train

    config = student_config(args.run, args.width, args.overrides)
    rank0 = int(os.environ.get("RANK", "0")) == 0
    if rank0:
        record_student(args.run, args.out)  # the teacher's paint page then previews with it
    result = train(config, args.out, resume=args.resume, check_data=not args.skip_check)
    if result.steps and rank0:
        print(f"distilled {result.steps} steps ({result.images} images) in {result.seconds / 60:.1f} min; student in {args.out}")
    return 0


@command("inspect")
def run_inspect(args: argparse.Namespace) -> int:
    from paintscape.config import load_config
    from paintscape.train.summary import format_table, summarize

    config = load_config(args.config, args.overrides)
    print(format_table(summarize(config), config.data.size))
    return 0


@command("generate")
def run_generate(args: argparse.Namespace) -> int:
    from paintscape.data.dataset import read_style_map
    from paintscape.inference.generate import generate_folder, write_archive
    from paintscape.inference.painter import Painter

    device = args.device
    painter = Painter.from_checkpoint(args.checkpoint, device=device, priors=args.priors)
    painter.precision = args.precision or ("bf16" if painter.device.type == "cuda" else "fp32")
    _set_sampling(painter, args)
    styles = read_style_map(args.style, args.style_root) if args.style else None
    written = generate_folder(painter, args.labels, args.out, styles, samples=args.samples, seed=args.seed, batch_size=args.batch_size,
                              suffix=f".{args.format}")
    print(f"wrote {len(written)} photos at {painter.size[1]}x{painter.size[0]} to {args.out}")
    if args.gallery:
        from paintscape.data.io import LABEL_SUFFIXES, list_stems
        from paintscape.inference.gallery import write_gallery

        print(f"gallery: {write_gallery(args.out, written, list_stems(args.labels, LABEL_SUFFIXES), styles, painter.table)}")
    if args.archive:
        write_archive(written, args.out, args.archive)
        print(f"archive: {args.archive}")
    return 0


@command("export")
def run_export(args: argparse.Namespace) -> int:
    from paintscape.inference.export import export_onnx

    info = export_onnx(args.checkpoint, args.out, opset=args.opset)
    print(f"wrote {args.out}: inputs {', '.join(info['inputs'])}; output image (1, 3, {info['size'][0]}, {info['size'][1]})")
    return 0


@command("average")
def run_average(args: argparse.Namespace) -> int:
    from paintscape.train.averaging import average_generators, best_checkpoints

    paths = best_checkpoints(args.run, args.top, by=args.by)
    out = args.out or args.run / "averaged.safetensors"
    average_generators(paths, out)
    print(f"averaged {len(paths)} checkpoints ({', '.join(p.name for p in paths)}) into {out}")
    return 0


@command("quickstart")
def run_quickstart(args: argparse.Namespace) -> int:
    from paintscape.quickstart import quickstart

    summary = quickstart(args.out, minutes=args.minutes, train_count=args.train_count, test_count=args.test_count, seed=args.seed, family=args.family, segmenter_steps=args.segmenter_steps)
    print(summary)
    return 0


@command("paint")
def run_paint(args: argparse.Namespace) -> int:
    from paintscape.inference.painter import Painter
    from paintscape.train.distill import find_student
    from paintscape.web.server import PaintServer

    painter = Painter.from_checkpoint(args.checkpoint, device=args.device, priors=args.priors)
    painter.precision = args.precision or ("bf16" if painter.device.type == "cuda" else "fp32")
    _set_sampling(painter, args)
    preview = None
    preview_path = None if args.no_preview else (args.preview or find_student(args.checkpoint))
    if preview_path is not None:
        preview = Painter.from_checkpoint(preview_path, device=args.device)
        preview.precision = painter.precision
    server = PaintServer(painter, host=args.host, port=args.port, live_steps=args.live_steps, preview=preview)
    print(f"paintscape paint: {server.url}  ({painter.size[1]}x{painter.size[0]}, {painter.device}); Ctrl+C stops")
    if preview_path is not None:
        print(f"live previews while painting: {preview_path}; Render: the full model")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


@command("priors")
def run_priors(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from paintscape.devices import resolve_device
    from paintscape.inference.priors import compute_run_priors

    def progress(batches):
        return tqdm(batches, desc="priors", unit="batch", dynamic_ncols=True)

    priors, path = compute_run_priors(
        args.run, data_root=args.data, out=args.out, batch_size=args.batch_size, device=resolve_device(args.device),
        progress=progress,
    )  # fmt: skip
    h, w = priors.latent_size
    rare = int((priors.class_count < 10).sum())
    print(f"wrote {path}: noise priors over {priors.images} training images ({priors.channels}x{h}x{w} latents, {rare} of "
          f"{priors.num_classes} classes with under 10 latent cells); use them with generate --prior spatial|class|joint")
    return 0


@command("evaluate")
def run_evaluate(args: argparse.Namespace) -> int:
    from paintscape.devices import resolve_device
    from paintscape.evaluate.report import default_report_folder, evaluate_folder, nothing_computed, write_report

    if (args.aesthetic is None) != (args.aesthetic_clip is None):
        raise ValueError("the aesthetic score needs both --aesthetic FILE (the MLP) and --aesthetic-clip DIR (CLIP ViT-L/14)")

    result = evaluate_folder(
        args.generated, args.labels, real_dir=args.real, segmenter_dir=args.segmenter, inception_weights=args.inception,
        aesthetic_clip_dir=args.aesthetic_clip, aesthetic_mlp=args.aesthetic, device=resolve_device(args.device),
        batch_size=args.batch_size, cache_dir=args.cache, fid_method=args.fid_method, targets_dir=args.targets, progress=True,
    )
    nothing_computed(result)
    out = args.out or default_report_folder(args.generated)
    json_path, md_path = write_report(result, out)
    print(md_path.read_text())
    print(f"report: {json_path} and {md_path}")
    return 0


@command("train-segmenter")
def run_train_segmenter(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from paintscape.data.dataset import PairedFolder, paired_names
    from paintscape.data.io import read_label_raw
    from paintscape.devices import resolve_device
    from paintscape.evaluate.segmenter import train_segmenter

    size = args.image_size
    if size is None:
        first = paired_names(args.data, args.subset)[0]
        size = read_label_raw(args.data / "labels" / f"{first}.png").shape
    dataset = PairedFolder(args.data, size, subset=args.subset, train=True)
    steps = args.steps if args.steps or args.epochs else 2000
    total = steps or args.epochs * max(1, len(dataset) // args.batch_size)
    bar = tqdm(total=total, desc="train-segmenter", unit="step")

    def progress(step: int, total_steps: int, loss: float) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}", refresh=False)

    train_segmenter(dataset, args.out, size=args.variant, steps=steps, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                    device=resolve_device(args.device), pretrained_backbone=args.pretrained, num_workers=args.workers, progress=progress,
                    class_names=dataset.table.names)
    bar.close()
    print(f"segmenter saved to {args.out} ({len(dataset)} pairs at {size[1]}x{size[0]})")
    return 0


@command("select")
def run_select(args: argparse.Namespace) -> int:
    from paintscape.devices import resolve_device
    from paintscape.inference.ensemble import select_best

    choices = select_best(args.candidates, args.labels, args.out, args.segmenter, metric=args.metric, device=resolve_device(args.device),
                          progress=True)
    print((args.out / "choices.md").read_text())
    print(f"kept {len(choices)} photos in {args.out}; per-map scores in {args.out / 'choices.csv'}")
    return 0


@command("convert-reference")
def run_convert_reference(args: argparse.Namespace) -> int:
    from paintscape.reference.released import convert_reference

    conversion = convert_reference(
        args.preset, args.checkpoint, args.out, image_size=args.size, encoder=args.encoder, no_encoder=args.no_encoder,
        num_upsampling_layers=args.num_upsampling_layers,
    )  # fmt: skip
    for note in conversion.notes:
        print(f"assumed {note}")
    print(f"wrote {args.out} ({conversion.spec.family}, {args.size[1]}x{args.size[0]}); use it with paintscape generate / paint")
    return 0


@command("benchmark")
def run_benchmark(args: argparse.Namespace) -> int:
    from paintscape.benchmark.command_line import run_benchmark_command

    return run_benchmark_command(args)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # Overrides may come after options too (train spade --out runs/x data.root=d): argparse leaves them over.
    if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
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
