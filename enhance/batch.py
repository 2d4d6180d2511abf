"""Run one function over many image files, safely.

The engine behind every folder job (``enhance degrade``, ``denoise``, ``run``, ...):

- :func:`discover` turns a folder (recursive), a single file or a glob into a sorted list of
  :class:`InputFile` (path + relative path), so outputs mirror the input layout;
  Entries with an image's name that are not regular files (a folder named ``x.png``, a dangling
  symbolic link, a link loop) are listed too, so that they are reported rather than skipped;
- :func:`check_output_dir` refuses an output folder inside the input folder (a second run would
  read its own outputs) and an input folder inside the output folder, and :func:`output_path`
  never lets an output escape the output folder;
- :func:`run_batch` locks the output folder (:class:`OutputLock`: a second run into it refuses,
  naming the holder), then processes each file; an output that already exists is a finished file
  (outputs are written atomically, so an existing file is complete) and is skipped unless
  ``overwrite``; a file that fails is recorded with its error, its output is removed if the
  failure came after writing it, and the batch goes on; every file gets one line in a JSON-lines
  manifest in the output folder, with the warnings libraries emitted while it was processed
  (:func:`captured_warnings`: they never reach the terminal between progress lines). An
  interrupted run started again finishes the rest; a finished output the manifest does not name
  (a run killed between writing it and recording it) then gets a ``skipped`` record with a
  ``note``, so that every output has its line.
- the per-file work (:func:`process_file`) can run elsewhere: ``run_batch(..., engine=...)``
  hands the files left after the skip rule to an engine (the Ray engine,
  :mod:`enhance.ray_engine`, runs :func:`process_file` on a cluster's actors) while the lock, the
  skip rule and the manifest stay here.
"""

from __future__ import annotations

import contextlib
import datetime
import glob
import json
import os
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .errors import EnhanceError, UnwritableImage, one_line
from .io.capture import LIBRARY_LOGGERS, captured_warnings  # noqa: F401 - re-exported
from .io.formats import split_extension
from .names import PREVIEW_NAME

MANIFEST_NAME = "manifest.jsonl"

#: The lock file :class:`OutputLock` keeps in an output folder while a batch writes into it.
LOCK_NAME = ".enhance.lock"


@dataclass(frozen=True)
class InputFile:
    """An input image: where it is, and its path relative to the input root (POSIX form)."""

    path: Path
    relpath: PurePosixPath


def _is_candidate(path: Path) -> bool:
    from .io import is_supported

    name = path.name
    return not name.startswith(".") and not name.endswith(".part") and is_supported(path)


def _is_listed(path: Path) -> bool:
    """A regular file, or an entry with an image's name that is not one (a folder named
    ``x.png``, a dangling link, a link loop, a pipe, a socket, a device): listed so that it is
    reported (:func:`enhance.io.read_image` names what it is), not skipped."""
    from .io.formats import format_from_name

    try:
        if path.is_file():
            return True
    except OSError:  # a link loop on some Pythons
        pass
    return format_from_name(path.name) is not None and os.path.lexists(path)


def _own_preview(folder):
    """``folder/preview.png`` when it is the contact sheet ``enhance run`` wrote there (beside a
    ``manifest.jsonl`` that does not name it as an output), else None: a later job given the
    output folder (``enhance score REF OUT``) must not take the sheet for an image of the run."""
    sheet, manifest = folder / PREVIEW_NAME, folder / "manifest.jsonl"
    if not (sheet.is_file() and manifest.is_file()):
        return None
    sheet = sheet.resolve()
    try:
        records = Manifest(manifest).records()
    except EnhanceError:  # not a manifest of ours (a link, ...): the sheet is an image
        return None
    for record in records:
        if Path(str(record.get("output") or "")).resolve() == sheet:
            return None
    return sheet


