import json
import zipfile

import numpy as np
import pytest
import torch
from conftest import striped_label
from generator_files import tiny_generator_file, varied_generator_file
from PIL import Image

from paintscape.cli import main
from paintscape.inference.painter import Painter, StyleRequired


@pytest.fixture
def labels_dir(tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    for i in range(5):  # 16-bit like the track's label maps, at the track's size
        Image.fromarray(striped_label(384, 512, classes=(1, 0, 3 + i)).astype(np.uint16)).save(labels / f"map{i}.png")
    return labels


def test_painter_is_importable_from_the_package_and_its_old_path():
    import paintscape
    from paintscape import pipeline

    assert paintscape.Painter is Painter is pipeline.Painter
    with pytest.raises(AttributeError, match="no attribute 'Paintr'"):
        paintscape.Paintr  # noqa: B018


def test_painter_refuses_what_a_one_pass_model_cannot_do(tmp_path):
    from paintscape.labels import LabelError

    painter = Painter.from_checkpoint(tiny_generator_file(tmp_path / "g.safetensors", "pix2pix"), device="cpu")
    assert painter.steps is None and not painter.iterative  # one forward pass, no sampling steps
    label = striped_label(32, 64)
    with pytest.raises(ValueError, match="the pix2pix model renders in one pass: it takes no sampling options"):
        painter(label, sampling={"num_inference_steps": 4})
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        painter([label, label], batch_size=0)
    with pytest.raises(LabelError, match=r"a label map is \(H, W\) class ids, got shape \(1, 32, 64\)"):
        painter(label[None])


def test_painter_renders_pil_at_model_size(tmp_path):
    painter = Painter.from_checkpoint(tiny_generator_file(tmp_path / "g.safetensors"), device="cpu")
    assert painter.size == (32, 64) and painter.has_encoder and painter.z_dim == 16
    label = striped_label(384, 512)
    a, b = painter(label, seed=0), painter(label, seed=0)
    assert a.size == (64, 32) and a.mode == "RGB"
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(painter(label, seed=1)))
    styled = painter(label, style=np.full((40, 50, 3), 30, np.uint8), seed=0)
    assert not np.array_equal(np.asarray(a), np.asarray(styled))


def test_generate_cli_samples_archive_and_batch_independence(tmp_path, labels_dir, capsys):
    ckpt = tiny_generator_file(tmp_path / "g.safetensors")
    out1, out3 = tmp_path / "b1", tmp_path / "b3"
    assert main(["generate", str(ckpt), str(labels_dir), str(out1), "--samples", "2", "--batch-size", "1", "--archive", str(tmp_path / "sub.zip")]) == 0
    assert main(["generate", str(ckpt), str(labels_dir), str(out3), "--samples", "2", "--batch-size", "3"]) == 0
    for k in range(2):
        names = sorted(p.name for p in (out1 / f"sample_{k}").iterdir())
        assert names == [f"map{i}.jpg" for i in range(5)]
        for name in names:
            a = np.asarray(Image.open(out1 / f"sample_{k}" / name))
            assert a.shape == (32, 64, 3)
            assert np.array_equal(a, np.asarray(Image.open(out3 / f"sample_{k}" / name))), "output depends on the batch"
    assert not np.array_equal(np.asarray(Image.open(out1 / "sample_0" / "map0.jpg")), np.asarray(Image.open(out1 / "sample_1" / "map0.jpg")))
    with zipfile.ZipFile(tmp_path / "sub.zip") as zf:
        assert sorted(zf.namelist()) == sorted(f"sample_{k}/map{i}.jpg" for k in range(2) for i in range(5))


def test_generate_with_style_references(tmp_path, labels_dir):
    ckpt = tiny_generator_file(tmp_path / "g.safetensors")
    refs = tmp_path / "refs"
    refs.mkdir()
    Image.fromarray(np.full((48, 64, 3), (200, 40, 40), np.uint8)).save(refs / "red.jpg")
    Image.fromarray(np.full((48, 64, 3), (40, 40, 200), np.uint8)).save(refs / "blue.jpg")
    styles = {f"map{i}.png": ("red.jpg" if i % 2 else "blue.jpg") for i in range(5)}
    (tmp_path / "styles.json").write_text(json.dumps(styles))
    assert main(["generate", str(ckpt), str(labels_dir), str(tmp_path / "a"), "--style", str(tmp_path / "styles.json"), "--style-root", str(refs)]) == 0
    assert main(["generate", str(ckpt), str(labels_dir), str(tmp_path / "b")]) == 0
    a = np.asarray(Image.open(tmp_path / "a" / "map1.jpg"))
    b = np.asarray(Image.open(tmp_path / "b" / "map1.jpg"))
    assert not np.array_equal(a, b)


