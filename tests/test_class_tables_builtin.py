"""The built-in class tables ade20k150 and cocostuff182: their data checked against the datasets' own
lists, a dataset naming one checked, trained, rendered, painted and judged end to end with ids past 28,
and the label-id conventions (convert-labels --to, ids outside the table)."""

import json

import numpy as np
import pytest
from PIL import Image
from train_helpers import make_data

from paintscape.class_table import BUILTIN_NAMES, ClassTableError, builtin_table, read_class_table
from paintscape.cli import main
from paintscape.data.io import DataError, read_label
from paintscape.labels import CLASS_IDS, IGNORE_INDEX, colorize

ADE = builtin_table("ade20k150")
COCO = builtin_table("cocostuff182")


def test_ade20k150_is_objectinfo150_in_mmsegmentations_colours():
    from paintscape.labels import _ADE20K_EXACT

    assert ADE.num_classes == 150 and ADE.source == "ade20k150"
    assert ADE.names[:5] == ("wall", "building", "sky", "floor", "tree") and ADE.names[-1] == "flag"
    assert ADE.palette[:3] == ((120, 120, 120), (180, 120, 120), (6, 230, 230)) and ADE.palette[-1] == (92, 0, 255)
    assert len(set(ADE.palette)) == 150 and len(set(ADE.names)) == 150
    # mmsegmentation gives skyscraper road's colour; a coloured map needs one class per colour
    assert ADE.palette[ADE.names.index("road")] == (140, 140, 140) and ADE.palette[ADE.names.index("skyscraper")] == (160, 160, 180)
    # labels.py's ADE20K mapping, written from objectInfo150's 1-based ids, agrees with the table's order
    folded = {12: "sidewalk", 49: "skyscraper", 85: "tower", 80: "hovel", 73: "palm", 67: "flower", 92: "dirt track",
              55: "runway", 110: "swimming pool", 105: "fountain", 96: "bannister", 54: "stairs", 60: "stairway", 122: "step"}
    for name, ade_id in list(_ADE20K_EXACT.items()) + [(n, i) for i, n in folded.items()]:
        assert ADE.names[ade_id - 1] == name, (ade_id, name)


def test_cocostuff182_is_labels_txt_in_spades_colours():
    assert COCO.num_classes == 182 and COCO.source == "cocostuff182"
    assert (COCO.names[0], COCO.names[90], COCO.names[91], COCO.names[181]) == ("person", "hair brush", "banner", "wood")
    # the 11 ids COCO removed keep labels.txt's names; the real files' values (SOURCES.md of the real data)
    assert [COCO.names[i] for i in (11, 25, 28, 29, 44)] == ["street sign", "hat", "shoe", "eye glasses", "plate"]
    assert [COCO.names[i] for i in (153, 154, 156, 168)] == ["sand", "sea", "sky-other", "tree"]
    assert len(set(COCO.palette)) == 182 and len(set(COCO.names)) == 182 and (0, 0, 0) not in COCO.palette

    def voc_colour(n: int) -> tuple[int, int, int]:  # PASCAL VOC's bit-interleaved colour map
        r = g = b = 0
        for bit in range(8):
            r, g, b = r | ((n >> 0) & 1) << (7 - bit), g | ((n >> 1) & 1) << (7 - bit), b | ((n >> 2) & 1) << (7 - bit)
            n >>= 3
        return r, g, b

    spade = {"sea": (54, 62, 167), "sky-other": (95, 219, 255), "tree": (140, 104, 47), "clouds": (170, 170, 170), "grass": (29, 195, 49)}
    assert COCO.palette == tuple(spade.get(name, voc_colour(i + 1)) for i, name in enumerate(COCO.names))


def test_a_builtin_table_name_typo_suggests_the_name(tmp_path):
    (tmp_path / "classes.yaml").write_text("builtin: ade20k15\n")
    with pytest.raises(ClassTableError, match=r"classes\.yaml: unknown built-in class table 'ade20k15' \(did you mean 'ade20k150'\?\); "
                                              r"built-in: landscape29, ade20k150, cocostuff182"):
        read_class_table(tmp_path / "classes.yaml")
    assert BUILTIN_NAMES == ("landscape29", "ade20k150", "cocostuff182")