def discover(source, *, exclude=()):
    """List the image files of a folder (recursive), a single file, or a glob pattern.

    Parameters
    ----------
    source : str or Path
        A folder, a file, or a pattern with ``*``, ``?`` or ``[`` (``**`` recurses).
    exclude : iterable of Path, keyword-only
        Folders whose files are left out (e.g. the output folder).

    Returns
    -------
    root : Path
        The folder relative paths are taken from.
    files : list of InputFile
        Sorted by relative path (the order the spec's seed rule uses). Hidden files and
        files with an extension the package cannot read are left out; empty or corrupt files,
        and entries with an image's name that are not files (folders, dangling links, link
        loops), are kept, so that they are reported. A folder's ``preview.png`` written by
        ``enhance run`` is not an image of the folder (:func:`_own_preview`).

    Raises
    ------
    EnhanceError
        When ``source`` does not exist or a pattern matches nothing.
    """
    source = str(source)
    excluded = [Path(e).resolve() for e in exclude]

    def keep(p: Path) -> bool:
        try:
            rp = p.resolve()
        except (OSError, RuntimeError):  # a link loop: where the link itself is
            rp = p.parent.resolve() / p.name
        return not any(rp == e or e in rp.parents for e in excluded)

    if any(ch in source for ch in "*?["):
        prefix = []
        for part in Path(source).parts:
            if any(ch in part for ch in "*?["):
                break
            prefix.append(part)
        root = Path(*prefix) if prefix else Path(".")
        paths = [Path(p) for p in glob.glob(source, recursive=True)]
        paths = [p for p in paths if _is_listed(p) and _is_candidate(p) and keep(p)]
        if not paths:
            raise EnhanceError(f"{source}: no image file matches this pattern")
    else:
        src = Path(source)
        if src.is_dir():
            root = src
            sheet = _own_preview(src)
            if sheet is not None:
                excluded.append(sheet)
            paths = [
                p
                for p in src.rglob("*")
                if _is_listed(p)
                and _is_candidate(p)
                and not any(part.startswith(".") for part in p.relative_to(src).parts)
                and keep(p)
            ]
        elif src.is_file():
            root = src.parent
            paths = [src]
        else:
            raise EnhanceError(f"{source}: no such file or folder")
    files = [InputFile(p, PurePosixPath(p.relative_to(root).as_posix())) for p in paths]
    return root, sorted(files, key=lambda f: str(f.relpath))


def input_root(files):
    """The folder the relative paths of ``files`` (:func:`discover`'s) were taken from, or None.

    Each :class:`InputFile` is ``root / relpath``, so the first one's path less its relative
    path's parts is the root (``.`` for files in the working directory).
    """
    if not files:
        return None
    parts = Path(files[0].path).parts
    depth = len(PurePosixPath(files[0].relpath).parts)
    return Path(*parts[: len(parts) - depth]) if len(parts) > depth else Path(".")


def check_output_dir(source_root, out_dir):
    """Refuse an output folder that is the input folder or inside it, or that holds it.

    ``source_root`` may be a single input file: the input is then that file, not its folder
    (``enhance run scans/a.png scans/out`` is fine); only the file itself is refused.

    Raises
    ------
    EnhanceError
    """
    src = Path(source_root).resolve()
    out = Path(out_dir).resolve()
    if src.is_file():
        if out == src:
            raise EnhanceError(f"{out_dir}: the output folder is the input file itself")
        return
    if out == src or src in out.parents:
        raise EnhanceError(
            f"{out_dir}: the output folder is inside the input folder {source_root}; "
            "choose an output folder outside it"
        )
    if out in src.parents:
        raise EnhanceError(
            f"{out_dir}: the input folder {source_root} is inside the output folder (its files "
            "would be taken for outputs); choose an output folder outside it"
        )


def discover_for(source, out_dir):
    """:func:`discover` of ``source`` without ``out_dir``, then :func:`check_output_dir`: a
    single file is its own input (``enhance degrade scans/a.png scans/out`` is fine), a folder
    or a glob its root (an input inside OUT is refused even though its files, under OUT, were
    left out). Returns ``(root, files)``; none found is the caller's one line. Every folder
    job (run, degrade, denoise, augment) lists its inputs with this."""
    root, files = discover(source, exclude=[out_dir])
    check_output_dir(source if Path(source).is_file() else root, out_dir)
    return root, files


def output_path(out_dir, relpath, *, suffix=None):
    """The output file for ``relpath``: same relative path under ``out_dir``, maybe a new suffix.

    ``suffix`` replaces the input's extension (``.nii.gz`` counts as one extension).
    Raises :class:`EnhanceError` if the result would fall outside ``out_dir``.
    """
    rel = PurePosixPath(relpath)
    if suffix is not None:
        rel = rel.with_name(split_extension(rel.name)[0] + suffix)
    out_root = Path(out_dir).resolve()
    try:
        target = (out_root / Path(*rel.parts)).resolve()
    except (OSError, RuntimeError) as error:  # a link loop in the output folder
        raise EnhanceError(f"{relpath}: cannot place its output in {out_dir} ({error})") from None
    if out_root not in target.parents:
        raise EnhanceError(f"{relpath}: output would be written outside {out_dir}")
    return target


