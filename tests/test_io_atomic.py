"""Atomic writes: a failure leaves the old file (or folder) and no temporary file; a full disk says so in one line."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest
import torch

from paintscape.checkpoint import save_training_state
from paintscape.cli import main
from paintscape.io_atomic import (
    DiskFullError,
    atomic_write,
    atomic_write_bytes,
    atomic_write_directory,
    atomic_write_text,
)


def fill_disk_after(monkeypatch: pytest.MonkeyPatch, allowed: int) -> None:
    """Writes fail with ENOSPC once ``allowed`` bytes have been written (a disk that fills up)."""
    real_write = os.write
    written = [0]

    def write(fd: int, data) -> int:
        if written[0] + len(data) > allowed:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written[0] += len(data)
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_replaces_the_file_and_keeps_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "a.txt"
    atomic_write_text(path, "one")
    atomic_write_text(path, "two")
    assert path.read_text() == "two" and leftovers(path.parent) == []
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_full_disk_in_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "log.json"
    path.write_text("old contents")
    fill_disk_after(monkeypatch, allowed=10)
    with pytest.raises(DiskFullError) as caught:
        atomic_write_bytes(path, b"x" * 100_000)
    assert isinstance(caught.value, OSError) and caught.value.errno == errno.ENOSPC
    assert str(caught.value).startswith(f"no space left on device while writing {path}; nothing was lost")
    assert path.read_text() == "old contents" and leftovers(tmp_path) == []


def test_full_disk_in_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.bin"

    def fsync(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(DiskFullError, match="while writing"):
        atomic_write_bytes(path, b"data")
    assert not path.exists() and leftovers(tmp_path) == []


def test_full_disk_inside_torch_save(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # torch.save turns the failed write into "RuntimeError: [enforce fail at inline_container.cc:672]"
    path = tmp_path / "step_00000010.pt"
    save_training_state(path, {"step": 5, "weights": torch.zeros(10)})
    before = path.read_bytes()
    fill_disk_after(monkeypatch, allowed=1000)
    with pytest.raises(DiskFullError) as caught:
        save_training_state(path, {"step": 10, "weights": torch.zeros(100_000)})
    assert "enforce fail" in str(caught.value.__cause__) and "enforce fail" not in str(caught.value)
    assert path.read_bytes() == before and leftovers(tmp_path) == []
    assert torch.load(path, weights_only=True)["step"] == 5


def test_full_disk_reported_as_runtime_error_text(tmp_path: Path) -> None:
    def write(handle) -> None:
        raise RuntimeError(
            "[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file: No space left on device"
        )

    with pytest.raises(DiskFullError):
        atomic_write(tmp_path / "x.pt", write)
    assert leftovers(tmp_path) == []


def test_other_failures_pass_through(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("old")

    def write(handle) -> None:
        handle.write(b"partial")
        raise RuntimeError("the writer failed")

    with pytest.raises(RuntimeError, match="the writer failed"):
        atomic_write(path, write)
    assert path.read_text() == "old" and leftovers(tmp_path) == []


def test_cli_prints_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fill_disk_after(monkeypatch, allowed=0)  # scenes and the contact sheet are written through atomic_write
    sheet = tmp_path / "sheet.png"
    assert main(["synth", str(tmp_path / "data"), "--count", "1", "--size", "32x24", "--sheet", str(sheet)]) == 2
    err = capsys.readouterr().err
    assert f"error: no space left on device while writing {tmp_path / 'data'}" in err  # the first scene
    assert "Traceback" not in err and "Errno" not in err
    assert not sheet.exists() and leftovers(tmp_path / "data" / "imgs") == [] and leftovers(tmp_path) == []


def test_directory_is_replaced_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "model"
    atomic_write_directory(target, lambda folder: (folder / "a.txt").write_text("one"))
    assert (target / "a.txt").read_text() == "one"

    def fill(folder: Path) -> None:
        (folder / "b.txt").write_text("two")

    atomic_write_directory(target, fill)
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]  # the old folder is gone, not merged

    def crash(folder: Path) -> None:
        (folder / "half.txt").write_text("x")
        raise RuntimeError("killed while writing")

    with pytest.raises(RuntimeError, match="killed"):
        atomic_write_directory(target, crash)
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temporary folder left


def test_a_filesystem_that_cannot_sync_its_folders_still_gets_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import paintscape.io_atomic as io_atomic

    real_open = os.open

    def no_directories(path, flags, *args, **kwargs):
        if Path(path).is_dir():
            raise PermissionError(13, "directories cannot be opened here")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(io_atomic.os, "open", no_directories)
    atomic_write(tmp_path / "a.txt", lambda handle: handle.write(b"one"))
    assert (tmp_path / "a.txt").read_bytes() == b"one"
    monkeypatch.undo()

    real_fsync = os.fsync

    def fsync_refused_on_folders(fd):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(22, "fsync not supported on directories")
        real_fsync(fd)

    monkeypatch.setattr(io_atomic.os, "fsync", fsync_refused_on_folders)
    atomic_write(tmp_path / "b.txt", lambda handle: handle.write(b"two"))
    assert (tmp_path / "b.txt").read_bytes() == b"two" and leftovers(tmp_path) == []


def test_the_writers_own_error_comes_through_when_its_temporary_file_is_already_gone(tmp_path: Path) -> None:
    def write(handle) -> None:
        (tmp,) = tmp_path.glob(".c.txt.*.tmp")
        tmp.unlink()  # e.g. a cleaner that sweeps temporary files
        raise RuntimeError("the writer failed")

    with pytest.raises(RuntimeError, match="the writer failed"):
        atomic_write(tmp_path / "c.txt", write)
    assert not (tmp_path / "c.txt").exists() and leftovers(tmp_path) == []
