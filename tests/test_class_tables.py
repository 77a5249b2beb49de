"""Class tables beyond the track's: a 10-class dataset with its own classes.yaml trains, generates and
paints with its own palette; check-data follows the table; convert-labels maps ADE20K / COCO-Stuff."""

import numpy as np
import pytest
from PIL import Image
from train_helpers import make_data

from paintscape.class_table import LANDSCAPE29, ClassTableError, dataset_class_table, read_class_table
from paintscape.cli import main
from paintscape.labels import CLASS_IDS, IGNORE_INDEX

COLOURS = [(10 * i + 5, 200 - 15 * i, 40 + 20 * i) for i in range(10)]
NAMES = [f"stuff{i}" for i in range(10)]


def write_classes(root, colours=COLOURS, names=NAMES):
    lines = ["classes:"] + [f"  - {{id: {i}, name: {n}, colour: [{c[0]}, {c[1]}, {c[2]}]}}" for i, (n, c) in enumerate(zip(names, colours))]
    (root / "classes.yaml").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def ten_class_data(tmp_path_factory):
    root = make_data(tmp_path_factory.mktemp("ten") / "d", count=6)
    for path in (root / "labels").glob("*.png"):
        label = np.asarray(Image.open(path))
        Image.fromarray((label % 10).astype(np.uint8)).save(path)
    write_classes(root)
    return root


def test_a_ten_class_dataset_checks_trains_generates_and_paints_with_its_palette(ten_class_data, tmp_path, capsys):
    from paintscape.checkpoint import load_generator
    from paintscape.inference.painter import Painter
    from paintscape.web.server import PaintServer

    assert main(["check-data", str(ten_class_data)]) == 0
    out = capsys.readouterr().out
    assert "stuff9" in out and "sky" not in out

    run = tmp_path / "run"
    assert main(["train", "pix2pix_tiny", "--data", str(ten_class_data), "--steps", "2", "--batch-size", "2", "data.size=64x32",
                 "train.image_every=2", "--out", str(run)]) == 0
    generator, spec = load_generator(run)
    assert generator.num_classes == 10 and spec.class_names == tuple(NAMES) and spec.palette == tuple(COLOURS)

    out_dir = tmp_path / "out"
    assert main(["generate", str(run), str(ten_class_data / "labels"), str(out_dir), "--gallery"]) == 0
    thumb = np.asarray(Image.open(next((out_dir / "gallery" / "labels").glob("*.png"))).convert("RGB")).reshape(-1, 3)
    assert {tuple(c) for c in np.unique(thumb, axis=0)} <= set(COLOURS)

    painter = Painter.from_pretrained(run, device="cpu")
    ids = np.asarray(Image.open(next((ten_class_data / "labels").glob("*.png"))))
    coloured = np.asarray(COLOURS, dtype=np.uint8)[ids]  # a label map painted in the table's own colours
    a, b = painter(ids, seed=1), painter(Image.fromarray(coloured), seed=1)
    assert np.array_equal(np.asarray(a), np.asarray(b))
    coloured_file = tmp_path / "coloured.png"
    Image.fromarray(coloured).save(coloured_file)
    assert np.array_equal(np.asarray(painter(coloured_file, seed=1)), np.asarray(a))
    with pytest.raises(ValueError, match=r"label ids must lie in 0\.\.9"):
        painter(np.full((8, 8), 12, np.uint8))

    server = PaintServer(painter, host="127.0.0.1", port=0)
    try:
        classes = server.info()["classes"]
        png = coloured_file.read_bytes()  # an upload coloured with the table's palette decodes to its ids
        decoded = server.decode_label(png, "coloured.png")
        assert decoded["source_size"] == list(ids.shape) and decoded["present"] == sorted(np.unique(ids).tolist())
        bad = tmp_path / "bad.png"
        Image.fromarray(np.full((8, 8), 12, np.uint8)).save(bad)
        with pytest.raises(Exception, match=r"label ids outside 0\.\.9"):
            server.decode_label(bad.read_bytes(), "bad.png")
    finally:
        server.close()
    assert [c["name"] for c in classes] == NAMES and [tuple(c["color"]) for c in classes] == COLOURS


def test_check_data_flags_ids_outside_the_table_and_a_bad_table(tmp_path, capsys):
    root = make_data(tmp_path / "d", count=2)
    labels = sorted((root / "labels").glob("*.png"))
    Image.fromarray(np.full((32, 64), 12, np.uint8)).save(labels[0])
    write_classes(root)
    assert main(["check-data", str(root)]) == 1
    assert f"{labels[0]}: label ids outside 0..9: 12 (2048 px)" in capsys.readouterr().out
    (root / "classes.yaml").write_text("classes:\n  - {id: 0, name: a, colour: [1, 2, 3]}\n  - {id: 0, name: b, colour: [4, 5, 6]}\n")
    assert main(["check-data", str(root)]) == 1
    assert "id 0 is given twice" in capsys.readouterr().out
    assert main(["train", "pix2pix_tiny", "--data", str(root), "--steps", "1", "--out", str(tmp_path / "run")]) == 2
    assert "id 0 is given twice" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text, message",
    [
        ("classes: []\n", "expected 'classes:'"),
        ("classes:\n  - {id: 0, name: a}\n", "needs id, name and colour"),
        ("classes:\n  - {id: 1, name: a, colour: [1, 2, 3]}\n", r"id must be an integer in 0\.\.0"),
        ("classes:\n  - {id: 0, name: a, colour: [1, 2, 300]}\n", "colour must be"),
        ("classes:\n  - {id: 0, name: a, colour: '#010203'}\n  - {id: 1, name: b, colour: [1, 2, 3]}\n", "share a colour"),
        ("classes:\n  - {id: 0, name: a, colour: [0, 0, 0]}\n", "reserved for ignored pixels"),
        ("builtin: landscape30\n", r"did you mean 'landscape29'"),
        ("classes:\n  - {id: 0, name: a, colour: '#zzzzzz'}\n", "colour must be"),
        ("classes:\n" + "".join(f"  - {{id: {i}, name: c{i}, colour: [{i}, 1, 1]}}\n" for i in range(256)), "256 classes; label maps hold at most 255"),
        ("classes: [\n", r"not valid YAML \(expected the node content, but found '<stream end>' at line 2, column 1\)"),
        (b"\xff\xfe\x00", "not a YAML text file"),
        (None, "cannot be read"),  # a folder where the file should be
    ],
)
def test_bad_class_tables_name_the_problem(tmp_path, text, message):
    path = tmp_path / "classes.yaml"
    if text is None:
        path.mkdir()
    else:
        path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)
    with pytest.raises(ClassTableError, match=message) as caught:
        read_class_table(path)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)  # one line, as the CLI prints it