@dataclass
class FileResult:
    """What happened to one input file."""

    input: str
    output: str
    status: str  # "done", "skipped", "failed", "planned"
    error: str = ""
    seconds: float = 0.0
    details: dict = field(default_factory=dict)

    def as_record(self):
        record = {
            "input": self.input,
            "output": self.output,
            "status": self.status,
            "error": self.error,
            "seconds": round(self.seconds, 4),
        }
        record.update(self.details)
        return record


@dataclass
class BatchResult:
    """All file results of a batch, with counts and a summary of the failures.

    ``root`` is the folder the inputs' relative paths were taken from (:func:`discover`'s
    root; None for a batch of no files), so that a caller need not list the input again.
    """

    results: list
    root: Path | None = None

    def count(self, status):
        return sum(r.status == status for r in self.results)

    @property
    def failed(self):
        return [r for r in self.results if r.status == "failed"]

    @property
    def ok(self):
        return not self.failed

    def summary(self):
        line = (
            f"{self.count('done')} done, {self.count('skipped')} skipped (already finished), "
            f"{len(self.failed)} failed"
        )
        if self.count("planned"):
            line = f"{self.count('planned')} to do, " + line
        if self.failed:
            line += ":\n" + "\n".join(f"  {r.error}" for r in self.failed)
        return line


#: The note of a ``skipped`` record written for a finished output the manifest did not name.
UNRECORDED_NOTE = "finished output found without a record (a run stopped after writing it)"


class Manifest:
    """A JSON-lines log in the output folder: one record per file processed, appended and flushed.

    The file is opened without following links and only when it is a regular file
    (:func:`enhance.io.atomic.open_regular`): a link planted in its place is refused, never
    written through, and a device is never read. A line longer than :data:`MAX_LINE` bytes is
    skipped unread; a line cut by a full disk or a kill is ended before the next record.
    """

    #: The longest manifest line read (bytes); longer ones are no record of ours.
    MAX_LINE = 4 << 20

    def __init__(self, path):
        self.path = Path(path)

    def _open(self, flags, action):
        from .io.atomic import open_regular

        try:
            return open_regular(self.path, flags)
        except OSError as error:
            raise EnhanceError(f"{self.path}: cannot {action} the manifest "
                               f"({_os_cause(error)})") from None

    def append(self, record):
        """Append one record (a line) and fsync it; a last line left without its end (a write
        cut by a full disk) is ended first, so that the record is not glued to it.

        Raises
        ------
        EnhanceError
            The manifest cannot be written (read-only or full disk, a link or not a regular
            file, ...): one line naming it.
        """
        line = (json.dumps(json_safe(record), sort_keys=True, default=str, allow_nan=False)
                + "\n").encode("utf-8")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise EnhanceError(f"{self.path}: cannot write the manifest ({_os_cause(error)})") from None
        fd = self._open(os.O_RDWR | os.O_APPEND | os.O_CREAT, "write")
        try:
            size = os.fstat(fd).st_size
            if size and _byte_at(fd, size - 1) != b"\n":
                line = b"\n" + line
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError as error:
            raise EnhanceError(f"{self.path}: cannot write the manifest ({_os_cause(error)})") from None
        finally:
            os.close(fd)

    def recorded_outputs(self):
        """``(input, output)`` of the records whose file has its output (done or skipped)."""
        return {(r.get("input"), r.get("output")) for r in self.records()
                if r.get("status") in ("done", "skipped")}

    def _lines(self, fh):
        while True:
            line = fh.readline(self.MAX_LINE + 1)
            if not line:
                return
            if len(line) > self.MAX_LINE and not line.endswith(b"\n"):
                while line and not line.endswith(b"\n"):  # an overlong line: skipped unread
                    line = fh.readline(1 << 20)
                continue
            yield line

    def records(self):
        """All records, the last one per input winning (a resumed run appends).

        Raises
        ------
        EnhanceError
            The manifest is a link, not a regular file, or cannot be read.
        """
        if not os.path.lexists(self.path):
            return []
        latest = {}
        fd = self._open(os.O_RDONLY, "read")
        try:
            with os.fdopen(fd, "rb") as fh:
                for line in self._lines(fh):
                    try:
                        record = json.loads(line.decode("utf-8"))
                    except (UnicodeDecodeError, json.JSONDecodeError):  # a line cut by a kill
                        continue
                    if isinstance(record, dict):
                        latest[record.get("input")] = record
        except OSError as error:
            raise EnhanceError(f"{self.path}: cannot read the manifest ({_os_cause(error)})") from None
        return list(latest.values())


