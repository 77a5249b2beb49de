"""generate --gallery / --format, Painter.from_pretrained (no download) and lists of label maps."""

import json
import re
import shutil

import numpy as np
import pytest
from conftest import striped_label
from generator_files import tiny_generator_file
from PIL import Image

from paintscape.checkpoint import CheckpointError
from paintscape.cli import main
from paintscape.inference.painter import Painter


@pytest.fixture
def labels_dir(tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    for i in range(3):
        Image.fromarray(striped_label(48, 64, classes=(1, 0, 3 + i))).save(labels / f"map{i}.png")
    return labels


def test_generate_png_with_a_gallery_of_label_photo_style(tmp_path, labels_dir, capsys):
    ckpt = tiny_generator_file(tmp_path / "g.safetensors")
    refs = tmp_path / "refs"
    refs.mkdir()
    Image.fromarray(np.full((40, 50, 3), (200, 30, 30), np.uint8)).save(refs / "red.jpg")
    (tmp_path / "styles.json").write_text(json.dumps({"map0.png": "red.jpg", "map1.png": "red.jpg", "map2.png": "red.jpg"}))
    out = tmp_path / "out"
    assert main(["generate", str(ckpt), str(labels_dir), str(out), "--format", "png", "--gallery", "--style", str(tmp_path / "styles.json"),
                 "--style-root", str(refs)]) == 0
    assert f"gallery: {out / 'gallery.html'}" in capsys.readouterr().out
    photos = sorted(p.name for p in out.glob("*.png"))
    assert photos == ["map0.png", "map1.png", "map2.png"]
    assert Image.open(out / "map0.png").format == "PNG"
    page = (out / "gallery.html").read_text()
    assert "<th>label</th><th>photo</th><th>style</th>" in page
    assert page.count("src='gallery/labels/") == 3 and page.count("src='map") == 3 and page.count("src='gallery/styles/") == 3
    # the label thumbnail holds only palette colours (nearest neighbour), at the thumbnail width
    from paintscape.labels import PALETTE

    thumb = np.asarray(Image.open(out / "gallery" / "labels" / "map0.png").convert("RGB")).reshape(-1, 3)
    assert thumb.shape[0] == 256 * 192
    assert {tuple(c) for c in np.unique(thumb, axis=0)} <= {tuple(c) for c in PALETTE.tolist()}


def test_generate_samples_gallery_has_a_column_per_sample(tmp_path, labels_dir):
    ckpt = tiny_generator_file(tmp_path / "g.safetensors")
    out = tmp_path / "out"
    assert main(["generate", str(ckpt), str(labels_dir), str(out), "--samples", "2", "--gallery"]) == 0
    page = (out / "gallery.html").read_text()
    assert "<th>sample 0</th><th>sample 1</th>" in page and "<th>style</th>" not in page
    assert len(re.findall(r"src='sample_1/map\d\.jpg'", page)) == 3


def test_from_pretrained_reads_a_file_a_run_a_folder_and_the_local_hub_cache(tmp_path, monkeypatch):
    ckpt = tiny_generator_file(tmp_path / "g.safetensors")
    label = striped_label(48, 64)
    expected = np.asarray(Painter.from_checkpoint(ckpt, device="cpu")(label, seed=3))
    folder = tmp_path / "published"
    folder.mkdir()
    shutil.copy(ckpt, folder / "generator.safetensors")
    hub = tmp_path / "hub"
    snapshot = hub / "models--someone--landscapes" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    shutil.copy(ckpt, snapshot / "paintscape.safetensors")
    (hub / "models--someone--landscapes" / "refs").mkdir()
    (hub / "models--someone--landscapes" / "refs" / "main").write_text("abc123")
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    for source in (ckpt, folder, "someone/landscapes"):
        painter = Painter.from_pretrained(source, device="cpu")
        assert np.array_equal(np.asarray(painter(label, seed=3)), expected), source
    # the hub's own places, as huggingface_hub looks them up: HF_HOME/hub, else ~/.cache/huggingface/hub
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    assert Painter.from_pretrained("someone/landscapes", device="cpu").spec.family == "spade"
    monkeypatch.delenv("HF_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home" / ".cache" / "huggingface").mkdir(parents=True)
    shutil.copytree(hub, tmp_path / "home" / ".cache" / "huggingface" / "hub")
    assert Painter.from_pretrained("someone/landscapes", device="cpu").spec.family == "spade"
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    with pytest.raises(CheckpointError, match="not in the Hugging Face cache .*downloads nothing"):
        Painter.from_pretrained("someone/elsewhere", device="cpu")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"no run \(latest.json\) and no .safetensors generator"):
        Painter.from_pretrained(tmp_path / "empty", device="cpu")
    (folder / "generator.safetensors").rename(folder / "a.safetensors")
    shutil.copy(ckpt, folder / "b.safetensors")
    with pytest.raises(CheckpointError, match="several .safetensors files"):
        Painter.from_pretrained(folder, device="cpu")
    with pytest.raises(CheckpointError, match="no such run directory, generator file or folder"):
        Painter.from_pretrained(tmp_path / "nothing.safetensors", device="cpu")


def test_a_list_of_label_maps_paints_a_list_batched_as_one_at_a_time(tmp_path):
    painter = Painter.from_checkpoint(tiny_generator_file(tmp_path / "g.safetensors"), device="cpu")
    maps = [striped_label(48, 64, classes=(1, 0, 3 + i)) for i in range(5)]
    photos = painter(maps, seed=10, batch_size=2)
    assert isinstance(photos, list) and len(photos) == 5
    for i, photo in enumerate(photos):
        single = painter(maps[i], seed=10 + i)
        assert np.abs(np.asarray(photo, dtype=int) - np.asarray(single, dtype=int)).max() <= 1
    styles = [np.full((40, 50, 3), 30 * i, np.uint8) for i in range(5)]
    assert len(painter.paint_many(maps, styles, seed=0)) == 5
    with pytest.raises(ValueError, match="one style photo per label map: 5 label maps, styles list of 2"):
        painter(maps, style=styles[:2])