def test_check_data_help_names_the_builtin_tables(capsys):
    with pytest.raises(SystemExit):
        main(["check-data", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "classes.yaml" in out and "builtin: landscape29 | ade20k150 | cocostuff182" in out


def test_a_labels_folder_takes_the_table_beside_it_or_around_it(tmp_path):
    from paintscape.class_table import LANDSCAPE29, label_folder_class_table

    labels = tmp_path / "data" / "labels"
    labels.mkdir(parents=True)
    assert label_folder_class_table(labels) is LANDSCAPE29
    (tmp_path / "data" / "classes.yaml").write_text("builtin: cocostuff182\n")
    assert label_folder_class_table(labels) is COCO  # DATA/labels -> DATA/classes.yaml
    (labels / "classes.yaml").write_text("builtin: ade20k150\n")
    assert label_folder_class_table(labels) is ADE  # a test set's own labels/ folder first


@pytest.fixture(scope="module")
def ade_data(tmp_path_factory):
    """Synthetic scenes relabelled with ADE20K ids (0..149, 149 = flag present), ``builtin: ade20k150``."""
    root = make_data(tmp_path_factory.mktemp("ade") / "d", count=4)
    for i, path in enumerate(sorted((root / "labels").glob("*.png"))):
        label = (np.asarray(Image.open(path)).astype(np.int64) * 37 + 11 * i) % 150
        label[:2, :2] = 149
        Image.fromarray(label.astype(np.uint8)).save(path)
    (root / "classes.yaml").write_text("builtin: ade20k150\n")
    return root


def test_an_ade20k150_dataset_checks_trains_generates_paints_and_is_judged(ade_data, tmp_path, capsys):
    from paintscape.checkpoint import load_generator
    from paintscape.inference.painter import Painter
    from paintscape.web.server import PaintServer

    assert main(["check-data", str(ade_data)]) == 0
    out = capsys.readouterr().out
    assert "149  flag" in out and "classes occur; the others have no pixel" in out  # 150 rows would bury the counts

    run = tmp_path / "run"
    assert main(["train", "pix2pix_tiny", "--data", str(ade_data), "--steps", "1", "--batch-size", "2", "data.size=64x32", "--out", str(run)]) == 0
    generator, spec = load_generator(run)
    assert generator.num_classes == 150 and spec.class_names == ADE.names and spec.palette == ADE.palette

    out_dir = tmp_path / "out"
    assert main(["generate", str(run), str(ade_data / "labels"), str(out_dir), "--gallery", "--format", "png"]) == 0
    first = sorted((ade_data / "labels").glob("*.png"))[0]
    ids = np.asarray(Image.open(first))
    thumb = np.asarray(Image.open(out_dir / "gallery" / "labels" / first.name).convert("RGB"))
    assert {tuple(c) for c in np.unique(thumb.reshape(-1, 3), axis=0)} == {ADE.palette[i] for i in np.unique(ids)}

    painter = Painter.from_pretrained(run, device="cpu")
    assert painter.table is ADE
    coloured = tmp_path / "coloured.png"  # painted in ADE20K's colours, wall's gray included
    Image.fromarray(colorize(ids, ADE.palette_array)).save(coloured)
    assert np.array_equal(np.asarray(painter(coloured, seed=1)), np.asarray(painter(ids, seed=1)))
    with PaintServer(painter, host="127.0.0.1", port=0) as server:
        classes = server.info()["classes"]
        assert server.decode_label(coloured.read_bytes(), "coloured.png")["present"] == np.unique(ids).tolist()
        raw_ade = tmp_path / "raw.png"
        Image.fromarray(np.full((8, 8), 150, np.uint8)).save(raw_ade)
        with pytest.raises(Exception, match=r"raw\.png: label ids outside 0\.\.149: 150 \(64 px\)\. .*--from ade20k --to ade20k150"):
            server.decode_label(raw_ade.read_bytes(), "raw.png")
    assert [c["name"] for c in classes] == list(ADE.names) and [tuple(c["color"]) for c in classes] == list(ADE.palette)

    seg = tmp_path / "seg"
    assert main(["train-segmenter", str(ade_data), "--out", str(seg), "--variant", "tiny", "--steps", "1", "--batch-size", "2", "--device", "cpu"]) == 0
    assert json.loads((seg / "config.json").read_text())["id2label"]["149"] == "flag"
    assert main(["evaluate", str(out_dir), "--labels", str(ade_data / "labels"), "--segmenter", str(seg), "--out", str(tmp_path / "report")]) == 0
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert list(report["metrics"]["per_class_iou"]) == list(ADE.names)  # a 150-class confusion, named by the table

    plain = tmp_path / "plain"  # label maps without a classes.yaml are landscape maps: a 150-class segmenter cannot judge them
    plain.mkdir()
    Image.fromarray((ids % 29).astype(np.uint8)).save(plain / first.name)
    assert main(["evaluate", str(out_dir), "--labels", str(plain), "--segmenter", str(seg), "--out", str(tmp_path / "r2")]) == 2
    assert "the segmenter predicts 150 classes, the label maps' class table has 29" in capsys.readouterr().err


def test_ids_outside_a_builtin_table_are_one_line_naming_the_file(tmp_path, capsys):
    root = make_data(tmp_path / "d", count=2)
    labels = sorted((root / "labels").glob("*.png"))
    Image.fromarray(np.full((32, 64), 150, np.uint8)).save(labels[0])  # an ADE20K file read as it is
    (root / "classes.yaml").write_text("builtin: ade20k150\n")
    assert main(["check-data", str(root)]) == 1
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("problem:"))
    assert line == (f"problem: {labels[0]}: label ids outside 0..149: 150 (2048 px). ADE20K's own files store 1..150 (0 = unlabelled); "
                    "shift them to the table's 0..149 with `paintscape convert-labels SRC DST --from ade20k --to ade20k150`.")
    (root / "classes.yaml").write_text("builtin: cocostuff182\n")
    Image.fromarray(np.full((32, 64), 200, np.uint16)).save(labels[0])  # 16-bit, past COCO-Stuff's 181
    with pytest.raises(DataError, match=rf"^{labels[0]}: label ids outside 0\.\.181: 200 \(2048 px\)\. The class table \(cocostuff182\) has 182"):
        read_label(labels[0], table=COCO)
    assert main(["train", "pix2pix_tiny", "--data", str(root), "--steps", "1", "--out", str(tmp_path / "run")]) == 2
    assert "0..181: 200" in capsys.readouterr().err
    assert main(["curate", str(root), "--out", str(tmp_path / "cur")]) == 2
    assert "curate's detectors are built on the 29 landscape classes" in capsys.readouterr().err


def test_coloured_label_maps_decode_through_the_table_gray_colours_included(tmp_path):
    ids = np.array([[0, 0, 6, 48], [2, 4, 149, IGNORE_INDEX]], dtype=np.uint8)  # wall and road are gray in ADE20K's palette
    Image.fromarray(colorize(ids, ADE.palette_array)).save(tmp_path / "a.png")
    assert np.array_equal(read_label(tmp_path / "a.png", table=ADE), ids)
    Image.fromarray(np.stack([np.full((4, 4), 120, np.uint8)] * 3, axis=-1)).save(tmp_path / "gray.png")
    assert (read_label(tmp_path / "gray.png", table=COCO) == 120).all()  # ids saved as RGB, where they are valid ids
    Image.fromarray(colorize(np.full((4, 4), CLASS_IDS["rock"], np.uint8))).save(tmp_path / "rock.png")  # [128, 128, 128]
    assert (read_label(tmp_path / "rock.png") == CLASS_IDS["rock"]).all()  # 128 is no landscape id: the palette's gray


@pytest.mark.parametrize("source, target, stored, expected", [
    ("ade20k", "ade20k150", [0, 1, 3, 150], [IGNORE_INDEX, 0, 2, 149]),
    ("coco-stuff", "cocostuff182", [0, 155, 181, 255], [0, 155, 181, IGNORE_INDEX]),
])  # fmt: skip
def test_convert_labels_to_a_datasets_own_table(tmp_path, capsys, source, target, stored, expected):
    from paintscape.data.convert_labels import TARGETS

    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(np.array([stored] * 2, dtype=np.uint8)).save(src / "a.png")
    assert main(["convert-labels", str(src), str(tmp_path / "dst"), "--from", source, "--to", target]) == 0
    out = capsys.readouterr().out
    assert f"wrote 1 {target} label maps" in out and f"builtin: {target}" in out
    assert np.asarray(Image.open(tmp_path / "dst" / "a.png")).tolist() == [expected] * 2
    Image.fromarray(np.array([[200, 0]], dtype=np.uint8)).save(src / "a.png")
    assert main(["convert-labels", str(src), str(tmp_path / "dst2"), "--from", source, "--to", target]) == 2
    assert f"{src / 'a.png'}: " in capsys.readouterr().err
    other = next(t for t in ("ade20k150", "cocostuff182") if t != target)
    assert main(["convert-labels", str(src), str(tmp_path / "dst3"), "--from", source, "--to", other]) == 2
    assert f"--from {source} converts to landscape29 or {target}, not '{other}'" in capsys.readouterr().err
    assert set(TARGETS) == {"landscape29", "ade20k150", "cocostuff182"}


def test_real_ade20k_and_coco_stuff_maps_fit_their_tables(realdata, tmp_path, capsys):
    ade = tmp_path / "ade"
    ade.mkdir()
    (ade / "imgs").symlink_to(realdata / "ade20k" / "imgs")
    assert main(["convert-labels", str(realdata / "ade20k" / "labels"), str(ade / "labels"), "--from", "ade20k", "--to", "ade20k150"]) == 0
    (ade / "classes.yaml").write_text("builtin: ade20k150\n")
    for path in sorted((ade / "labels").glob("*.png")):
        raw = np.asarray(Image.open(realdata / "ade20k" / "labels" / path.name)).astype(np.int64)
        assert np.array_equal(read_label(path, table=ADE), np.where(raw == 0, IGNORE_INDEX, raw - 1))
    coco = tmp_path / "coco"  # COCO-Stuff's files hold the table's ids already: used as they are
    coco.mkdir()
    for folder in ("imgs", "labels"):
        (coco / folder).symlink_to(realdata / "cocostuff" / folder)
    (coco / "classes.yaml").write_text("builtin: cocostuff182\n")
    capsys.readouterr()
    assert main(["check-data", str(ade)]) == 0 and main(["check-data", str(coco)]) == 0
    out = capsys.readouterr().out
    assert "  2  sky " in out and "156  sky-other " in out and "168  tree " in out