def json_safe(value):
    """``value`` with every NaN or infinite float replaced by None: JSON has no such numbers
    (Python would write ``NaN``/``Infinity``, which other readers refuse)."""
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _byte_at(fd, offset):
    if hasattr(os, "pread"):
        return os.pread(fd, 1, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # Windows (the file is opened for appending anyway)
    return os.read(fd, 1)


def _os_cause(error):
    """'No space left on device' from an OSError, without the errno and file name clutter."""
    return error.strerror or str(error) or type(error).__name__


def _describe(error, path):
    """One line naming the input ``path`` and the cause (the output, if that is what failed)."""
    text = one_line(error)
    if isinstance(error, UnwritableImage) and str(path) not in text:
        return f"{path}: cannot write its output {error.path}: {one_line(error.cause)}"
    if isinstance(error, EnhanceError):
        return text if str(path) in text else f"{path}: {text}"
    if isinstance(error, MemoryError):
        return f"{path}: out of memory" + (f" ({text})" if text else "")
    return f"{path}: {type(error).__name__}: {text}" if text else f"{path}: {type(error).__name__}"


# --- the lock on an output folder ------------------------------------------------------------


def _holder_text(info):
    if not info:
        return "pid unknown"
    text = f"pid {info.get('pid', '?')} on {info.get('host', '?')}"
    return text + (f", since {info['started']}" if info.get("started") else "")


def _read_holder(path):
    from .io.atomic import open_regular

    try:
        fd = open_regular(path, os.O_RDONLY)
        try:
            info = json.loads(os.read(fd, 4096).decode("utf-8") or "{}")
        finally:
            os.close(fd)
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _pid_alive(pid):
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, ValueError, TypeError, OverflowError):
        return True
    return True


class OutputLock:
    """An exclusive lock on an output folder, held while a batch writes into it.

    The lock is ``OUT/.enhance.lock`` (hidden, so never taken for an input), locked with
    ``flock`` and holding the holder's pid, host and start time. The kernel releases a flock
    when its process dies (even by kill -9), so a lock file left by a dead run is simply taken
    over. Where ``flock`` is missing, the file is created exclusively and a file whose pid no
    longer runs on this host is taken over.

    Use as a context manager; :meth:`acquire` raises :class:`EnhanceError` (one line naming the
    holder) when another run holds the folder.
    """

    def __init__(self, out_dir):
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / LOCK_NAME
        self._fd = None

    def _info(self):
        started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        return {"pid": os.getpid(), "host": socket.gethostname(), "started": started}

    def _refuse(self, info):
        raise EnhanceError(
            f"{self.out_dir}: another enhance run ({_holder_text(info)}) is writing into this "
            f"folder; wait for it to finish or choose another output folder (lock {self.path})"
        )

    def acquire(self):
        """Take the lock (creating the folder); :class:`EnhanceError` if another run holds it."""
        from .io.atomic import NotRegularFile

        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            if _fcntl is None:
                self._acquire_exclusive()
            else:
                self._acquire_flock()
        except NotRegularFile as error:  # planted: never followed, truncated or written
            raise EnhanceError(f"{self.path}: the lock file {_os_cause(error)}; remove it (a "
                               "run's lock is a regular file)") from None
        except OSError as error:
            raise EnhanceError(
                f"{self.out_dir}: cannot write into the output folder ({_os_cause(error)})"
            ) from None
        return self

    def _acquire_flock(self):
        from .io.atomic import open_regular

        while True:
            fd = open_regular(self.path, os.O_RDWR | os.O_CREAT)
            try:
                _fcntl.flock(fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                self._refuse(_read_holder(self.path))
            except BaseException:
                os.close(fd)
                raise
            try:  # the holder we waited for may have removed the file: lock the new one
                same = os.lstat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        try:
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps(self._info()).encode())
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def _acquire_exclusive(self):
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)  # no link
            except FileExistsError:
                info = _read_holder(self.path)
                if info.get("host") == socket.gethostname() and not _pid_alive(info.get("pid")):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self.path)  # a dead run's lock: take it over
                    continue
                self._refuse(info)
            os.write(fd, json.dumps(self._info()).encode())
            self._fd = fd
            return
        self._refuse(_read_holder(self.path))

    def release(self):
        """Remove the lock file and release the lock."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self._fd)
        self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


try:
    import fcntl as _fcntl
except ImportError:  # Windows
    _fcntl = None


def _remove_stale_parts(target):
    """Remove the temporary files a killed run left for ``target`` (``.NAME.XXXXXXXX.part``,
    :func:`enhance.io.atomic.part_prefix`), only ``target``'s."""
    from .io.atomic import PART_SUFFIX, part_prefix

    prefix = part_prefix(target.name)
    own = re.compile(re.escape(prefix) + r"[0-9a-f]{8}" + re.escape(PART_SUFFIX))
    for part in target.parent.glob(f"{glob.escape(prefix)}*{PART_SUFFIX}"):
        if own.fullmatch(part.name):
            with contextlib.suppress(OSError):
                part.unlink()


