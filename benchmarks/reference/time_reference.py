"""Training seconds per iteration and peak memory of the reference implementations, timed as
``benchmarks/bench_train.py`` times paintscape (same JSON line, fresh process per measurement).

Needs the trees ``benchmarks/reference/setup.py`` prepares. Settings (equal to
``bench_train.py --equal-settings --no-ema``, see benchmarks/reference/README.md):

* ``spade`` — NVlabs/SPADE: 29 classes + don't-care, no instance map, ngf/ndf 64, spectral SPADE
  sync batch norm, ``normal`` upsampling, multiscale D (2 scales x 4 layers, spectral instance norm),
  hinge + feature matching 10 + VGG19 10, no VAE, Adam (0, 0.9) with TTUR. One iteration is
  ``Pix2PixTrainer.run_generator_one_step`` then ``run_discriminator_one_step`` (its D step runs
  G again under ``no_grad``), as its ``train.py`` does.
* ``tsit`` — EndlessSora/TSIT, task SIS: content stream only (its parser forces ``no_ss`` for SIS),
  no VAE, ngf/ndf 64, ``more`` upsampling, spectral FADE sync batch norm, spectral instance norm in
  the stream, multiscale D 2 x 4, hinge + feature matching 10 + VGG19 20 (its SIS scripts), Adam
  (0, 0.9) with TTUR. The same iteration as SPADE's.
* ``pix2pix`` — junyanz/pytorch-CycleGAN-and-pix2pix: 29-channel one-hot input, ``unet_256``
  (``unet_128`` at 384x512, as paintscape picks depth 7 there), batch norm, dropout, basic D
  (3 layers), vanilla GAN + 100 L1, Adam (0.5, 0.999). One iteration is ``optimize_parameters()``.

Inputs are a random label map and photo (fixed seed); weights are the reference's own init under
``torch.manual_seed(0)``; VGG19 is randomly initialised (same FLOPs).

    python benchmarks/reference/time_reference.py --tree ../reference-trees/tsit --family tsit --size 256 256
    python benchmarks/reference/time_reference.py --tree ../reference-trees/spade --family spade --repeats 2
    python benchmarks/reference/time_reference.py --tree ../reference-trees/spade --family spade --generate --size 384 512

Prints one JSON line per repeat; ``argv`` in it is the option list given to the reference's own
option parser.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: timing

from timing import timing_fields  # noqa: E402

NUM_CLASSES = 29


def reference_argv(family: str, size: tuple[int, int], batch: int, workdir: str) -> list[str]:
    """The options the reference's own parser gets (its ``train.py`` command line)."""
    h, w = size
    common = ["--name", "bench", "--checkpoints_dir", workdir, "--gpu_ids", "-1", "--batchSize", str(batch)]
    if family == "spade":
        return common + [
            "--dataset_mode", "custom", "--label_dir", workdir, "--image_dir", workdir,
            "--label_nc", str(NUM_CLASSES), "--contain_dontcare_label", "--no_instance",
            "--crop_size", str(w), "--load_size", str(w), "--aspect_ratio", str(w / h),
            "--ngf", "64", "--ndf", "64", "--norm_G", "spectralspadesyncbatch3x3", "--num_upsampling_layers", "normal",
            "--netD", "multiscale", "--num_D", "2", "--n_layers_D", "4", "--norm_D", "spectralinstance",
            "--gan_mode", "hinge", "--lambda_feat", "10", "--lambda_vgg", "10",
        ]  # fmt: skip
    if family == "tsit":
        return common + [
            "--task", "SIS", "--dataset_mode", "ade20k", "--croot", workdir, "--sroot", workdir,
            "--label_nc", str(NUM_CLASSES), "--contain_dontcare_label", "--no_instance",
            "--crop_size", str(w), "--load_size", str(w), "--aspect_ratio", str(w / h),
            "--ngf", "64", "--ndf", "64", "--norm_G", "spectralfadesyncbatch3x3", "--norm_S", "spectralinstance",
            "--num_upsampling_layers", "more", "--alpha", "1.0",
            "--netD", "multiscale", "--num_D", "2", "--n_layers_D", "4", "--norm_D", "spectralinstance",
            "--gan_mode", "hinge", "--lambda_feat", "10", "--lambda_vgg", "20",
        ]  # fmt: skip
    if family == "pix2pix":
        net = "unet_256" if h % 256 == 0 and w % 256 == 0 else "unet_128"
        return [
            "--dataroot", workdir, "--name", "bench", "--checkpoints_dir", workdir, "--gpu_ids", "-1",
            "--batch_size", str(batch), "--model", "pix2pix", "--direction", "AtoB",
            "--input_nc", str(NUM_CLASSES), "--output_nc", "3", "--netG", net, "--ngf", "64", "--ndf", "64",
            "--netD", "basic", "--n_layers_D", "3", "--norm", "batch", "--gan_mode", "vanilla", "--lambda_L1", "100",
            "--load_size", str(w), "--crop_size", str(w),
        ]  # fmt: skip
    raise SystemExit(f"unknown family {family!r}; use spade, tsit or pix2pix")


def _rss_gb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 2**20, 3)
    except OSError:
        pass
    return float("nan")


def _import_tree(tree: Path) -> None:
    if not (tree / "PREPARED.json").is_file():
        raise SystemExit(f"time_reference.py: {tree} is not a tree prepared by benchmarks/reference/setup.py")
    sys.path.insert(0, str(tree))
    os.chdir(tree)  # the references resolve some paths relative to their own folder