def test_styles_for_some_maps_only_render_one_by_one(tmp_path, labels_dir, capsys):
    ckpt = tiny_generator_file(tmp_path / "g.safetensors")  # SPADE with a style encoder: a style is optional
    Image.fromarray(np.full((48, 64, 3), (200, 40, 40), np.uint8)).save(tmp_path / "red.jpg")
    (tmp_path / "styles.json").write_text(json.dumps({"map1.png": "red.jpg"}))
    args = ["generate", str(ckpt), str(labels_dir), str(tmp_path / "out"), "--style", str(tmp_path / "styles.json"), "--style-root", str(tmp_path)]
    assert main(args) == 2
    assert "some label maps of a batch have a reference photo and some do not; give --style for all or none (or --batch-size 1)" in capsys.readouterr().err
    assert main([*args, "--batch-size", "1", "--gallery"]) == 0
    page = (tmp_path / "out" / "gallery.html").read_text()
    rows = {row.split("</th>")[0]: row for row in page.split("<tr><th>")[1:]}
    assert "gallery/styles/map1.jpg" in rows["map1"]
    assert "<td></td>" in rows["map0"] and "gallery/styles/" not in rows["map0"]  # an empty style cell
    assert main(["generate", str(ckpt), str(labels_dir), str(tmp_path / "o"), "--samples", "0"]) == 2
    assert "--samples must be at least 1, got 0" in capsys.readouterr().err