def run_batch(
    files,
    out_dir,
    process,
    *,
    output_for,
    overwrite=False,
    dry_run=False,
    manifest=MANIFEST_NAME,
    progress=None,
    engine=None,
    redact=None,
    held=None,
):
    """Process ``files`` into ``out_dir``: one by one here, or elsewhere through ``engine``.

    Parameters
    ----------
    files : list of InputFile
    out_dir : str or Path
    process : callable
        ``process(input_file, output_path) -> dict``: reads the input, writes the output
        atomically (``enhance.io.write_image`` does) and returns details for the manifest.
    output_for : callable, keyword-only
        ``output_for(input_file) -> Path`` of its output.
    overwrite : bool, keyword-only
        Redo files whose output exists.
    dry_run : bool, keyword-only
        Only list what would be done (status ``planned``); nothing is written.
    manifest : str or None, keyword-only
        File name of the manifest inside ``out_dir`` (None: no manifest).
    progress : callable, optional
        The package's progress protocol, ``progress(done, total, file_result)``: ``total`` is
        ``len(files)`` (skipped and failed files included: the number of results the run
        produces), ``done`` the number of results so far. Called once as
        ``progress(0, total, None)`` when the lock is held, before the first file (so that a
        bar can be sized before a long first file; ``file_result`` is None only then), then
        after each file's result, ``done`` counting up to ``total``.
    engine : callable, optional, keyword-only
        Where the files that need processing are processed. ``None`` (the local engine): one
        at a time in this process, with ``process``. Otherwise ``engine(todo)`` gets the list
        of ``(input_file, output_path)`` left once finished outputs are skipped and returns an
        iterator of one :class:`FileResult` per pair, in any order (the order of completion),
        each made by :func:`process_file` wherever it ran (e.g. :class:`enhance.ray_engine.RayEngine`).
        Either way this function alone holds the lock, applies the skip rule and appends to
        the manifest, as each result arrives; ``process`` may then be None.
    redact : callable, optional, keyword-only
        ``redact(record) -> record``: what the manifest holds of each file's record (e.g.
        :func:`enhance.outputs.redactor` under ``--anonymize``: no input name); the results
        returned keep the inputs' names.
    held : OutputLock, optional, keyword-only
        The lock on ``out_dir``, already held by the caller for longer than the batch (the PACS
        store's resume, :meth:`enhance.sources.RunSource.attached`): the batch runs under it
        instead of taking its own, so that no other run can take the folder in between.

    Returns
    -------
    BatchResult
        With the inputs' ``root`` (:func:`input_root`). Status, output and exit status agree: ``done`` files have their output, ``failed``
        ones have none (an output written before the failure is removed), ``skipped`` ones
        had a finished output already. Results are in the order of ``files``.

    Raises
    ------
    EnhanceError
        Another run holds the output folder (:class:`OutputLock`), the folder or the manifest
        cannot be written: one line; the files finished so far keep their outputs.
    """
    out_dir = Path(out_dir)
    log = Manifest(out_dir / manifest) if manifest and not dry_run else None
    if held is not None and (held._fd is None
                             or os.path.realpath(held.out_dir) != os.path.realpath(out_dir)):
        raise EnhanceError(f"{out_dir}: run_batch was given a lock that does not hold this folder")
    lock = contextlib.nullcontext() if dry_run or held is not None else OutputLock(out_dir)
    results = []
    total = len(files)
    with lock:
        recorded = log.recorded_outputs() if log is not None else set()
        if progress is not None:
            progress(0, total, None)
        if engine is None or dry_run:
            stream = (_one_file(item, process, output_for, overwrite=overwrite, dry_run=dry_run)
                      for item in files)
        else:
            stream = _engine_results(files, output_for, engine, overwrite=overwrite)
        try:
            for result in stream:
                record = result.as_record() if redact is None else redact(result.as_record())
                if log is not None and result.status != "skipped":
                    log.append(record)
                elif log is not None and (record["input"], record["output"]) not in recorded:
                    # a finished output the manifest does not name (a run killed between
                    # writing it and recording it): recorded now, so that every output has one
                    log.append({**record, "note": UNRECORDED_NOTE})
                results.append(result)
                if progress is not None:
                    progress(len(results), total, result)
        finally:
            stream.close()  # an engine stops (and releases its cluster) before the lock goes
    if engine is not None and not dry_run:  # arrived in the order of completion
        order = {str(item.path): index for index, item in enumerate(files)}
        results.sort(key=lambda r: order.get(r.input, len(order)))
    return BatchResult(results, root=input_root(files))


