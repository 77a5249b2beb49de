"""Atomic file writes: a crash leaves either the old file or the new one, never half of one."""

from __future__ import annotations

import errno
import io
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO


def _default_mode() -> int:
    # mkstemp creates 0600 files; give the final file the mode a plain open() would have.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _default_mode()


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some filesystems do not allow opening directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class DiskFullError(OSError):
    """The device ran out of space while writing ``filename``; the previous file is untouched."""

    def __init__(self, path: Path) -> None:
        super().__init__(errno.ENOSPC, f"no space left on device while writing {path}", str(path))

    def __str__(self) -> str:
        return f"{self.strerror}; nothing was lost: the previous {Path(self.filename).name} (if any) is unchanged. Free some space and run again."


_DISK_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))  # EDQUOT: over quota


class _RecordingFile(io.RawIOBase):
    """A file descriptor that remembers the first OSError of a write: torch.save reports a failed
    write as ``RuntimeError: [enforce fail at inline_container.cc] unexpected pos``, without the cause."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd
        self.error: OSError | None = None

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def write(self, data: Any) -> int:
        try:
            return os.write(self.fd, data)
        except OSError as exc:
            self.error = self.error or exc
            raise

    def close(self) -> None:
        if not self.closed:
            super().close()
            os.close(self.fd)


def _disk_full(exc: BaseException, raw: _RecordingFile | None) -> bool:
    causes = [exc, raw.error if raw is not None else None]
    if any(isinstance(c, OSError) and c.errno in _DISK_FULL for c in causes):
        return True
    return isinstance(exc, RuntimeError) and "No space left on device" in str(exc)


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, fsync it, then rename over ``path``.

    On any failure the temporary file is removed and ``path`` keeps its old contents; a full disk
    (even as torch.save's ``enforce fail`` RuntimeError) raises :class:`DiskFullError` naming ``path``.
    """
    path = Path(path)
    raw: _RecordingFile | None = None
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        raw = _RecordingFile(fd)  # owns fd from here on
        with io.BufferedWriter(raw) as handle:
            os.fchmod(fd, _FILE_MODE)
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        if isinstance(exc, Exception) and _disk_full(exc, raw):
            raise DiskFullError(path) from exc
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_save_image(path: str | Path, image, **save_kwargs) -> None:  # image: PIL.Image
    """Save a PIL image atomically; the format comes from the file suffix."""
    path = Path(path)
    buffer = io.BytesIO()
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}.get(path.suffix.lower(), "PNG")
    image.save(buffer, format=fmt, **save_kwargs)
    atomic_write_bytes(path, buffer.getvalue())


def atomic_write_directory(path: str | Path, fill: Callable[[Path], None]) -> None:
    """Call ``fill(folder)`` on a temporary folder beside ``path``, then swap it in with renames:
    a crash leaves the old folder (or none), never a half-written one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        fill(tmp)
        for file in tmp.rglob("*"):
            if file.is_file():
                with open(file, "rb") as handle:
                    os.fsync(handle.fileno())
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(path.parent)
