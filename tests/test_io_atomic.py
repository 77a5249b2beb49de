"""Atomic writes: a folder is swapped in whole, and a failure leaves the old one untouched."""

import pytest

from paintscape.io_atomic import atomic_write_directory, atomic_write_text


def test_directory_is_replaced_whole_or_not_at_all(tmp_path):
    target = tmp_path / "model"
    atomic_write_directory(target, lambda folder: (folder / "a.txt").write_text("one"))
    assert (target / "a.txt").read_text() == "one"

    def fill(folder):
        (folder / "b.txt").write_text("two")

    atomic_write_directory(target, fill)
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]  # the old folder is gone, not merged

    def crash(folder):
        (folder / "half.txt").write_text("x")
        raise RuntimeError("killed while writing")

    with pytest.raises(RuntimeError, match="killed"):
        atomic_write_directory(target, crash)
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temporary folder left


def test_text_file_is_written_atomically(tmp_path):
    atomic_write_text(tmp_path / "x" / "y.txt", "hello")
    assert (tmp_path / "x" / "y.txt").read_text() == "hello"
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["y.txt"]