def _engine_results(files, output_for, engine, *, overwrite):
    """The results of a batch run by ``engine``: first the files settled here (skipped, or
    failed to get an output path), then one per file handed to the engine, as they arrive."""
    todo = []
    for item in files:
        result = _settle(item, output_for, overwrite=overwrite, dry_run=False)
        if isinstance(result, FileResult):
            yield result
        else:
            todo.append((item, result))
    if not todo:
        return
    expected = {str(item.path) for item, _ in todo}
    for result in engine(todo):
        if result.input not in expected:  # an engine's fault: never two records for a file
            raise EnhanceError(f"{result.input}: the engine returned a result it was not asked for")
        expected.discard(result.input)
        yield result
    if expected:
        raise EnhanceError(
            f"the engine returned no result for {len(expected)} file(s), e.g. {min(expected)}; "
            "run again to process them"
        )


def _stat_key(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _settle(item, output_for, *, overwrite, dry_run):
    """The driver's part of one file: its output path, or a :class:`FileResult` when nothing
    is to be processed (no output path: failed; a finished output: skipped; a dry run: planned)."""
    try:
        target = output_for(item)
    except EnhanceError as error:
        return FileResult(str(item.path), "", "failed", _describe(error, item.path))
    if target.is_file() and not overwrite:  # a folder of that name is no finished output
        return FileResult(str(item.path), str(target), "skipped")
    if dry_run:
        return FileResult(str(item.path), str(target), "planned")
    return target


def process_file(item, target, process):
    """Process one file into ``target`` (whatever its state): the per-file work of every engine.

    Temporary files a killed run left for ``target`` are removed, the warnings libraries emit
    are collected into the result, and an exception becomes a ``failed`` result naming the
    file, with any output it wrote removed (status and output agree).

    Parameters
    ----------
    item : InputFile
    target : Path
    process : callable
        ``process(item, target) -> dict`` (see :func:`run_batch`).

    Returns
    -------
    FileResult
        ``done`` or ``failed``, with the seconds it took.
    """
    start = time.perf_counter()
    _remove_stale_parts(target)
    before = _stat_key(target)
    with captured_warnings() as caught:
        try:
            details = process(item, target) or {}
            result = FileResult(str(item.path), str(target), "done", details=details)
        except Exception as error:  # noqa: BLE001 - a file's fault stays with the file
            result = FileResult(
                str(item.path), str(target), "failed", _describe(error, item.path)
            )
            after = _stat_key(target)
            if after is not None and after != before and target.is_file():
                with contextlib.suppress(OSError):  # written, then failed: not done
                    target.unlink()
    if caught:
        result.details["warnings"] = caught
    result.seconds = time.perf_counter() - start
    return result


def _one_file(item, process, output_for, *, overwrite, dry_run):
    start = time.perf_counter()
    settled = _settle(item, output_for, overwrite=overwrite, dry_run=dry_run)
    if isinstance(settled, FileResult):
        settled.seconds = time.perf_counter() - start
        return settled
    result = process_file(item, settled, process)
    result.seconds = time.perf_counter() - start
    return result
