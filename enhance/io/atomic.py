"""Atomic files and folders: written under a hidden temporary name in the same folder, then renamed.

The one place of the package that renames into place (:func:`os.replace`): files written through a
stream (:func:`atomic_write`), JSON (:func:`atomic_write_json`), files that a library writes by
name (:func:`atomic_save`: Keras weights, NumPy archives) and whole folders (:func:`replace_folder`,
with :func:`recover_folder` after a kill between its two renames).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from pathlib import Path

__all__ = [
    "atomic_write",
    "atomic_write_json",
    "atomic_save",
    "replace_folder",
    "recover_folder",
    "PART_SUFFIX",
]

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


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (np.ndarray, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def atomic_write_json(path, payload, *, indent=2, default=None):
    """Write ``payload`` as JSON (sorted keys, a final newline) to ``path`` atomically.

    NumPy scalars and arrays, tuples and paths are written as plain JSON values; any other
    object raises ``TypeError`` unless ``default`` (as for :func:`json.dumps`) converts it.
    """

    def convert(value):
        try:
            return _json_default(value)
        except TypeError:
            if default is None:
                raise
            return default(value)

    text = json.dumps(payload, indent=indent, sort_keys=True, default=convert) + "\n"
    with atomic_write(path) as stream:
        stream.write(text.encode("utf-8"))


def atomic_save(path, save, *, suffix=""):
    """Let ``save(temporary_path)`` write a file, then rename it over ``path``.

    For writers that take a file name rather than a stream (``keras.Model.save_weights``,
    :func:`numpy.savez`). ``suffix`` ends the temporary name (``".weights.h5"``, ``".npz"``:
    what the writer insists on). If ``save`` raises, the temporary file is removed and ``path``
    is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}{PART_SUFFIX}{suffix}"
    try:
        save(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(path.parent)


def _previous(path):
    return path.with_name(f".{path.name}.old")


def replace_folder(staging, path):
    """Put the finished folder ``staging`` in place of ``path`` (replacing any folder there).

    ``path`` is first renamed to the hidden sibling ``.NAME.old``, then ``staging`` to ``path``,
    then the old folder is removed: a reader sees the old folder or the new one, never a mix.
    A kill between the two renames leaves ``.NAME.old`` alone; :func:`recover_folder` puts it
    back.
    """
    staging, path = Path(staging), Path(path)
    previous = _previous(path)
    shutil.rmtree(previous, ignore_errors=True)
    if path.exists():
        os.replace(path, previous)
    os.replace(staging, path)
    shutil.rmtree(previous, ignore_errors=True)
    _fsync_directory(path.parent)


def recover_folder(path, *, marker):
    """Put back a folder that a kill left as ``.NAME.old`` during :func:`replace_folder`.

    Only when ``path`` is missing and the old folder holds the file ``marker`` (the one a
    complete folder always has). Returns whether ``path`` holds ``marker`` now.
    """
    path = Path(path)
    previous = _previous(path)
    if not path.exists() and (previous / marker).is_file():
        os.replace(previous, path)
    return (path / marker).is_file()
