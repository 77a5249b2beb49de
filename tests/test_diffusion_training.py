"""The diffusion backend end to end, as a user runs it: ``paintscape train configs/controlnet_tiny.yaml``
(the ``diffusion`` objective) resumes bit-exactly, ``paintscape priors RUN`` writes the noise priors
of the run's training data, ``generate --prior/--steps/--guidance/--strength/--sampler`` renders,
``evaluate`` scores it, the ``Painter`` reports progress and the paint page serves it. Tiny sizes
(16x32 photos, the tiny test base, two sampling steps) keep each test to seconds."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from generator_files import TINY_ARGS, tiny_generator_file
from PIL import Image
from safetensors.torch import load_file
from test_web import browser  # noqa: F401  (the fixture: a headless chromium)

from paintscape.checkpoint import CheckpointManager, load_training_state, resolve_generator_path
from paintscape.cli import main
from paintscape.data.dataset import PairedFolder
from paintscape.data.synthetic import write_dataset
from paintscape.inference.painter import NoisePriorsMissing, Painter
from paintscape.models.diffusion.priors import NoisePriors, labels_at_latent_size
from paintscape.train.trainer import train
from paintscape.web.server import PaintServer

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "paintscape" / "configs" / "controlnet_tiny.yaml"
SIZE = (16, 32)
ARGS = {k: v for k, v in TINY_ARGS["controlnet"].items() if k != "image_size"}
COUNT = 6


def overrides(data: Path, steps: int = 2) -> list[str]:
    return [
        f"data.root={data}",
        f"data.size=[{SIZE[0]}, {SIZE[1]}]",
        f"model.generator.args={json.dumps(ARGS)}",
        f"train.phases=[{{batch_size: 2, lr: 0.001, steps: {steps}}}]",
        "train.log_every=1",
        "train.image_every=0",
        "train.checkpoint_every=1",
        "train.ema_half_life_images=4",
    ]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("diffusion_data") / "data"
    write_dataset(str(root), COUNT, size=SIZE, seed=5, progress=False)
    return root


@pytest.fixture(scope="module")
def run(data, tmp_path_factory):
    """A run trained 1 step, then resumed for the 2nd through the CLI; and its uninterrupted twin."""
    from paintscape.config import load_config

    base = tmp_path_factory.mktemp("diffusion_runs")
    config = load_config(CONFIG, overrides(data))
    straight = train(config, base / "straight", progress=False)
    assert straight.steps == 2
    train(config, base / "resumed", progress=False, stop_after=1)
    code = main(["train", str(CONFIG), *overrides(data), "--out", str(base / "resumed"), "--resume", "--skip-check"])
    assert code == 0
    return base


@pytest.mark.slow
def test_train_then_resume_is_bit_exact(run):
    a = load_training_state(CheckpointManager(run / "straight").latest_state_path())
    b = load_training_state(CheckpointManager(run / "resumed").latest_state_path())
    assert a["step"] == b["step"] == 2 and set(a["networks"]) == {"generator"}
    for part in ("networks", "ema"):
        flat_a = a[part]["generator"] if part == "networks" else a[part]
        flat_b = b[part]["generator"] if part == "networks" else b[part]
        assert flat_a.keys() == flat_b.keys()
        assert all(torch.equal(flat_a[k], flat_b[k]) for k in flat_a), part
    state_a, state_b = a["optimizers"]["generator"]["state"], b["optimizers"]["generator"]["state"]
    assert all(torch.equal(state_a[i]["exp_avg"], state_b[i]["exp_avg"]) for i in state_a)
    # the generator files (the EMA generator) agree too, and they hold every trained part
    file_a = load_file(resolve_generator_path(run / "straight"))
    file_b = load_file(resolve_generator_path(run / "resumed"))
    assert all(torch.equal(file_a[k], file_b[k]) for k in file_a)
    assert {k.split(".")[0] for k in file_a} == {"controlnet", "unet", "vae", "prompt_embedding"}
    log = [json.loads(line) for line in (run / "straight" / "log.jsonl").read_text().splitlines()]
    assert {"G/diffusion", "G/vae_rec", "G/vae_kl"} <= set(log[-1])


def test_priors_command_writes_the_statistics_of_the_training_latents(run, data, capsys):
    assert main(["priors", str(run / "resumed"), "--batch-size", "4", "--device", "cpu"]) == 0
    assert "noise priors over 6 training images" in capsys.readouterr().out
    priors = NoisePriors.load(run / "resumed" / "priors.safetensors")
    painter = Painter.from_checkpoint(run / "resumed", device="cpu")
    assert painter.priors is not None and painter.priors.images == COUNT
    # independent computation: every training latent at once, spatial and per-class moments
    items = [PairedFolder(data, SIZE, train=False)[i] for i in range(COUNT)]
    with torch.no_grad():
        latents = painter.generator.encode_photos(torch.stack([i["image"] for i in items])).double()
    labels = labels_at_latent_size(torch.stack([i["label"] for i in items]), tuple(latents.shape[-2:]))
    assert priors.latent_size == tuple(latents.shape[-2:]) == (8, 16)
    torch.testing.assert_close(priors.spatial_mean.double(), latents.mean(0), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(priors.spatial_var.double(), latents.var(0, unbiased=False), atol=1e-5, rtol=1e-5)
    sky = int(torch.bincount(labels.flatten()).argmax())
    cells = latents.permute(1, 0, 2, 3)[:, labels == sky]  # (C, cells of that class)
    assert int(priors.class_count[sky]) == cells.shape[1]
    torch.testing.assert_close(priors.class_mean[sky].double(), cells.mean(1), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(priors.class_var[sky].double(), cells.var(1, unbiased=False), atol=1e-5, rtol=1e-5)


def test_generate_with_prior_steps_guidance_strength_and_sampler(run, data, tmp_path, capsys):
    assert main(["priors", str(run / "straight"), "--device", "cpu"]) == 0
    labels = data / "labels"
    common = ["--device", "cpu", "--steps", "2", "--seed", "3"]
    assert main(["generate", str(run / "straight"), str(labels), str(tmp_path / "plain"), *common]) == 0
    assert main(["generate", str(run / "straight"), str(labels), str(tmp_path / "joint"), *common, "--prior", "joint",
                 "--strength", "1.0", "--guidance", "2.0", "--sampler", "ddim", "--samples", "2",
                 "--archive", str(tmp_path / "joint.zip")]) == 0  # fmt: skip
    assert f"wrote {COUNT * 2} photos at 32x16" in capsys.readouterr().out
    names = sorted(p.stem for p in labels.glob("*.png"))
    plain = {n: np.asarray(Image.open(tmp_path / "plain" / f"{n}.jpg")) for n in names}
    joint = {n: np.asarray(Image.open(tmp_path / "joint" / "sample_0" / f"{n}.jpg")) for n in names}
    assert all(image.shape == (*SIZE, 3) for image in plain.values())
    assert any(np.abs(plain[n].astype(int) - joint[n].astype(int)).mean() > 1 for n in names)  # the prior took effect
    assert (tmp_path / "joint.zip").is_file()
    # the same options through the Painter give the same photo
    painter = Painter.from_checkpoint(run / "straight", device="cpu")
    painter.set_sampling(num_inference_steps=2, prior="joint", prior_strength=1.0, guidance_scale=2.0, scheduler="ddim")
    from paintscape.inference.generate import image_seed

    again = painter(labels / f"{names[0]}.png", seed=image_seed(3, names[0], 0))
    again.save(tmp_path / "again.jpg", quality=95)  # through the same JPEG encoder as generate's
    reread = np.asarray(Image.open(tmp_path / "joint" / "sample_0" / f"{names[0]}.jpg")).astype(int)
    assert np.abs(np.asarray(Image.open(tmp_path / "again.jpg")).astype(int) - reread).mean() < 0.5
    # evaluate scores the diffusion outputs like any others
    assert main(["evaluate", str(tmp_path / "plain"), "--labels", str(labels), "--targets", str(data / "imgs"),
                 "--device", "cpu", "--out", str(tmp_path / "report")]) == 0  # fmt: skip
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["num_images"] == COUNT and 0 < report["metrics"]["l1"] < 255


def test_sampling_options_errors_are_one_line(run, data, tmp_path, capsys):
    labels = data / "labels"
    run_dir = run / "resumed"
    (run_dir / "priors.safetensors").unlink(missing_ok=True)
    assert main(["generate", str(run_dir), str(labels), str(tmp_path / "o"), "--device", "cpu", "--prior", "joint"]) == 2
    assert "needs noise priors and" in (err := capsys.readouterr().err) and "paintscape priors RUN" in err
    assert main(["generate", str(run_dir), str(labels), str(tmp_path / "o"), "--device", "cpu", "--strength", "1.5"]) == 2
    assert "prior_strength must lie in (0, 1]" in capsys.readouterr().err
    style = tmp_path / "style.json"
    style.write_text(json.dumps({p.name: str(data / "imgs" / f"{p.stem}.jpg") for p in labels.glob("*.png")}))
    assert main(["generate", str(run_dir), str(labels), str(tmp_path / "o"), "--device", "cpu", "--steps", "1", "--style", str(style)]) == 2
    assert "takes no style photo" in capsys.readouterr().err
    gan = tiny_generator_file(tmp_path / "pix2pix.safetensors", "pix2pix")
    assert main(["generate", str(gan), str(labels), str(tmp_path / "o"), "--device", "cpu", "--steps", "4"]) == 2
    assert "takes no sampling option num_inference_steps" in capsys.readouterr().err
    assert main(["priors", str(gan)]) == 2
    assert "not a run directory" in capsys.readouterr().err
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    assert main(["generate", str(run_dir), str(labels), str(tmp_path / "o"), "--device", "cpu", "--priors", str(tmp_path / "bad.safetensors")]) == 2
    assert "bad.safetensors: not a paintscape priors file" in capsys.readouterr().err
    assert main(["generate", str(gan), str(labels), str(tmp_path / "o"), "--device", "cpu", "--priors", str(tmp_path / "bad.safetensors")]) == 2
    assert "--priors applies to diffusion runs" in capsys.readouterr().err
    with pytest.raises(NoisePriorsMissing, match="priors.safetensors has none"):
        Painter.from_checkpoint(run_dir, device="cpu").set_sampling(prior="class")


def test_painter_progress_seeds_and_the_paint_page(run, data):
    painter = Painter.from_checkpoint(run / "straight", device="cpu")
    assert painter.iterative and painter.steps == 2 and not Painter.from_checkpoint(
        tiny_generator_file(run / "g.safetensors", "pix2pix"), device="cpu").iterative  # fmt: skip
    label = np.asarray(Image.open(next((data / "labels").glob("*.png"))))
    labels = torch.from_numpy(label.astype(np.int64))[None].repeat(3, 1, 1)
    steps = []
    batch = painter.render(labels, seeds=[7, 8, 9], progress=lambda k, n: steps.append((k, n)))
    assert steps == [(1, 2), (2, 2)]
    alone = painter.render(labels[:1], seeds=[8])
    torch.testing.assert_close(batch[1:2], alone, atol=1e-5, rtol=1e-5)  # a seed's image whatever its batch
    assert (batch[0] - batch[1]).abs().mean() > 1e-3

    with pytest.raises(ValueError, match="--live-steps must lie in 1..1000, got 0"):
        PaintServer(painter, port=0, live_steps=0)
    with PaintServer(painter, port=0, live_steps=1).start() as server:
        info = json.loads(urllib.request.urlopen(server.url + "api/info").read())
        assert info["sampler"] == {"steps": 2, "live_steps": 1, "max_steps": 1000} and info["model"] == "controlnet"
        buffer = __import__("io").BytesIO()
        Image.fromarray(label).save(buffer, format="PNG")
        import base64

        for steps_asked in (1, 3):
            body = json.dumps({"label": base64.b64encode(buffer.getvalue()).decode(), "seed": 4, "steps": steps_asked}).encode()
            request = urllib.request.Request(server.url + "api/render", data=body, headers={"Content-Type": "application/json"})
            assert urllib.request.urlopen(request).status == 200
            progress = json.loads(urllib.request.urlopen(server.url + "api/progress").read())
            assert progress == {"rendering": False, "step": steps_asked, "total": steps_asked}
        bad = json.dumps({"label": base64.b64encode(buffer.getvalue()).decode(), "steps": 0}).encode()
        request = urllib.request.Request(server.url + "api/render", data=bad, headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(request)
        assert error.value.code == 400 and "steps must lie in 1..1000" in error.value.read().decode()
    gan = Painter.from_checkpoint(tiny_generator_file(run / "g2.safetensors", "pix2pix"), device="cpu")
    with pytest.raises(ValueError, match="renders in one pass, not in steps"):
        PaintServer(gan, port=0, live_steps=2)
    with PaintServer(gan, port=0).start() as server:
        assert json.loads(urllib.request.urlopen(server.url + "api/info").read())["sampler"] is None
        body = json.dumps({"label": base64.b64encode(buffer.getvalue()).decode(), "steps": 2}).encode()
        request = urllib.request.Request(server.url + "api/render", data=body, headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(request)
        assert error.value.code == 400 and "renders in one pass" in error.value.read().decode()


def test_paint_page_with_a_diffusion_run(run, browser, tmp_path):  # noqa: F811 (the imported fixture)
    """The page in a browser: a live render (after a stroke) asks for the live steps, the render
    button for the full ones; the photo arrives and the page reports no error."""
    from test_web import open_page

    painter = Painter.from_checkpoint(run / "straight", device="cpu")
    painter.set_sampling(num_inference_steps=3)
    with PaintServer(painter, port=0, live_steps=1).start() as server:
        page, errors = open_page(browser, server)
        assert page.locator("#busy-progress").count() == 1
        box = page.locator("#label-canvas").bounding_box()
        page.mouse.move(box["x"] + 0.2 * box["width"], box["y"] + 0.5 * box["height"])
        page.mouse.down()
        page.mouse.move(box["x"] + 0.8 * box["width"], box["y"] + 0.6 * box["height"], steps=5)
        page.mouse.up()
        rendered = "() => document.body.dataset.state === 'idle' && Number(document.getElementById('photo').dataset.renders || 0) >= {}"
        page.wait_for_function(rendered.format(1), timeout=60_000)
        assert server.sampler.state() == {"rendering": False, "step": 1, "total": 1}  # live: fewer steps
        shown = int(page.locator("#photo").get_attribute("data-renders"))
        page.click("#render")
        page.wait_for_function(rendered.format(shown + 1), timeout=60_000)
        assert server.sampler.state() == {"rendering": False, "step": 3, "total": 3}
        assert page.locator("#busy-progress").text_content() == "" and not errors
        page.close()
