import numpy as np
from conftest import striped_label, write_pair
from PIL import Image

from paintscape.cli import main
from paintscape.data.check import check_dataset
from paintscape.labels import colorize


def make_bad_dataset(root):
    write_pair(root, "good", striped_label())
    write_pair(root, "nolabel", striped_label())
    (root / "labels" / "nolabel.png").unlink()
    Image.fromarray(striped_label()).save(root / "labels" / "nophoto.png")
    write_pair(root, "corrupt", striped_label())
    (root / "imgs" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    write_pair(root, "mismatch", striped_label(24, 32), photo=np.zeros((30, 30, 3), np.uint8))
    bad_ids = striped_label()
    bad_ids[:2, :3] = 40
    bad_ids[5, 5] = 77
    write_pair(root, "badids", bad_ids)
    write_pair(root, "badrgb", striped_label())
    rgb = colorize(striped_label())
    rgb[3, 4] = (1, 2, 3)
    Image.fromarray(rgb).save(root / "labels" / "badrgb.png")
    write_pair(root, "badlabelfile", striped_label())
    (root / "labels" / "badlabelfile.png").write_bytes(b"nope")


def test_check_data_reports_every_bad_file(tmp_path, capsys):
    root = tmp_path / "bad"
    make_bad_dataset(root)
    report = check_dataset(root)
    text = "\n".join(map(str, report.problems))
    assert report.pairs == 1
    assert "nolabel.jpg: missing partner" in text
    assert "nophoto.png: missing partner" in text
    assert "corrupt.jpg: unreadable or corrupt photo" in text
    assert "mismatch.jpg: size mismatch: photo is 30x30, label mismatch.png is 32x24" in text
    assert "badids.png: label ids outside 0..28: 40 (6 px), 77 (1 px)" in text
    assert "badrgb.png" in text and "not in the paintscape palette" in text
    assert "badlabelfile.png: unreadable" in text
    assert len(report.problems) == 7

    code = main(["check-data", str(root)])
    out = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in out.out + out.err
    for name in ("nolabel", "nophoto", "corrupt", "mismatch", "badids", "badrgb", "badlabelfile"):
        assert name in out.out


def test_check_data_good_dataset_prints_class_shares(tiny_dataset, capsys):
    assert main(["check-data", str(tiny_dataset)]) == 0
    out = capsys.readouterr().out
    assert "4 good pairs, 0 problems" in out
    assert "sky" in out and "mountain" in out


def test_check_data_checks_the_names_of_a_subset(tiny_dataset, tmp_path, capsys):
    (tmp_path / "sel.txt").write_text("img1\nimg3\n")
    report = check_dataset(tiny_dataset, tmp_path / "sel.txt")
    assert report.problems == [] and report.image_counts.sum() > 0
    assert main(["check-data", str(tiny_dataset), "--subset", str(tmp_path / "sel.txt")]) == 0
    assert "2 good pairs, 0 problems" in capsys.readouterr().out
    (tmp_path / "sel.txt").write_text("# nothing\n")
    assert main(["check-data", str(tiny_dataset), "--subset", str(tmp_path / "sel.txt")]) == 1
    assert f"sel.txt: subset file {tmp_path / 'sel.txt'} lists no names" in capsys.readouterr().out
    assert main(["check-data", str(tiny_dataset), "--subset", str(tmp_path / "none.txt")]) == 1
    assert "none.txt not found" in capsys.readouterr().out


def test_check_data_empty_and_missing_folders(tmp_path, capsys):
    (tmp_path / "empty" / "imgs").mkdir(parents=True)
    (tmp_path / "empty" / "labels").mkdir()
    assert main(["check-data", str(tmp_path / "empty")]) == 1
    assert "empty dataset" in capsys.readouterr().out
    assert main(["check-data", str(tmp_path / "nothing")]) == 1
    assert "folder not found" in capsys.readouterr().out
    write_pair(tmp_path / "photos_only", "a", striped_label())
    for label in (tmp_path / "photos_only" / "labels").iterdir():
        label.unlink()
    assert main(["check-data", str(tmp_path / "photos_only")]) == 1
    assert f"{tmp_path / 'photos_only' / 'labels'}: empty folder" in capsys.readouterr().out


def test_real_track_labels_pass_label_checks(realdata):
    from paintscape.data.io import invalid_label_values, read_label_raw

    for path in sorted((realdata / "track_labels" / "labels").glob("*.png"))[:20]:
        assert invalid_label_values(read_label_raw(path)) == {}
