"""The benchmark scripts that are not timings themselves: the reference-tree setup (its edits and its
refusals), the summary tables, and that both sides of the training benchmark are given the same
settings. (The timings are scripts, run by hand: benchmarks/reference/README.md.)"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from paintscape.config import load_config

REPO = Path(__file__).resolve().parents[1]


def _script(path: str):
    spec = importlib.util.spec_from_file_location(Path(path).stem + "_under_test", REPO / path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


setup = _script("benchmarks/reference/setup.py")
summarize = _script("benchmarks/summarize.py")
time_reference = _script("benchmarks/reference/time_reference.py")
bench_train = _script("benchmarks/bench_train.py")


# ---- setup.py -------------------------------------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def _checkouts(tmp_path: Path) -> dict[str, Path]:
    """Stand-ins for the four checkouts: the files setup.py looks at, each holding the line it edits."""
    networks = {
        "models/networks/architecture.py": "vgg_pretrained_features = torchvision.models.vgg19(pretrained=True).features\n",
        "models/networks/loss.py": "        self.vgg = VGG19().cuda()\n",
        "util/util.py": "import dill as pickle\n",
        ".git/HEAD": "ref: refs/heads/master\n",
        "datasets/big.bin": "x",
    }
    return {
        "spade": _write(tmp_path / "SPADE", networks),
        "tsit": _write(
            tmp_path / "TSIT",
            {
                **networks,
                "models/networks/stream.py": "class Stream: ...\n",
                "models/pix2pix_model.py": "            beta1, beta2 = 0, 0.9\n",
            },
        ),  # fmt: skip
        "pix2pix": _write(tmp_path / "pix2pix", {"models/pix2pix_model.py": "class Pix2PixModel: ...\n"}),
        "sync-bn": _write(tmp_path / "SyncBN", {"sync_batchnorm/batchnorm.py": "class SynchronizedBatchNorm2d: ...\n"}),
    }


def _argv(out: Path, sources: dict[str, Path], *names: str) -> list[str]:
    argv = ["--out", str(out)]
    for name in names:
        argv += [f"--{name}", str(sources[name])]
    return argv


def test_setup_copies_the_checkouts_with_the_cpu_edits(tmp_path) -> None:
    sources = _checkouts(tmp_path)
    out = tmp_path / "trees"
    assert setup.main(_argv(out, sources, "spade", "tsit", "pix2pix", "sync-bn")) == 0
    for name in ("spade", "tsit"):
        tree = out / name
        assert "vgg19(weights=None)" in (tree / "models/networks/architecture.py").read_text()
        assert "self.vgg = VGG19()\n" in (tree / "models/networks/loss.py").read_text()
        assert (tree / "util/util.py").read_text() == "import pickle\n"
        assert (tree / "models/networks/sync_batchnorm/batchnorm.py").is_file()
        assert not (tree / ".git").exists() and not (tree / "datasets").exists()
        record = json.loads((tree / "PREPARED.json").read_text())
        assert record["repository"] == setup.TREES[name][1]
        assert len(record["edits"]) == len(setup.EDITS[name])
    assert "beta1, beta2 = 0.0, 0.9" in (out / "tsit/models/pix2pix_model.py").read_text()
    assert (out / "pix2pix/models/pix2pix_model.py").read_text() == "class Pix2PixModel: ...\n"
    assert not (out / "pix2pix/models/networks").exists()  # pix2pix needs no sync batch norm
    # the checkouts themselves are untouched, and a second run gives the same trees
    assert (sources["spade"] / "util/util.py").read_text() == "import dill as pickle\n"
    (out / "spade/stray.py").write_text("left over")
    assert setup.main(_argv(out, sources, "spade", "sync-bn")) == 0
    assert not (out / "spade/stray.py").exists()
    assert (out / "spade/util/util.py").read_text() == "import pickle\n"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing", "--spade {root}/nowhere: no such directory"),
        (
            "not a checkout",
            "--tsit {root}/SPADE: not a checkout of EndlessSora/TSIT (it has no models/networks/stream.py)",
        ),
        ("no sync-bn", "--spade and --tsit need --sync-bn"),
        ("nothing", "nothing to prepare"),
        ("other version", "util/util.py: expected the line 'import dill as pickle' once, found it 2 times"),
    ],
)
def test_setup_refuses_with_one_line(tmp_path, capsys, case, expected) -> None:
    sources = _checkouts(tmp_path)
    out = tmp_path / "trees"
    argv = {
        "missing": ["--out", str(out), "--spade", str(tmp_path / "nowhere"), "--sync-bn", str(sources["sync-bn"])],
        "not a checkout": ["--out", str(out), "--tsit", str(sources["spade"]), "--sync-bn", str(sources["sync-bn"])],
        "no sync-bn": _argv(out, sources, "spade"),
        "nothing": ["--out", str(out)],
        "other version": _argv(out, sources, "spade", "sync-bn"),
    }[case]
    if case == "other version":
        (sources["spade"] / "util/util.py").write_text("import dill as pickle\nimport dill as pickle\n")
    assert setup.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("setup.py: ")
    assert expected.format(root=tmp_path) in err


# ---- summarize.py ---------------------------------------------------------------------------------


def _record(impl: str, median: float, rss: float, **extra) -> dict:
    return {
        "impl": impl, "family": "tsit", "size": [256, 256], "median_s": median, "spread_s": [median - 1, median + 1],
        "iqr_s": 0.5, "median_cpu_s": median * 0.9, "peak_rss_gb": rss, "loadavg": [2.0, 2.0, 2.0], **extra,
    }  # fmt: skip


def test_summary_takes_medians_over_rounds_and_ratios_to_the_reference(tmp_path, capsys) -> None:
    lean = {"precision": "fp32", "ema": False, "set": ["train.optimizer_in_backward=true"]}
    lines = [
        '{"marker": "round 1"}',
        json.dumps(_record("reference", 9.0, 7.0)),
        json.dumps(_record("paintscape", 6.0, 4.0, **lean)),
        "step 0: 1.0 s wall",  # stray output: skipped
        json.dumps(_record("reference", 11.0, 7.4)),
        json.dumps(_record("paintscape", 4.0, 4.2, **lean)),
        json.dumps(_record("paintscape", 8.0, 6.0, precision="fp32", ema=False, set=[])),
        json.dumps({**_record("reference", 1.0, 1.0), "mode": "generate"}),  # not a training line
    ]
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(lines) + "\n")
    rows = {row["setting"]: row for row in summarize.summary(summarize.read([str(path)]))}
    assert set(rows) == {"reference", "paintscape fp32 optimizer_in_backward=true", "paintscape fp32"}
    lean_row = rows["paintscape fp32 optimizer_in_backward=true"]
    assert lean_row["rounds"] == 2 and lean_row["median_s"] == 5.0 and lean_row["peak_rss_gb"] == pytest.approx(4.1)
    assert lean_row["rate_vs_reference"] == pytest.approx(10.0 / 5.0)
    assert lean_row["cpu_rate_vs_reference"] == pytest.approx(9.0 / 4.5)
    assert lean_row["memory_vs_reference"] == pytest.approx(4.1 / 7.2)
    assert rows["paintscape fp32"]["rate_vs_reference"] == pytest.approx(10.0 / 8.0)
    assert rows["reference"]["rate_vs_reference"] is None
    assert summarize.main([str(path)]) == 0
    table = capsys.readouterr().out
    assert (
        "| tsit paintscape fp32 optimizer_in_backward=true | 256x256 | 2 | 5.00 | 4.50 | 4.10 GB | 2.00x, 2.00x | 0.57x |"
        in table
    )
    assert summarize.main([str(path), "--family", "spade"]) == 2
    assert capsys.readouterr().err.startswith("summarize.py: no training measurements in ")


def test_summary_names_the_line_without_a_field(tmp_path, capsys) -> None:
    path = tmp_path / "r.jsonl"
    record = _record("reference", 9.0, 7.0)
    del record["peak_rss_gb"]
    path.write_text('{"marker": 1}\n' + json.dumps(record) + "\n")
    assert summarize.main([str(path)]) == 2
    assert capsys.readouterr().err == f"summarize.py: {path}:2: a measurement without peak_rss_gb\n"
    assert summarize.main([str(tmp_path / "absent.jsonl")]) == 2
    assert "absent.jsonl" in capsys.readouterr().err


# ---- both sides of bench_train get the same settings ------------------------------------------------


def _option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


@pytest.mark.parametrize("family", ["spade", "tsit", "pix2pix"])
@pytest.mark.parametrize("size", [(256, 256), (384, 512)])
def test_equal_settings_match_the_reference_command_line(family, size) -> None:
    """What bench_train --equal-settings builds is what time_reference.py asks the reference for: widths,
    discriminator, loss weights, Adam betas, upsampling, label channels, VGG input."""
    spec = bench_train.FAMILIES[family]
    config = load_config(REPO / spec.config, spec.overrides(size, 1, equal=True) + ["data.root=unused"])
    argv = time_reference.reference_argv(family, size, 1, "/tmp/work")
    g, d = config.model.generator.args, config.model.discriminator.args
    weights = config.loss.weights
    assert tuple(config.data.size) == size
    assert str(g["base_channels"]) == _option(argv, "--ngf") and str(d["base_channels"]) == _option(argv, "--ndf")
    if family == "pix2pix":
        assert _option(argv, "--netG") == ("unet_256" if size == (256, 256) else "unet_128")
        assert float(_option(argv, "--lambda_L1")) == weights["l1"] and _option(argv, "--gan_mode") == "vanilla"
        assert str(d["num_layers"]) == _option(argv, "--n_layers_D") and g["dropout"] == 0.5
        assert tuple(config.train.betas) == (0.5, 0.999)  # the reference's --beta1 0.5 and Adam's default 0.999
        assert "--beta1" not in argv
        return
    assert "--contain_dontcare_label" in argv and d["extra_label_channels"] == 1
    assert _option(argv, "--gan_mode") == "hinge" and config.loss.vgg_normalization == "none"
    assert float(_option(argv, "--lambda_feat")) == weights["feat"]
    assert float(_option(argv, "--lambda_vgg")) == weights["vgg"]
    assert str(d["num_scales"]) == _option(argv, "--num_D") and str(d["num_layers"]) == _option(argv, "--n_layers_D")
    assert g["num_upsampling_layers"] == _option(argv, "--num_upsampling_layers")
    assert g["use_vae"] is False and "--use_vae" not in argv
    assert tuple(config.train.betas) == (0.0, 0.9) and config.train.ttur  # both references' defaults without --no_TTUR
    assert "--no_TTUR" not in argv
    if family == "tsit":
        assert g["input_channels"] == 30 and g["style_stream"] is False and g["spectral"] is True
        assert _option(argv, "--task") == "SIS"  # content stream only
    else:
        assert g["extra_label_channels"] == 1


def test_bench_train_times_the_step_and_profiles_one_more(monkeypatch, capsys) -> None:
    """One measurement in this process at a narrow width: per-iteration times (the divergence guard
    included, as Trainer.fit runs it), peak memory, and with --profile the operator shares, which are
    convolutions for the most part."""
    monkeypatch.setattr(
        sys,
        "argv",
        ["bench_train.py", "--family", "pix2pix", "--size", "64", "64", "--steps", "2", "--warmup", "1", "--no-ema",
         "--profile", "--set", "model.generator.args.base_channels=8", "--set", "model.discriminator.args.base_channels=8"],
    )  # fmt: skip
    args = bench_train.parse_args()
    guard_calls = []
    import paintscape.train.divergence as divergence

    real_guard = divergence.check_weights_finite
    monkeypatch.setattr(divergence, "check_weights_finite", lambda *a: guard_calls.append(a[2]) or real_guard(*a))
    result = bench_train.measure(args)
    assert result["family"] == "pix2pix" and result["size"] == [64, 64] and not result["ema"]
    assert len(result["wall_s"]) == len(result["cpu_s"]) == 3 and result["warmup"] == 1
    assert guard_calls == [0, 1, 2, 3]  # every timed and untimed iteration, and the profiled one
    assert result["peak_rss_gb"] > 0 and set(result["optimizer_state_gb"]) == {"G", "D"}
    profile = result["profile"]
    assert 0.3 < profile["convolution_share"] <= 1.0 and profile["self_cpu_s"] > 0
    assert all(0.01 <= share <= 1.0 for share in profile["ops"].values())
    assert "Self CPU" in capsys.readouterr().err  # torch.profiler's table


def test_saved_tensors_accounts_for_the_generator_and_discriminator(monkeypatch, capsys) -> None:
    """benchmarks/saved_tensors.py builds the family's networks from the config and counts what one
    forward keeps for backward, per network and per module."""
    saved_tensors = _script("benchmarks/saved_tensors.py")
    monkeypatch.setattr(sys, "argv", ["saved_tensors.py", "--family", "pix2pix", "--size", "64", "64", "--json"])
    saved_tensors.main()
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["family"] == "pix2pix" and line["size"] == [64, 64]
    assert line["saved_mb"]["G"] > 1.0 and line["saved_mb"]["D"] > 0.5
    assert sum(line["by_module_mb"]["G"].values()) == pytest.approx(line["saved_mb"]["G"], abs=0.1 * len(line["by_module_mb"]["G"]))


def test_diffusion_benchmark_times_the_tiny_family(monkeypatch, capsys) -> None:
    """benchmarks/bench_diffusion.py --config tiny: a denoising evaluation, a decode, their sum per image
    and a whole sample through the registry-built generator."""
    pytest.importorskip("diffusers")
    bench_diffusion = _script("benchmarks/bench_diffusion.py")
    import torch

    argv = ["bench_diffusion.py", "--config", "tiny", "--size", "32", "32", "--runs", "1", "--warmup", "0", "--steps", "2", "--threads", "1"]
    monkeypatch.setattr(sys, "argv", argv)
    threads = torch.get_num_threads()
    try:
        bench_diffusion.main()
    finally:
        torch.set_num_threads(threads)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    parts = {line.get("part", "") for line in lines}
    assert "per image (sum)" in parts and any(part.startswith("whole sample") for part in parts)
    assert lines[0]["unet_parameters"] > 0 and lines[0]["controlnet_parameters"] > 0
    assert all(line.get("s", line.get("median_s")) > 0 for line in lines if "part" in line)


# ---- bench_precision_cpu.py ----------------------------------------------------------------------------


def test_precision_benchmark_prints_a_row_per_layer_and_precision(monkeypatch, capsys) -> None:
    precision = _script("benchmarks/bench_precision_cpu.py")
    import torch

    monkeypatch.setattr(sys, "argv", ["bench_precision_cpu.py", "--runs", "1", "--size", "8"])
    threads = torch.get_num_threads()
    try:
        precision.main()
    finally:
        torch.set_num_threads(threads)  # the script runs on one thread; later tests keep theirs
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["cpu_capability"]
    rows = {(r["layer"], r["precision"]) for r in lines[1:]}
    assert rows == {(layer, p) for layer in ("conv 4x4/2", "transposed conv 4x4/2") for p in ("fp32", "bf16")}
    assert all(r["cpu_s_median"] > 0 for r in lines[1:])


# ---- the controlnet pair: bench_train.py --family controlnet and reference/bench_controlnet_step.py ------------

bench_controlnet_step = _script("benchmarks/reference/bench_controlnet_step.py")


def _run_json(*argv: str) -> dict:
    """One benchmark process on one thread (two threads on a busy 2-core machine wait on each other)."""
    import os
    import subprocess

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, *argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _well_formed(line: dict, impl: str) -> None:
    assert line["impl"] == impl and line["family"] == "controlnet" and line["base"] == "tiny"
    assert line["size"] == [64, 64] and line["batch"] == 1 and line["threads"] == 1 and line["precision"] == "fp32"
    assert len(line["wall_s"]) == len(line["cpu_s"]) == 2 and line["warmup"] == 1
    assert line["median_s"] == line["wall_s"][1] > 0 and line["spread_s"] == [line["median_s"]] * 2
    assert line["median_cpu_s"] == line["cpu_s"][1] > 0
    assert 0.3 < line["rss_after_setup_gb"] <= line["peak_rss_gb"] < 3
    assert all(k in line for k in summarize.REQUIRED)


@pytest.mark.slow
def test_controlnet_pair_times_one_step_on_each_side() -> None:
    """Both sides at the tiny base, 64x64, one warm-up and one timed step, equal settings: each prints a
    well-formed line, the two lines are about the same networks, and summarize.py pairs them."""
    common = ["--base", "tiny", "--size", "64", "64", "--steps", "1", "--warmup", "1"]
    ours = _run_json("benchmarks/bench_train.py", "--family", "controlnet", "--equal-settings", *common)
    reference = _run_json(
        "benchmarks/reference/bench_controlnet_step.py", "--gradient-checkpointing", "both", "--weight-decay", "0",
        *common,
    )  # fmt: skip

    _well_formed(ours, "paintscape")
    # controlnet.yaml's recipe: no EMA (the default here, not only with --no-ema), the ControlNet and the UNet
    # recompute activations in backward; the tiny base's UNet and the ControlNet made from it
    assert ours["ema"] is False and ours["equal_settings"] is True
    assert ours["gradient_checkpointing"] == ["controlnet", "unet"]
    assert ours["unet_parameters"] == 1_645_572 and ours["controlnet_parameters"] == 1_105_360
    assert ours["optimizer_state_gb"]["G"] == pytest.approx(2 * 4 * 1_105_360 / 2**30, abs=1e-3)  # Adam's two moments

    _well_formed(reference, "reference")
    assert reference["ema"] is False and reference["mode"] == "train"
    assert reference["gradient_checkpointing"] == ours["gradient_checkpointing"]
    for name in ("unet_parameters", "controlnet_parameters"):  # the same networks on both sides
        assert reference[name] == ours[name]
    assert reference["optimizer"] == "AdamW(lr=5e-6, betas=(0.9, 0.999), weight_decay=0.0, eps=1e-8)"
    rows = {row["setting"]: row for row in summarize.summary([ours, reference])}
    assert set(rows) == {"reference", "paintscape fp32"}
    assert rows["paintscape fp32"]["family"] == "controlnet (tiny base, checkpointing controlnet+unet)"
    assert rows["paintscape fp32"]["memory_vs_reference"] == pytest.approx(ours["peak_rss_gb"] / reference["peak_rss_gb"])


@pytest.mark.slow
def test_controlnet_reference_step_in_mixed_precision_with_the_scripts_checkpointing_flag() -> None:
    """--precision bf16 (the frozen modules in bf16, the ControlNet under autocast) and --gradient-checkpointing
    controlnet (train_controlnet.py's --gradient_checkpointing), with the script's weight decay."""
    line = _run_json(
        "benchmarks/reference/bench_controlnet_step.py", "--base", "tiny", "--size", "64", "64", "--steps", "1",
        "--warmup", "0", "--precision", "bf16", "--gradient-checkpointing", "controlnet",
    )  # fmt: skip
    assert line["precision"] == "bf16" and line["gradient_checkpointing"] == ["controlnet"]
    assert line["optimizer"] == "AdamW(lr=5e-6, betas=(0.9, 0.999), weight_decay=0.01, eps=1e-8)"
    assert len(line["wall_s"]) == 1 and line["median_s"] > 0 and line["peak_rss_gb"] > 0.3
    assert summarize.case(line) == "controlnet (tiny base, checkpointing controlnet)"


def test_controlnet_summary_pairs_only_equal_checkpointing() -> None:
    def line(impl: str, median: float, parts: list[str], **extra) -> dict:
        return {**_record(impl, median, 9.0), "family": "controlnet", "base": "sd15", "gradient_checkpointing": parts,
                **extra}  # fmt: skip

    both, none = ["controlnet", "unet"], []
    records = [
        line("reference", 12.0, both),
        line("paintscape", 10.0, both, precision="fp32", ema=False, set=[]),
        line("reference", 8.0, none),
        line("paintscape", 4.0, none, precision="fp32", ema=False, set=["model.generator.args.gradient_checkpointing=false"]),
    ]  # fmt: skip
    rows = {(row["family"], row["setting"]): row for row in summarize.summary(records)}
    assert rows[("controlnet (sd15 base, checkpointing controlnet+unet)", "paintscape fp32")]["rate_vs_reference"] == 1.2
    unchecked = ("controlnet (sd15 base, checkpointing none)", "paintscape fp32 model.generator.args.gradient_checkpointing=false")
    assert rows[unchecked]["rate_vs_reference"] == 2.0


def test_controlnet_equal_settings_match_the_reference_defaults() -> None:
    """bench_train --family controlnet --equal-settings and the reference script's defaults (train_controlnet.py's):
    Adam's betas, gradient clipping at 1, no label dropout, no EMA; checkpointing as the recipe has it ("both")."""
    spec = bench_train.FAMILIES["controlnet"]
    config = load_config(REPO / spec.config, spec.overrides((256, 256), 1, equal=True) + ["data.root=unused"])
    reference = bench_controlnet_step.parse([])
    assert tuple(config.train.betas) == (0.9, 0.999) and config.train.max_grad_norm == reference.max_grad_norm == 1.0
    assert config.loss.label_dropout == 0.0 and spec.ema_half_life_images == 0 and config.train.ema_half_life_images == 0
    assert config.model.generator.args["gradient_checkpointing"] is True
    assert bench_controlnet_step.CHECKPOINTING["both"] == ("controlnet", "unet")
    assert (reference.base, reference.size, reference.batch, reference.precision) == ("sd15", (256, 256), 1, "fp32")
    assert reference.gradient_checkpointing == "none" and reference.weight_decay == 1e-2  # the script's own defaults


