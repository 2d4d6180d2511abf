"""Run one function over many image files, safely.

The engine behind every folder job (``enhance degrade``, ``denoise``, ``run``, ...):

- :func:`discover` turns a folder (recursive), a single file or a glob into a sorted list of
  :class:`InputFile` (path + relative path), so outputs mirror the input layout;
- :func:`check_output_dir` refuses an output folder inside the input folder (a second run would
  read its own outputs) and :func:`output_path` never lets an output escape the output folder;
- :func:`run_batch` processes each file; an output that already exists is a finished file (outputs
  are written atomically, so an existing file is complete) and is skipped unless ``overwrite``;
  a file that fails is recorded with its error and the batch goes on; every file gets one line in
  a JSON-lines manifest in the output folder. An interrupted run started again finishes the rest.
"""

from __future__ import annotations

import glob
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .errors import EnhanceError

MANIFEST_NAME = "manifest.jsonl"


@dataclass(frozen=True)
class InputFile:
    """An input image: where it is, and its path relative to the input root (POSIX form)."""

    path: Path
    relpath: PurePosixPath


def _is_candidate(path: Path) -> bool:
    from .io import is_supported

    name = path.name
    return not name.startswith(".") and not name.endswith(".part") and is_supported(path)


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
        files with an extension the package cannot read are left out; empty or corrupt files are
        kept, so that they are reported.

    Raises
    ------
    EnhanceError
        When ``source`` does not exist or a pattern matches nothing.
    """
    source = str(source)
    excluded = [Path(e).resolve() for e in exclude]

    def keep(p: Path) -> bool:
        rp = p.resolve()
        return not any(rp == e or e in rp.parents for e in excluded)

    if any(ch in source for ch in "*?["):
        prefix = []
        for part in Path(source).parts:
            if any(ch in part for ch in "*?["):
                break
            prefix.append(part)
        root = Path(*prefix) if prefix else Path(".")
        paths = [Path(p) for p in glob.glob(source, recursive=True)]
        paths = [p for p in paths if p.is_file() and _is_candidate(p) and keep(p)]
        if not paths:
            raise EnhanceError(f"{source}: no image file matches this pattern")
    else:
        src = Path(source)
        if src.is_dir():
            root = src
            paths = [
                p
                for p in src.rglob("*")
                if p.is_file()
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


def check_output_dir(source_root, out_dir):
    """Refuse an output folder that is the input folder or inside it.

    Raises
    ------
    EnhanceError
    """
    src = Path(source_root).resolve()
    out = Path(out_dir).resolve()
    if out == src or src in out.parents:
        raise EnhanceError(
            f"{out_dir}: the output folder is inside the input folder {source_root}; "
            "choose an output folder outside it"
        )


def output_path(out_dir, relpath, *, suffix=None):
    """The output file for ``relpath``: same relative path under ``out_dir``, maybe a new suffix.

    ``suffix`` replaces the input's extension (``.nii.gz`` counts as one extension).
    Raises :class:`EnhanceError` if the result would fall outside ``out_dir``.
    """
    rel = PurePosixPath(relpath)
    if suffix is not None:
        name = rel.name
        for ext in (".nii.gz",):
            if name.lower().endswith(ext):
                name = name[: -len(ext)]
                break
        else:
            name = PurePosixPath(name).stem if PurePosixPath(name).suffix else name
        rel = rel.with_name(name + suffix)
    out_root = Path(out_dir).resolve()
    target = (out_root / Path(*rel.parts)).resolve()
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
    """All file results of a batch, with counts and a summary of the failures."""

    results: list

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


class Manifest:
    """A JSON-lines log in the output folder: one record per file processed, appended and flushed."""

    def __init__(self, path):
        self.path = Path(path)

    def append(self, record):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, sort_keys=True, default=str) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def records(self):
        """All records, the last one per input winning (a resumed run appends)."""
        if not self.path.exists():
            return []
        latest = {}
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:  # a line cut by a kill: ignore it
                    continue
                latest[record.get("input")] = record
        return list(latest.values())


def _describe(error, path):
    if isinstance(error, EnhanceError):
        text = str(error)
        return text if str(path) in text else f"{path}: {text}"
    return f"{path}: {type(error).__name__}: {error}"


def _remove_stale_parts(target):
    """Remove the temporary files a killed run left for ``target`` (``.NAME.XXXX.part``)."""
    for part in target.parent.glob(f".{glob.escape(target.name)}.*.part"):
        try:
            part.unlink()
        except OSError:
            pass


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
):
    """Process ``files`` one by one into ``out_dir``.

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
        Called as ``progress(file_result)`` after each file.

    Returns
    -------
    BatchResult
    """
    out_dir = Path(out_dir)
    log = Manifest(out_dir / manifest) if manifest and not dry_run else None
    results = []
    for item in files:
        start = time.perf_counter()
        try:
            target = output_for(item)
        except EnhanceError as error:
            result = FileResult(str(item.path), "", "failed", _describe(error, item.path))
        else:
            if target.exists() and not overwrite:
                result = FileResult(str(item.path), str(target), "skipped")
            elif dry_run:
                result = FileResult(str(item.path), str(target), "planned")
            else:
                _remove_stale_parts(target)
                try:
                    details = process(item, target) or {}
                    result = FileResult(str(item.path), str(target), "done", details=details)
                except (EnhanceError, OSError, ValueError, RuntimeError, MemoryError) as error:
                    result = FileResult(
                        str(item.path), str(target), "failed", _describe(error, item.path)
                    )
        result.seconds = time.perf_counter() - start
        if log is not None and result.status != "skipped":
            log.append(result.as_record())
        results.append(result)
        if progress is not None:
            progress(result)
    return BatchResult(results)
