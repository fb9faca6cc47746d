"""What a run does so that the machine it runs on cannot damage its output folder.

* One run per output folder: ``exclusive_use`` holds an OS lock (``flock``) on a file in the
  folder for the run's life. The kernel releases it when the process ends, however it ends, so a
  killed run never leaves a stale lock behind, and a second run (or a ``--resume``) into a folder
  in use stops at once with one line naming the process that holds it.
* Every file is written whole or not at all (``atomic_write_bytes``: a temporary file in the same
  folder, flushed to disk, then renamed over the old one), so a kill at any moment leaves the old
  file or the new one.
* A full disk (or any other failed write) is one line naming the file and the fix
  (``StorageError``, exit 2), with nothing that was there before touched.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from qgpt_jax.errors import QGPTError

LOCK_NAME = ".qgpt-run.lock"
"""The file in an output folder that a run holds locked while it writes there."""


class FolderInUseError(QGPTError):
    """Another live process is writing into the output folder."""


class StorageError(QGPTError):
    """A file could not be written (a full disk, a read-only or vanished folder)."""


def ensure_writable(out: Path) -> None:
    """Fail before training, not after, when the output folder cannot be written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise StorageError(
            f"cannot write to output folder {out} ({exc.strerror}); choose another with --out"
        ) from None


@contextlib.contextmanager
def exclusive_use(folder: Path):
    """Hold ``folder``'s run lock for the block; refuse at once if another process holds it."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StorageError(
            f"cannot write to output folder {folder} ({exc.strerror}); choose another with --out"
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 1024, 0).decode("utf-8", "replace").strip()
            raise FolderInUseError(
                f"{folder} is in use by another run ({holder or 'a process starting up'}); "
                f"wait for it to finish or stop it, or choose another --out"
            ) from None
        with contextlib.suppress(OSError):  # the holder's name is a courtesy, not the lock
            os.ftruncate(fd, 0)
            command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:200]
            started = time.strftime("%Y-%m-%d %H:%M:%S")
            os.pwrite(fd, f"pid {os.getpid()}, {command}, since {started}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is a full disk or quota."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(exc):  # tensorstore reports it in its message
            return True
        exc = exc.__cause__ or exc.__context__
    return False


@contextlib.contextmanager
def writing(what: str):
    """Turn a failed write of ``what`` into one ``StorageError`` line."""
    try:
        yield
    except QGPTError:
        raise
    except Exception as exc:
        if is_disk_full(exc):
            raise StorageError(
                f"no space left on the device to write {what}; free some space"
            ) from None
        if isinstance(exc, OSError):
            raise StorageError(f"cannot write {what} ({exc.strerror or exc})") from None
        raise


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` so that readers, and a kill at any moment, see the old file
    or the whole new one; a failed write leaves the old file and no temporary behind."""
    path = Path(path)
    with writing(str(path)):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def atomic_write_text(path: Path, text: str) -> None:
    """``text`` as UTF-8, written as ``atomic_write_bytes`` writes."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _finite(value):
    """JSON has no NaN or infinity: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def atomic_write_json(path: Path, payload) -> None:
    """``payload`` as indented JSON (NaN and infinity as null), written as
    ``atomic_write_bytes`` writes."""
    text = json.dumps(_finite(payload), indent=2, default=float, allow_nan=False)
    atomic_write_text(path, text + "\n")
