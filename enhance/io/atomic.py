"""Atomic file writes: a temporary ``.name.XXXX.part`` file in the same folder, then rename."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

__all__ = ["atomic_write", "PART_SUFFIX"]

#: Suffix of the temporary files (skipped by :func:`enhance.io.is_supported`).
PART_SUFFIX = ".part"


def _open_temp(directory, name):
    for _ in range(100):
        tmp = directory / f".{name}.{secrets.token_hex(4)}{PART_SUFFIX}"
        try:
            # exclusive creation; mode 0o666 & ~umask like any new file (mkstemp gives 0o600)
            return tmp, open(tmp, "xb")
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file in {directory}")


def _fsync_directory(directory):
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_write(path):
    """Open a temporary file for writing `path` in binary mode; replace `path` on success.

    The temporary file lives in the destination's folder (created if missing), its name
    starts with ``'.'`` and ends with ``'.part'``. On leaving the block normally it is
    flushed, fsync'ed and renamed over `path` with :func:`os.replace`; if the block raises,
    it is removed and `path` is left untouched.

    Parameters
    ----------
    path : str or os.PathLike
        Destination.

    Yields
    ------
    file
        A binary file object positioned at 0.
    """
    path = Path(path)
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    tmp, f = _open_temp(directory, path.name)
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)