def test_controlnet_base_folder_holds_the_modules_the_reference_builds(tmp_path, monkeypatch) -> None:
    """What bench_train writes and paintscape's load_base reads is what the reference script builds in memory."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import torch

    sd15_base = _script("benchmarks/sd15_base.py")
    from paintscape.models.diffusion.components import load_base

    sd15_base.write_base(tmp_path / "base", "tiny")
    assert sorted(p.name for p in (tmp_path / "base").iterdir()) == ["scheduler", "text_encoder", "tokenizer", "unet", "vae"]
    loaded = load_base(tmp_path / "base", prompt=sd15_base.PROMPT, dtype=torch.float32)
    for part, module in (("unet", loaded.unet), ("vae", loaded.vae)):
        built = sd15_base.build_module("tiny", part).state_dict()
        assert module.state_dict().keys() == built.keys()
        assert all(torch.equal(module.state_dict()[k], built[k]) for k in built), part
    assert loaded.prompt_embedding.shape == (1, sd15_base.PROMPT_TOKENS, 32)
    assert loaded.schedule_config["beta_schedule"] == "scaled_linear" and loaded.schedule_config["num_train_timesteps"] == 1000
    assert sd15_base.BASES["sd15"].unet["block_out_channels"] == [320, 640, 1280, 1280]