def build_iteration(family: str, argv: list[str], size: tuple[int, int], batch: int):
    """The reference's model and one training iteration as a function."""
    import torch

    gen = torch.Generator().manual_seed(0)
    label = torch.randint(0, NUM_CLASSES, (batch, 1, *size), generator=gen)
    image = torch.rand(batch, 3, *size, generator=gen) * 2 - 1
    sys.argv = ["train.py", *argv]
    torch.manual_seed(0)
    with contextlib.redirect_stdout(sys.stderr):  # the references print their options and networks
        if family in ("spade", "tsit"):
            from options.train_options import TrainOptions
            from trainers.pix2pix_trainer import Pix2PixTrainer

            opt = TrainOptions().parse()
            trainer = Pix2PixTrainer(opt)

            def iteration() -> None:
                data = {"label": label.clone(), "instance": torch.zeros(1), "image": image.clone(), "path": ["x"]}
                trainer.run_generator_one_step(data)
                trainer.run_discriminator_one_step(data)

            return iteration
        from models import create_model
        from options.train_options import TrainOptions

        opt = TrainOptions().parse()
        model = create_model(opt)
        model.setup(opt)
        one_hot = torch.zeros(batch, NUM_CLASSES, *size).scatter_(1, label, 1.0)
        model.set_input({"A": one_hot, "B": image, "A_paths": ["x"], "B_paths": ["x"]})

        def iteration() -> None:
            model.optimize_parameters()

        return iteration


def build_generation(family: str, argv: list[str], size: tuple[int, int], batch: int):
    """The reference generator's forward in eval mode under ``no_grad``, the one-hot built outside
    the timing (what ``bench_generate.py`` times through ``Painter.render``, one-hot included)."""
    import torch

    if family not in ("spade", "tsit"):
        raise SystemExit("time_reference.py: --generate is for spade and tsit")
    gen = torch.Generator().manual_seed(0)
    label = torch.randint(0, NUM_CLASSES, (batch, 1, *size), generator=gen)
    image = torch.rand(batch, 3, *size, generator=gen) * 2 - 1
    sys.argv = ["train.py", *argv]
    torch.manual_seed(0)
    with contextlib.redirect_stdout(sys.stderr):
        import models.networks as networks
        from options.train_options import TrainOptions

        opt = TrainOptions().parse()
        net = networks.define_G(opt).eval()
    one_hot = torch.zeros(batch, NUM_CLASSES + 1, *size).scatter_(1, label, 1.0)  # + the don't-care channel

    @torch.no_grad()
    def generate() -> None:
        net(one_hot) if family == "spade" else net(one_hot, image)

    return generate


def measure(args: argparse.Namespace) -> dict:
    import torch

    size = (args.size[0], args.size[1])
    tree = args.tree.resolve()
    prepared = json.loads((tree / "PREPARED.json").read_text()) if (tree / "PREPARED.json").is_file() else {}
    _import_tree(tree)
    with tempfile.TemporaryDirectory(prefix="paintscape-ref-") as workdir:
        argv = reference_argv(args.family, size, args.batch, workdir)
        build = build_generation if args.generate else build_iteration
        iteration = build(args.family, argv, size, args.batch)
        rss_setup = _rss_gb()
        wall, cpu = [], []
        for step in range(args.warmup + args.steps):
            t0, c0 = time.perf_counter(), time.process_time()
            with contextlib.redirect_stdout(sys.stderr):
                iteration()
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            print(f"step {step}: {wall[-1]:.2f} s wall, {cpu[-1]:.2f} s CPU", file=sys.stderr, flush=True)
    return {
        "impl": "reference",
        "repository": prepared.get("repository"),
        "commit": prepared.get("commit"),
        "family": args.family,
        "size": list(size),
        "batch": args.batch,
        "device": "cpu",
        "precision": "fp32",
        "ema": False,
        "mode": "generate" if args.generate else "train",
        "argv": [a if not a.startswith(tempfile.gettempdir()) else "TMP" for a in argv],
        "threads": torch.get_num_threads(),
        **timing_fields(wall, cpu, args.warmup, args.batch),
        "rss_after_setup_gb": rss_setup,
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "malloc_mmap_threshold": os.environ.get("MALLOC_MMAP_THRESHOLD_", "glibc default"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--tree", type=Path, required=True, help="a tree prepared by setup.py, e.g. ../reference-trees/tsit"
    )
    parser.add_argument("--family", required=True, choices=("spade", "tsit", "pix2pix"))
    parser.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=6, help="timed iterations (default 6)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations first (default 2)")
    parser.add_argument("--repeats", type=int, default=1, help="fresh subprocesses, one measurement each")
    parser.add_argument(
        "--generate", action="store_true",
        help="time the generator's eval forward instead of a training iteration (spade, tsit)",
    )  # fmt: skip
    parser.add_argument("--malloc-mmap-threshold-mb", type=int, default=None, help="as in bench_train.py")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args)), flush=True)
        return
    if not (args.tree / "PREPARED.json").is_file():
        raise SystemExit(f"time_reference.py: {args.tree} is not a tree prepared by benchmarks/reference/setup.py")
    child_args = [a if a != str(args.tree) else str(args.tree.resolve()) for a in sys.argv[1:]]
    for _ in range(args.repeats):
        env = dict(os.environ)
        if args.malloc_mmap_threshold_mb is not None:
            env["MALLOC_MMAP_THRESHOLD_"] = str(args.malloc_mmap_threshold_mb * 2**20)
        out = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child", *child_args],
            check=True, stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        print(out.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
