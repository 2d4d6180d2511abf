"""Where the inputs of ``enhance run`` come from, and where its outputs go besides OUT.

- a folder, a file or a glob: :func:`enhance.batch.discover`;
- a DICOMweb study or series URL (``http(s)://HOST[:PORT]/.../studies/<Study>[/series/<Series>]``):
  QIDO-RS lists its instances (those ``enhance run`` derived are left out, so a study can be run
  again once its derived series are stored in it); each is an item (:class:`RemoteInstance`) whose
  file is retrieved (WADO-RS) into ``OUT/.retrieved/<series>/<instance>.dcm`` when the batch
  processes it, at most once, and enhanced exactly as a folder run would;
- with ``store`` (a DICOMweb service root), each DICOM output is stored (STOW-RS) into its
  source's study as one new series per source series (:mod:`enhance.sources.store`,
  :mod:`enhance.sources.derived`); the manifest records it (``stored``), a finished output a
  previous run could not store is stored first (:meth:`RunSource.resume`), and one that cannot be
  stored keeps its output and fails the run (run it again to store it).

The batch engine (:func:`enhance.batch.run_batch`) sees items, not where they came from.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .. import batch
from ..batch import InputFile
from ..errors import EnhanceError, one_line
from .dicomweb import Connection, is_url, parse_url, same_service

__all__ = ["RunSource", "RemoteInstance", "Connection", "RETRIEVED", "is_url"]

#: The hidden folder of OUT that holds the instances retrieved from a DICOMweb source.
RETRIEVED = ".retrieved"

#: An instance whose DerivationDescription starts so was made by ``enhance run``: not a source.
_DERIVED_BY_RUN = "enhance run "

#: How many items of a DICOMweb source are retrieved ahead of the one being enhanced.
PREFETCH = 2

_UID = re.compile(r"[0-9]+(\.[0-9]+)*")


@dataclass(frozen=True)
class RemoteInstance(InputFile):
    """An instance of a DICOMweb study: ``path`` is where it is retrieved to (in OUT)."""

    url: str = ""
    study: str = ""
    series: str = ""
    instance: str = ""


class RunSource:
    """The inputs of one ``enhance run`` and the DICOMweb service its outputs are stored into.

    Parameters
    ----------
    source : str or Path
        A folder, a file, a glob, or a DICOMweb study or series URL.
    out_dir : str or Path
    options : enhance.run_options.RunOptions
        The run's options, already checked (``store``, ``connection``, ``output_format`` and
        the engine against each other); read here: ``store``, ``connection``, ``anonymize``,
        ``engine``.

    Raises
    ------
    EnhanceError
        What depends on the source: a URL that is no DICOMweb study or series, credentials in a
        URL, de-identified outputs stored into the source's own service, ``anonymize`` with a
        DICOMweb source, a DICOMweb source on another engine than ``local``.
    """

    def __init__(self, source, out_dir, options):
        self.source, self.out_dir = str(source), Path(out_dir)
        self.connection = options.connection or Connection()
        self.remote = parse_url(self.source) if is_url(self.source) else None
        self.store_root = options.store  # checked by RunOptions (check_root)
        anonymize = options.anonymize
        if anonymize and self.remote:
            if self.store_root and same_service(self.remote[0], self.store_root):
                raise EnhanceError(
                    f"--anonymize with --store {self.store_root}: a de-identified copy does not "
                    "belong in the PACS the study came from; store it into another service, or "
                    "drop --anonymize")
            raise EnhanceError(
                "--anonymize with a DICOMweb source: the retrieved instances are kept in "
                f"{Path(out_dir) / RETRIEVED} with their identities; retrieve the study into a "
                "folder outside OUT_DIR and de-identify from there")
        if options.engine != "local" and self.remote:
            raise EnhanceError("a DICOMweb source runs on the local engine only")
        self._service = None
        self.store = None
        if self.store_root is not None:
            from .store import Store

            self.store = Store(self.store_root, self.connection)  # credentials read now
        self._unstored = {}  # input -> why its finished output could not be stored
        self._describe_source = not anonymize

    @property
    def service(self):
        """The source's :class:`enhance.sources.dicomweb.Service` (a DICOMweb source only)."""
        if self._service is None:
            from .dicomweb import Service

            self._service = Service(self.remote[0], self.connection)
        return self._service

    # -- the items ------------------------------------------------------------------------

    def discover(self):
        """``(root, items)``: :func:`enhance.batch.discover_for`'s for a folder, a file or a glob
        (a single file is its own input, so OUT may be beside it; none found is the caller's
        one line), else the
        study's or series' instances (QIDO-RS), sorted by series and instance UID."""
        if self.remote is None:
            return batch.discover_for(self.source, self.out_dir)
        service_root, study, series = self.remote
        found = self.service.instances(study, series, fields=["DerivationDescription"])
        items, derived, odd = [], 0, 0
        local = self.out_dir / RETRIEVED
        from .dicomweb import value

        for entry in found:
            series_uid, sop = value(entry, "0020000E"), value(entry, "00080018")
            if not (series_uid and sop and _UID.fullmatch(series_uid) and _UID.fullmatch(sop)):
                odd += 1
                continue
            if str(value(entry, "00082111") or "").startswith(_DERIVED_BY_RUN):
                derived += 1
                continue
            url = f"{service_root}/studies/{study}/series/{series_uid}/instances/{sop}"
            items.append(RemoteInstance(local / series_uid / f"{sop}.dcm",
                                        PurePosixPath(series_uid, f"{sop}.dcm"), url=url,
                                        study=study, series=series_uid, instance=sop))
        if not items:
            notes = [f"{derived} made by enhance run left out" if derived else "",
                     f"{odd} without valid UIDs" if odd else ""]
            notes = ", ".join(n for n in notes if n)
            raise EnhanceError(f"{self.source}: no instance to enhance on the server"
                               + (f" ({notes})" if notes else ""))
        return local, sorted(items, key=lambda item: str(item.relpath))

    # -- the per-item work ----------------------------------------------------------------

    @contextlib.contextmanager
    def attached(self, process, *, files, output_for, overwrite=False, progress=None, redact=None):
        """``(process, progress)`` for :func:`enhance.batch.run_batch`, with the DICOMweb work
        around the per-item work; a context manager (its threads end with it).

        First the finished outputs a previous run could not store are stored (:meth:`resume`).
        Then each item of a DICOMweb source is retrieved before ``process`` runs on it, by a
        thread that keeps :data:`PREFETCH` items ahead of the batch (an item whose output is
        finished is never retrieved); with ``store``, each output the batch finishes is stored
        by a second thread while the batch goes on to the next item, and once stored the
        manifest gets its record again with ``stored`` (or ``store_error``: the output is kept,
        :meth:`finish` fails it, a rerun stores it). ``progress`` is called as before; the last
        call waits for the stores, so that all of them happen while the batch holds the lock.
        Yields ``(process, progress, held)``: ``held`` is the lock on OUT taken (with a store)
        before the resume, to give to :func:`enhance.batch.run_batch`, or None.
        ``redact`` is :func:`enhance.batch.run_batch`'s (``--anonymize``): the records appended
        here are redacted the same way.
        """
        if self.remote is None and self.store is None:
            yield process, progress, None
            return
        # with a store, the lock on OUT is held from the resume's reading of the manifest to the
        # end of the batch (given to run_batch as ``held``): no other run can start in between
        lock = batch.OutputLock(self.out_dir) if self.store is not None else contextlib.nullcontext()
        with lock as held:
            self.resume(files, output_for, redact=redact, held=held)
            with self._attached(process, files=files, output_for=output_for, overwrite=overwrite,
                                progress=progress, redact=redact) as pair:
                yield (*pair, held)

    @contextlib.contextmanager
    def _attached(self, process, *, files, output_for, overwrite, progress, redact):
        from concurrent.futures import ThreadPoolExecutor

        fetcher = ThreadPoolExecutor(1, thread_name_prefix="enhance-retrieve") if self.remote else None
        storer = ThreadPoolExecutor(1, thread_name_prefix="enhance-store") if self.store else None
        position = {str(item.path): n for n, item in enumerate(files)}
        fetches, stores = {}, []
        log = batch.Manifest(self.out_dir / batch.MANIFEST_NAME)

        def needed(item):
            if str(item.path) in fetches or Path(item.path).is_file():
                return False
            try:
                return overwrite or not output_for(item).is_file()
            except EnhanceError:
                return False

        def wrapped(item, target):
            if isinstance(item, RemoteInstance):
                key = str(item.path)
                if key not in fetches:
                    fetches[key] = fetcher.submit(self.retrieve, item)
                n = position.get(key, len(files))
                for ahead in files[n + 1 : n + 1 + PREFETCH]:
                    if isinstance(ahead, RemoteInstance) and needed(ahead):
                        fetches[str(ahead.path)] = fetcher.submit(self.retrieve, ahead)
                fetches.pop(key).result()  # its retrieval's error fails the item
            details = process(item, target)
            if isinstance(item, RemoteInstance) and redact is None:
                details["source_url"] = item.url
            return details

        items = {str(item.path): item for item in files}

        def store(item, result):
            result.details.update(self._store(item, result.output, result.details))
            if "stored" in result.details or "store_error" in result.details:
                log.append(result.as_record() if redact is None else redact(result.as_record()))

        def report(done, total, result):
            if storer is not None and result is not None and result.status == "done":
                stores.append(storer.submit(store, items[result.input], result))
            if result is not None and done == total:
                for future in stores:
                    future.result()
            if progress is not None:
                progress(done, total, result)

        try:
            yield wrapped, report
        finally:
            for pool in (fetcher, storer):
                if pool is not None:
                    pool.shutdown(wait=True, cancel_futures=True)

    def retrieve(self, item):
        """Retrieve ``item`` (WADO-RS) into its ``path`` as the server sent it, unless a previous
        run did."""
        from ..io.atomic import atomic_write

        if Path(item.path).is_file():
            return
        data = self.service.retrieve(item.study, item.series, item.instance)
        with atomic_write(item.path) as fh:
            fh.write(data)

    def _store(self, item, target, details):
        from .derived import is_dicom_output

        if not is_dicom_output(target):
            return {"stored": None, "store_note": "not a DICOM output: not stored"}
        try:
            stored = self.store.store_output(target, source=item.path, model=details.get("model", ""),
                                             sha256=details.get("model_sha256", ""),
                                             describe_source=self._describe_source)
        except Exception as error:  # noqa: BLE001 - an output's fault stays with the output
            return {"store_error": one_line(error) or type(error).__name__}
        return {"stored": stored}

    def _stored_here(self, record):
        stored = record.get("stored")
        return isinstance(stored, dict) and same_service(stored.get("root", ""), self.store_root)

    def resume(self, files, output_for, *, redact=None, held=None):
        """Store the finished outputs of ``files`` that the manifest records as not stored
        into ``store`` (a run without ``--store``, or one the server went away from), holding
        the lock on OUT; their manifest records get ``stored``. The ones that still cannot be
        stored fail the run (:meth:`finish`)."""
        from .derived import is_dicom_output

        if self.store is None or not os.path.lexists(self.out_dir / batch.MANIFEST_NAME):
            return
        # the manifest is read under the lock (``held``: the caller's, kept through the batch):
        # another run cannot append between the reading and the stores (nor store the same
        # outputs twice)
        with batch.OutputLock(self.out_dir) if held is None else contextlib.nullcontext():
            log = batch.Manifest(self.out_dir / batch.MANIFEST_NAME)
            records = {record.get("input"): record for record in log.records()}
            pending = []
            for item in files:
                key = str(item.path) if redact is None else redact({"input": str(item.path)})["input"]
                record = records.get(key)
                if (record is None or record.get("status") not in ("done", "skipped")
                        or not record.get("model") or self._stored_here(record)):
                    continue
                target = Path(str(record.get("output") or ""))
                if target.is_file() and is_dicom_output(target):
                    pending.append((item, target, record))
            for item, target, record in pending:
                try:
                    stored = self.store.store_output(target, source=item.path, model=record["model"],
                                                     sha256=record.get("model_sha256", ""),
                                                     describe_source=self._describe_source)
                except EnhanceError as error:
                    self._unstored[str(item.path)] = one_line(error)
                    continue
                kept = {k: v for k, v in record.items() if k not in ("store_error", "store_note")}
                log.append({**kept, "stored": stored})

    def finish(self, result):
        """``result`` with the outputs that could not be stored as failures (the output is
        kept and named; a rerun stores it)."""
        for r in result.results:
            cause = r.details.get("store_error") if r.status == "done" else self._unstored.get(r.input)
            if cause and r.status in ("done", "skipped"):
                r.status = "failed"
                r.error = (f"{r.input}: enhanced into {r.output}, but not stored to {self.store_root}: "
                           f"{cause} (run again to store it)")
        return result