def test_style_stream_model_needs_references(tmp_path, labels_dir, capsys):
    ckpt = tiny_generator_file(tmp_path / "t.safetensors", "tsit")
    with pytest.raises(StyleRequired):
        Painter.from_checkpoint(ckpt, device="cpu")(striped_label(128, 256))
    assert main(["generate", str(ckpt), str(labels_dir), str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "style stream" in err and "Traceback" not in err


def test_generate_bad_inputs_are_one_line_errors(tmp_path, capsys):
    ckpt = tiny_generator_file(tmp_path / "g.safetensors")
    assert main(["generate", str(tmp_path / "missing"), str(tmp_path), str(tmp_path / "o")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    labels = tmp_path / "labels"
    labels.mkdir()
    Image.fromarray(np.full((8, 8), 40, np.uint8)).save(labels / "bad.png")
    assert main(["generate", str(ckpt), str(labels), str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "bad.png" in err and "40" in err
    (tmp_path / "empty").mkdir()
    for args, message in (
        ([str(tmp_path / "nolabels")], f"{tmp_path / 'nolabels'}: folder of label maps not found"),
        ([str(tmp_path / "empty")], f"{tmp_path / 'empty'}: no .png label maps found"),
        ([str(labels), "--style", str(tmp_path / "styles.json")], f"style file {tmp_path / 'styles.json'} not found"),
    ):
        assert main(["generate", str(ckpt), *args, str(tmp_path / "o")]) == 2
        assert message in capsys.readouterr().err


def test_cuda_asked_for_without_cuda_is_one_line(tmp_path, labels_dir, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # this machine, or a GPU machine pretending
    ckpt = tiny_generator_file(tmp_path / "g.safetensors")
    assert main(["generate", str(ckpt), str(labels_dir), str(tmp_path / "o"), "--device", "cuda:0"]) == 2
    assert "device cuda:0 was asked for but no CUDA device is available; use cpu or auto" in capsys.readouterr().err


def test_generator_files_that_do_not_fit_are_one_line_errors(tmp_path, labels_dir, capsys):
    from safetensors.torch import save_file

    from paintscape.checkpoint import SPEC_KEY, read_generator_file

    tensors, spec = read_generator_file(tiny_generator_file(tmp_path / "g.safetensors", "pix2pix"))
    first, second = sorted(tensors)[:2]
    changed = {k: v for k, v in tensors.items() if k != first}
    changed["extra.weight"] = torch.zeros(1)
    changed[second] = torch.zeros(3, 3)
    save_file(changed, tmp_path / "changed.safetensors", metadata={SPEC_KEY: spec.to_json()})
    save_file(tensors, tmp_path / "plain.safetensors")  # safetensors without a paintscape spec
    (tmp_path / "garbage.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00not json")
    cases = {
        "changed.safetensors": f"does not match the network: missing keys ['{first}']; unexpected keys ['extra.weight']; "
        f"shape mismatches ['{second}: file (3, 3) vs model ",
        "plain.safetensors": "not a paintscape generator file",
        "garbage.safetensors": "not a paintscape generator file",
    }
    for name, message in cases.items():
        assert main(["generate", str(tmp_path / name), str(labels_dir), str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert f"{tmp_path / name}: " in err and message in err and "Traceback" not in err, err
    assert not (tmp_path / "out").exists()


def test_a_run_its_latest_and_a_step_file_name_the_same_generator(tmp_path):
    from paintscape.checkpoint import CheckpointError, CheckpointManager, build_generator, resolve_generator_path
    from paintscape.checkpoint import read_generator_file as read

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    with pytest.raises(CheckpointError, match=f"{run}: no latest.json; this run has no complete checkpoint yet"):
        resolve_generator_path(run)
    _, spec = read(tiny_generator_file(tmp_path / "g.safetensors", "pix2pix"))
    manager = CheckpointManager(run, keep_last=0)  # 0 keeps every checkpoint
    for step in (1, 2, 3, 4):
        manager.save(step, {"step": step}, build_generator(spec), spec)
    assert len(list((run / "checkpoints").glob("step_*.pt"))) == 4
    latest = run / "checkpoints" / "step_00000004.safetensors"
    assert resolve_generator_path(run) == resolve_generator_path(run / "latest") == latest
    assert resolve_generator_path(run / "checkpoints" / "step_00000002.pt") == run / "checkpoints" / "step_00000002.safetensors"
    with pytest.raises(CheckpointError, match="generator file not found"):
        read(tmp_path / "nowhere.safetensors")


def test_generate_real_16bit_track_labels(tmp_path, realdata):
    ckpt = tiny_generator_file(tmp_path / "g.safetensors", "pix2pix")
    labels = realdata / "track_labels" / "labels"
    sub = tmp_path / "labels"
    sub.mkdir()
    for path in sorted(labels.glob("*.png"))[:3]:  # a link, not a copy into the project
        (sub / path.name).symlink_to(path)
    assert main(["generate", str(ckpt), str(sub), str(tmp_path / "out"), "--archive", str(tmp_path / "result.zip")]) == 0
    with zipfile.ZipFile(tmp_path / "result.zip") as zf:
        assert len(zf.namelist()) == 3


def test_onnx_export_matches_pytorch(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    from paintscape.checkpoint import load_generator
    from paintscape.inference.export import example_inputs

    # Weights whose renders vary: a near-constant render (tiny_generator_file's pix2pix: pixel std
    # 0.005, values within +-0.03, where tanh is the identity to 1e-5) or a saturated one (its SPADE:
    # every pixel at +-1) would let a wrong graph match. Measured here, per image and channel: pixel
    # std >= 0.29 (spade) and >= 0.36 (pix2pix), at most 0.07% of pixels beyond +-0.99.
    for name, init_std in (("spade", 0.05), ("pix2pix", 0.1)):
        ckpt = varied_generator_file(tmp_path / f"{name}.safetensors", name, init_std)
        assert main(["export", str(ckpt), str(tmp_path / f"{name}.onnx")]) == 0
        generator, _ = load_generator(ckpt)
        names, inputs = example_inputs(generator, (32, 64), batch=2, seed=5)
        session = onnxruntime.InferenceSession(str(tmp_path / f"{name}.onnx"))
        got = session.run(None, {n: x.numpy() for n, x in zip(names, inputs)})[0]
        with torch.no_grad():
            want = generator(inputs[0], z=inputs[1] if "z" in names else None).numpy()
        assert got.shape == (2, 3, 32, 64)
        assert want.reshape(2, 3, -1).std(-1).min() > 0.2, f"{name}: the render is nearly constant"
        assert (np.abs(want) > 0.99).mean() < 0.01, f"{name}: the render is saturated"
        assert np.abs(got - want).max() < 1e-4