def test_builtin_and_default_tables(tmp_path):
    assert dataset_class_table(tmp_path) is LANDSCAPE29 and LANDSCAPE29.num_classes == 29
    (tmp_path / "classes.yaml").write_text("builtin: landscape29\n")
    assert dataset_class_table(tmp_path) is LANDSCAPE29
    (tmp_path / "classes.yaml").write_text("classes:\n  - {id: 0, name: a, colour: '#ff8000'}\n")
    assert read_class_table(tmp_path / "classes.yaml").palette == ((255, 128, 0),)


def test_num_classes_in_the_args_without_a_table_takes_the_first_landscape_classes(tmp_path):
    from paintscape.config import load_config
    from paintscape.train.networks import generator_spec

    spec = generator_spec(load_config("pix2pix_tiny", [f"data.root={tmp_path}", "model.generator.args.num_classes=10"]))
    assert spec.num_classes == 10 and spec.class_names == LANDSCAPE29.names[:10]
    with pytest.raises(ClassTableError, match="need a class table"):
        generator_spec(load_config("pix2pix_tiny", [f"data.root={tmp_path}", "model.generator.args.num_classes=40"]))


@pytest.mark.parametrize("source, stored, expected", [
    ("ade20k", {3: "sky", 17: "mountain", 5: "tree"}, {0: IGNORE_INDEX}),
    ("coco-stuff", {156: "sky", 168: "tree", 154: "sea"}, {255: IGNORE_INDEX}),
])  # fmt: skip
def test_convert_labels_maps_onto_the_landscape_classes(tmp_path, source, stored, expected, capsys):
    from paintscape.labels import from_ade20k, from_coco_stuff

    src = tmp_path / "src"
    src.mkdir()
    values = list(stored) + list(expected)
    label = np.array(values * 4, dtype=np.uint8).reshape(4, len(values))
    Image.fromarray(label).save(src / "a.png")
    assert main(["convert-labels", str(src), str(tmp_path / "dst"), "--from", source]) == 0
    assert "wrote 1 landscape label maps" in capsys.readouterr().out
    out = np.asarray(Image.open(tmp_path / "dst" / "a.png"))
    table = from_ade20k if source == "ade20k" else from_coco_stuff
    assert np.array_equal(out, table(label))
    if source == "ade20k":  # ADE ids are the file values
        assert [out[0, i] for i in range(3)] == [CLASS_IDS[n] for n in stored.values()]
    assert out[0, len(stored)] == IGNORE_INDEX
    assert main(["convert-labels", str(tmp_path / "nothing"), str(tmp_path / "dst"), "--from", source]) == 2
    assert main(["convert-labels", str(src), str(src), "--from", source]) == 2
    capsys.readouterr()
    (tmp_path / "empty").mkdir()
    assert main(["convert-labels", str(tmp_path / "empty"), str(tmp_path / "d2"), "--from", source]) == 2
    assert f"{tmp_path / 'empty'}: no .png label maps found" in capsys.readouterr().err
    Image.fromarray(np.full((4, 4), 300, np.uint16)).save(src / "b.png")  # 16-bit values no source uses
    assert main(["convert-labels", str(src), str(tmp_path / "d3"), "--from", source]) == 2
    assert f"{src / 'b.png'}: values 300..300 are not {source} label ids" in capsys.readouterr().err
    if source == "ade20k":
        Image.fromarray(np.full((4, 4), 200, np.uint8)).save(src / "b.png")
        assert main(["convert-labels", str(src), str(tmp_path / "d4"), "--from", source]) == 2
        assert f"{src / 'b.png'}: ADE20K label values lie in 0..150, got 200" in capsys.readouterr().err


def test_num_classes_that_contradict_the_datasets_table_are_refused(ten_class_data):
    from paintscape.config import load_config
    from paintscape.train.networks import generator_spec

    config = load_config("pix2pix_tiny", [f"data.root={ten_class_data}", "model.generator.args.num_classes=12"])
    with pytest.raises(ValueError, match=r"model.generator.args.num_classes=12, but .*classes.yaml lists 10 classes"):
        generator_spec(config)


def test_the_segmenter_follows_the_table(ten_class_data, tmp_path):
    import json

    from paintscape.evaluate.segmenter import load_segmenter

    seg = tmp_path / "seg"
    assert main(["train-segmenter", str(ten_class_data), "--out", str(seg), "--variant", "tiny", "--steps", "2", "--batch-size", "2", "--device", "cpu"]) == 0
    assert json.loads((seg / "training.json").read_text())["class_names"] == NAMES
    assert load_segmenter(seg).config.num_labels == 10
