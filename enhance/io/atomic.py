"""Atomic files and folders: written under a hidden temporary name in the same folder, then renamed.

The one place of the package that renames into place (:func:`os.replace`): files written through a
stream (:func:`atomic_write`), JSON (:func:`atomic_write_json`), files that a library writes by
name (:func:`atomic_save`: Keras weights, NumPy archives) and whole folders (:func:`replace_folder`,
with :func:`recover_folder` after a kill between its two renames). Temporary files are created
exclusively without following links, under a name that fits the file system's 255 bytes whatever
the destination's name (:func:`part_prefix`); :func:`open_regular` opens the other files a run
owns in its output folder (the lock, the manifest) without following links, refusing anything
but a regular file.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import secrets
import shutil
import stat
from pathlib import Path

__all__ = [
    "atomic_write",
    "atomic_write_json",
    "atomic_save",
    "replace_folder",
    "recover_folder",
    "PART_SUFFIX",
    "part_prefix",
    "open_regular",
    "NotRegularFile",
]

#: Suffix of the temporary files (skipped by :func:`enhance.io.is_supported`).
PART_SUFFIX = ".part"

#: The longest file name (bytes) of the common file systems (ext4, XFS, APFS, NTFS).
NAME_MAX = 255
_RANDOM = 8  # hex digits of a temporary name
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def part_prefix(name, *, extra=""):
    """The start of the temporary names of a destination named ``name``: ``.NAME.``, then 8 hex
    digits and :data:`PART_SUFFIX` (and ``extra``). A name too long for that within
    :data:`NAME_MAX` bytes is cut and followed by ``~`` and a hash of the whole name (so that two
    long names sharing their start never share temporary files)."""
    room = NAME_MAX - 2 - _RANDOM - len(PART_SUFFIX) - len(os.fsencode(extra))
    encoded = os.fsencode(name)
    if len(encoded) <= room:
        return f".{name}."
    tag = "~" + hashlib.sha256(encoded).hexdigest()[:8]
    cut = encoded[: room - len(tag)]
    while True:  # never half a UTF-8 character
        try:
            head = os.fsdecode(cut)
            if os.fsencode(head) == cut:
                break
        except UnicodeError:
            pass
        cut = cut[:-1]
    return f".{head}{tag}."


class NotRegularFile(OSError):
    """A file the run owns is a symbolic link, a folder, a pipe, a socket or a device."""


def open_regular(path, flags, mode=0o666):
    """``os.open(path, flags, mode)`` without following a symbolic link; only a regular file.

    For the files a run owns in its output folder (its lock, its manifest): a link planted
    there is not followed (its target is neither truncated nor appended to), and a pipe or a
    device (``/dev/zero``) is not read. Returns the file descriptor.

    Raises
    ------
    NotRegularFile
        ``path`` is a symbolic link, a folder, a pipe, a socket or a device (its
        ``strerror`` says which).
    OSError
        Any other failure to open it.
    """
    try:
        fd = os.open(path, flags | _NOFOLLOW | _NONBLOCK | getattr(os, "O_CLOEXEC", 0), mode)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.EMLINK) or os.path.islink(path):
            raise NotRegularFile(errno.ELOOP, "is a symbolic link (not followed)") from None
        if error.errno in (errno.EISDIR, errno.ENXIO):
            kind = "a folder" if error.errno == errno.EISDIR else "a pipe, socket or device"
            raise NotRegularFile(error.errno, f"is {kind}, not a regular file") from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "a pipe, socket or device"
        raise NotRegularFile(errno.EINVAL, f"is {kind}, not a regular file")
    if _NONBLOCK and hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return fd


def _open_temp(directory, name):
    prefix = part_prefix(name)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = directory / f"{prefix}{secrets.token_hex(_RANDOM // 2)}{PART_SUFFIX}"
        try:
            # exclusive creation; mode 0o666 & ~umask like any new file (mkstemp gives 0o600)
            stream = os.fdopen(os.open(tmp, flags, 0o666), "wb")
        except FileExistsError:
            continue
        stream.raw.name = str(tmp)  # writers that want a name (tifffile) see the path
        return tmp, stream
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
    tmp = path.parent / f"{part_prefix(path.name, extra=suffix)}{secrets.token_hex(_RANDOM // 2)}{PART_SUFFIX}{suffix}"
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
