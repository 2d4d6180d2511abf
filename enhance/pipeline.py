"""Batch enhancement of files with a model: the job behind ``enhance run``.

:func:`enhance_folder` takes one :class:`enhance.run_options.RunOptions`, resolves the model once
(:class:`enhance.run_options.ModelRef`), then read -> restore (tiled, batched) -> write in the
input's own format, one file at a time (:class:`RunRecipe`), through
:func:`enhance.batch.run_batch` (skip finished outputs of the same recipe, atomic writes, a
manifest line per file, failures reported by name while the batch goes on), and draws
``OUT/preview.png``: the command line and the Python API get the same run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .batch import BatchResult
from .errors import EnhanceError
from .run_options import ModelRef, RunOptions
from .tasks import get_task

__all__ = ["enhance_folder", "restore_pixels", "RunRecipe", "RunResult", "RunInterrupted"]


def restore_pixels(model, pixels, options=None, *, is_stack=False, told=None, progress=None):
    """Restore every frame of ``pixels`` with a loaded model.

    Grayscale frames go through the model as they are; colour (RGB) frames channel by channel
    through a one-channel model (each channel is an image of the same scene with the same
    noise model, so no luminance/chroma split is needed and colours are not shifted).

    Parameters
    ----------
    model : enhance.modeldir.LoadedModel
    pixels : ndarray
        (H, W), (H, W, C), or a stack (N, H, W[, C]) when ``is_stack``; float in [0, 1].
    options : enhance.run_options.RunOptions, optional
        Its per-image options: ``exposure``, the noise level told to a noise-conditioned model
        (``sigma``, ``photons``, ``read_noise``; missing ones are estimated per frame),
        ``tile``, ``batch_size``, ``max_memory``, ``self_ensemble`` (see
        :func:`enhance.predict.enhance_image`), ``strength`` (the model's task's
        :meth:`~enhance.tasks.Task.blend`). Default: ``RunOptions()``.
    is_stack : bool, keyword-only
    told : list, optional, keyword-only
        Gets what each frame was told (:func:`enhance.predict.noise_parameters`; nothing for
        a blind model), for the manifest.
    progress : callable, optional, keyword-only
        Called as ``progress(fraction)`` (0..1 over every frame's tiles) after each network call.

    Returns
    -------
    ndarray of float32, same shape.
        Each frame is the model's output blended with the input by ``strength``, with the
        input's own pixels where the task restores nothing
        (:meth:`~enhance.tasks.Task.keep_unrestored`: for speckle, outside the imaging sector and
        on the scanner's text and graphics).
    """
    import numpy as np

    from .predict import enhance_image, noise_parameters
    from .run_options import RunOptions

    options = RunOptions() if options is None else options
    given = {k: getattr(options, k) for k in ("sigma", "photons", "read_noise")}
    told = [] if told is None else told
    task = get_task(model.task)

    def one(frame, index=0, count=1):
        condition = noise_parameters(model, frame, exposure=options.exposure, **given)
        if condition is not None:
            told.append(condition)
        told_now = {k: v for k, v in (condition or {}).items() if k in given}
        step = None if progress is None else (lambda f: progress((index + f) / count))
        restored = enhance_image(model, frame, tile=options.tile, batch_size=options.batch_size,
                                 exposure=options.exposure, self_ensemble=options.self_ensemble,
                                 max_memory=options.max_memory, progress=step, **told_now)
        restored = task.blend(frame, restored, options.strength)
        return task.keep_unrestored(frame, restored)

    if is_stack:
        return np.stack([one(frame, i, len(pixels)) for i, frame in enumerate(pixels)]).astype(np.float32)
    return one(pixels)


def _megapixels(pixels, *, is_stack):
    frames = pixels.shape[0] if is_stack else 1
    height, width = pixels.shape[1:3] if is_stack else pixels.shape[:2]
    return frames * height * width / 1e6


#: The manifest's noise estimates look at the central region of at most this many pixels a side
#: (the whole frame when smaller): a bounded cost in time and memory for very large images.
NOISE_REGION = 4096


def _noise(pixels, *, is_stack):
    from .metrics import estimate_noise

    frame = pixels[len(pixels) // 2] if is_stack else pixels
    top, left = (max(0, (n - NOISE_REGION) // 2) for n in frame.shape[:2])
    region = frame[top : top + NOISE_REGION, left : left + NOISE_REGION]
    return round(float(estimate_noise(region)), 6)


def _summarise_told(told):
    """One manifest entry for what the frames of one file were told (the first frame's source;
    for stacks, each value's range over the frames)."""
    entry = {"source": told[0]["source"]}
    for key in told[0]:
        if key != "source":
            values = [float(t[key]) for t in told]
            low, high = min(values), max(values)
            entry[key] = round(low, 6) if low == high else [round(low, 6), round(high, 6)]
    return entry


@dataclass
class RunResult(BatchResult):
    """What :func:`enhance_folder` did: a :class:`enhance.batch.BatchResult` (``results``,
    ``ok``, ``count``, ``summary()``) with the model that ran and the preview.

    Attributes
    ----------
    model : ModelRef or None
        The model, resolved once.
    preview : str or None
        ``OUT/preview.png`` when it was written.
    preview_note : str
        What the preview shows (`` (6 images: input | output, 3 with PSNR ...)``) or why it was
        not written (``not written: ...``); empty when none was asked for.
    interrupted : bool
        Stopped by Ctrl-C (:class:`RunInterrupted`): ``results`` are the files finished before.
    """

    model: ModelRef | None = None
    preview: str | None = None
    preview_note: str = ""
    interrupted: bool = False

    def summary(self):
        line = super().summary()
        if self.interrupted:
            line += "; interrupted (run the same command again to finish the rest)"
        return line


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`enhance_folder`: a :class:`KeyboardInterrupt` that carries the
    :class:`RunResult` of the files finished before (``result``; ``interrupted`` is True).
    Every finished output is complete and in the manifest; a rerun finishes the rest."""

    def __init__(self, result):
        super().__init__("interrupted")
        self.result = result


class RunRecipe:
    """The per-file work of ``enhance run``, picklable, so that any process can rebuild it: the
    local engine uses it in this process, the Ray engine once in each actor (which loads the
    model itself, :meth:`load`). ``RunRecipe(model, options).process(loaded)`` is
    ``process(item, target)`` of :func:`enhance.batch.run_batch`: read, restore, write
    atomically, return the manifest's details.

    Parameters
    ----------
    model : ModelRef
    options : RunOptions
    deid : enhance.io.deid.Deidentifier, optional, keyword-only
        De-identifies DICOM outputs under ``options.anonymize`` (its key travels with the
        recipe to the Ray actors); None: no de-identification.
    """

    def __init__(self, model, options, *, deid=None):
        self.model = model
        self.options = options.replace(model=model)  # plain data: picklable
        self.deid = deid

    def load(self):
        """Load the model on ``options.runtime`` (:meth:`ModelRef.load`): from its folder, or
        where this machine has the shipped model of that name when the folder is not there
        (another node's installation)."""
        from .io.capture import captured_warnings

        model = self.model
        if model.source == "shipped" and not model.path.is_dir():
            model = ModelRef.resolve(model.path.name)
        with captured_warnings(fd=True):  # TensorFlow's start-up chatter stays off the terminal
            return model.load(precision=self.options.precision, runtime=self.options.runtime)

    def process(self, loaded, *, deid=None, file_progress=None):
        """``process(item, target) -> dict`` with ``loaded`` (:meth:`load`'s model); ``deid``
        (default: the recipe's); ``file_progress`` as :func:`enhance_folder`'s."""
        from .io import read_image
        from .outputs import read_notes, write_output

        deid = self.deid if deid is None else deid
        options, ref = self.options, self.model
        sha = loaded.card.get("weights_sha256", "")
        recipe = options.recipe(ref)
        flags = " --self-ensemble" if options.self_ensemble else ""
        flags += f" --precision {options.precision}" if options.precision != "float32" else ""
        flags += f" --strength {recipe['strength']:g}" if recipe["strength"] != 1.0 else ""
        derivation = f"enhance run --model {loaded.name}{flags} (sha256 {sha[:12]})"

        def process(item, target):
            step = None
            if file_progress is not None:
                file_progress(item.path, 0.0)
                step = lambda fraction: file_progress(item.path, fraction)  # noqa: E731
            image = read_image(item.path, max_pixels=options.max_pixels)
            stack = image.meta.is_stack
            told = []
            restored = restore_pixels(loaded, image.pixels, options, is_stack=stack, told=told,
                                      progress=step)
            write_output(image, restored, target, options.output_format, derivation=derivation,
                         anonymize=deid)
            return {
                "model": loaded.name,
                **ref.describe(),
                "model_sha256": sha,
                "self_ensemble": options.self_ensemble,
                "precision": options.precision,
                "runtime": loaded.runtime,
                **({"noise_level": _summarise_told(told)} if told else {}),
                "shape": list(image.pixels.shape),
                "megapixels": round(_megapixels(image.pixels, is_stack=stack), 4),
                "noise_before": _noise(image.pixels, is_stack=stack),
                "noise_after": _noise(restored, is_stack=stack),
                **read_notes(image),
                **({"anonymized": True} if deid is not None else {}),
                "recipe": recipe,
            }

        return process


def _no_image(source):
    """One line for a folder that holds no image the package reads."""
    from .io.formats import SUPPORTED_EXTENSIONS

    return EnhanceError(
        f"{source}: no image found (looked for {', '.join(SUPPORTED_EXTENSIONS)} files, and "
        "DICOM files without an extension; hidden files are left out)"
    )


#: Manifest keys of records written before the recipe was recorded that name a recipe field
#: (:func:`_recorded_recipe`; ``anonymized`` stands for ``anonymize``).
_LEGACY_KEYS = ("model_sha256", "precision", "self_ensemble")


def _recorded_recipe(record):
    """The recipe a manifest record says its output was made with: its ``recipe``, else (a
    record written before the field) what it names of one; None when it names nothing."""
    if isinstance(record.get("recipe"), dict):
        return record["recipe"]
    if record.get("status") != "done" or "model_sha256" not in record:
        return None  # a note of an output found without a record: nothing to compare
    legacy = {key: record.get(key) for key in _LEGACY_KEYS}
    legacy["anonymize"] = bool(record.get("anonymized", False))
    return legacy


def _check_recipe(out_dir, files, output_for, recipe, *, overwrite=False, redact=None):
    """Refuse a run over finished outputs in ``out_dir`` made with another recipe.

    Without ``overwrite``, an output this run would skip as finished but that its manifest
    record says another recipe made is refused (issue 25: it would have been kept as it is).
    Under ``anonymize``, outputs of the same inputs made without it are refused even with
    ``overwrite`` (their names differ from the pseudonyms, so nothing would replace them: their
    names and headers would stay beside the de-identified outputs). Records are found by the
    input's name in the manifest (``redact``'s alias under ``anonymize``, and the plain path).

    Raises
    ------
    EnhanceError
        One line: how the recipes differ, and what to do (``--overwrite``, another folder).
    """
    from . import batch

    manifest = Path(out_dir) / batch.MANIFEST_NAME
    if not manifest.is_file():
        return
    records = {r.get("input"): r for r in batch.Manifest(manifest).records()
               if r.get("status") in ("done", "skipped")}
    kept, plain = [], []
    for item in files:
        names = [str(item.path)] + ([redact({"input": str(item.path)})["input"]] if redact else [])
        for record in filter(None, (records.get(name) for name in names)):
            theirs = _recorded_recipe(record)
            output = Path(str(record.get("output") or ""))
            if theirs is None or not output.is_file():
                continue
            # the weights decide, not the name (a copied model directory is the same model)
            differ = sorted(k for k in set(theirs) & set(recipe)
                            if k != "model" and theirs[k] != recipe[k])
            if not differ:
                continue
            if "model_sha256" in differ and theirs.get("model", recipe["model"]) != recipe["model"]:
                differ[differ.index("model_sha256")] = "model"
            try:
                target = output_for(item)
            except EnhanceError:
                continue
            if output.resolve() == target.resolve():
                if not overwrite:
                    kept.append((item, theirs, differ))
            elif recipe["anonymize"] and not theirs.get("anonymize"):
                plain.append(item)
    if plain:
        raise EnhanceError(
            f"{out_dir}: holds {len(plain)} output(s) of these inputs made without anonymize "
            "(their names and headers would stay beside the de-identified outputs): choose "
            "another output folder, or remove them first"
        )
    if kept:
        item, theirs, differ = kept[0]
        what = ", ".join(f"{k} {_short(theirs[k])} -> {_short(recipe[k])}" for k in differ)
        example = "" if recipe["anonymize"] else f"; e.g. {item.relpath}"
        raise EnhanceError(
            f"{out_dir}: {len(kept)} finished output(s) were made with another recipe ({what}"
            f"{example}) and would be kept as they are: give --overwrite (overwrite=True) to "
            "redo them, or choose another output folder"
        )


def _short(value):
    if value is None:
        return "not given"
    return value[:12] if isinstance(value, str) and len(value) == 64 else value


def _write_preview(out_dir, result, model):
    """Write OUT/preview.png of a finished run; returns (its path or None, a note). Never
    fails the run."""
    from .preview import PREVIEW_NAME, write_preview

    finished = [(r.input, r.output) for r in result.results if r.status in ("done", "skipped")]
    if not finished:
        return None, ""
    path = Path(out_dir) / PREVIEW_NAME
    try:
        rows = write_preview(path, finished, root=result.root,
                             title=f"enhance run --model {model.name}: input | output")
    except (EnhanceError, OSError) as error:
        cause = str(error).splitlines()[0] if str(error) else type(error).__name__
        return None, f"not written: {cause}"
    if not rows:
        return None, "not written: no finished image could be read back"
    refs = sum(r.psnr_before is not None for r in rows)
    note = f" ({len(rows)} images: input | output" + (
        f", {refs} with PSNR against a reference)" if refs else ")")
    return str(path), note


def _options(options, fields):
    if options is None:
        return RunOptions.from_dict(fields)
    if fields:
        RunOptions.from_dict(fields)  # unknown keys: one line
        return options.replace(**fields)
    return options


def enhance_folder(source, out_dir, options=None, *, progress=None, file_progress=None, **fields):
    """Enhance every image of ``source`` with a model into ``out_dir`` (same layout).

    The model is resolved once (:class:`enhance.run_options.ModelRef`), the files are listed
    once, then each is read, restored, written in its input's format (:class:`RunRecipe`) by
    :func:`enhance.batch.run_batch`, and ``out_dir/preview.png`` is drawn from the results.

    Parameters
    ----------
    source : str or Path
        A folder (recursive), a file or a glob (for a file, ``out_dir`` may be in its folder),
        or a DICOMweb study or series URL (its instances retrieved into ``out_dir/.retrieved``;
        ``options.store`` stores each DICOM output into its study: :mod:`enhance.sources`).
    out_dir : str or Path
        The output folder; not inside a ``source`` folder. Gets ``manifest.jsonl``: per file
        the input, output, model and its weights' sha256, the recipe
        (:meth:`RunOptions.recipe`), size, seconds, status, error, and a reference-free noise
        estimate before and after (:func:`enhance.metrics.estimate_noise` of the central
        :data:`NOISE_REGION` square of larger frames).
    options : enhance.run_options.RunOptions, optional
        Every option of the run (model, noise level, tiles, precision, runtime, output format,
        anonymize, overwrite, dry run, preview, engine, DICOMweb store and connection; see its
        attributes). Default: built
        from ``fields``.
    progress : callable, optional, keyword-only
        ``progress(done, total, file_result)`` after each file (``total``: every file found,
        skipped ones included), first ``progress(0, total, None)``; see
        :func:`enhance.batch.run_batch`.
    file_progress : callable, optional, keyword-only
        Called as ``file_progress(path, fraction)`` within a file: 0.0 when it starts, then
        after each network call (tiles, frames of a stack), so that progress moves within a
        large image (local engine only).
    **fields
        Keyword-only: options as :class:`RunOptions` attributes (``model="dae-speckle"``,
        ``sigma=0.1``, ...), applied over ``options``; an unknown one is refused.

    Returns
    -------
    RunResult
        A :class:`enhance.batch.BatchResult` with the model and the preview.

    Raises
    ------
    EnhanceError
        Bad options, an unusable model, no image in ``source``, another run writing into
        ``out_dir``, finished outputs of another recipe in ``out_dir`` (without
        ``overwrite``), an output folder or manifest that cannot be written, a DICOMweb source
        or store that refuses (:class:`enhance.sources.RunSource`); one line (per-file faults,
        an output that could not be stored included, are results). Nothing is written into ``out_dir`` before these checks.
    RunInterrupted
        Ctrl-C: a :class:`KeyboardInterrupt` carrying the :class:`RunResult` so far.
    """
    from . import batch
    from .modeldir import LoadedModel
    from .outputs import deidentifier, output_namer, redactor
    from .runtime import choose_runtime

    options = _options(options, fields)
    choose_runtime(options.runtime)  # openvino asked for and missing: before any work
    ray_engine = None
    if options.engine == "ray" and not options.dry_run:
        from .ray_engine import RayEngine

        ray_engine = RayEngine(**options.engine_options)  # Ray missing, bad options: one line
    loaded = None
    if isinstance(options.model, LoadedModel):
        if options.task is not None and options.model.task != options.task:
            raise EnhanceError(f"{options.model.name} is a {options.model.task} model, "
                               f"not {options.task}")
        from .predict import with_precision

        ref = ModelRef.of_loaded(options.model)
        loaded = with_precision(options.model, options.precision)
    else:
        ref = ModelRef.resolve(options.model, task=options.task)
    if options.exposure is not None and not get_task(ref.task).needs_exposure:
        raise EnhanceError(
            f"--exposure is for low-light models; {ref.name} is a {ref.task} model (use "
            "--task lowlight or a low-light --model)"
        )
    if options.exposure is None and get_task(ref.task).needs_exposure:
        raise EnhanceError(
            f"{ref.name} is a low-light model: give the acquisition's exposure (--exposure 0.1)"
        )
    from .sources import RunSource

    run_source = RunSource(source, out_dir, options)  # what depends on the source: one line
    root, files = run_source.discover()
    if not files:
        raise _no_image(source)
    deid = None
    if options.anonymize:  # the user's key, never one in OUT; a dry run creates none
        deid = deidentifier(options.deid_key, out_dir=out_dir, dry_run=options.dry_run)
    redact = None if deid is None else redactor(deid)
    output_for = output_namer(out_dir, options.output_format, pseudonyms=deid)
    _check_recipe(out_dir, files, output_for, options.recipe(ref), overwrite=options.overwrite,
                  redact=redact)
    if options.dry_run:
        planned = batch.run_batch(files, out_dir, None, output_for=output_for,
                                  overwrite=options.overwrite, dry_run=True)
        return RunResult(planned.results, planned.root, model=ref)

    recipe = RunRecipe(ref, options, deid=deid)
    finished = []

    def record(done, total, result):
        if result is not None:
            finished.append(result)
        if progress is not None:
            progress(done, total, result)

    try:
        if ray_engine is not None:
            # each actor loads the model and runs the recipe; the lock, the skip rule and the
            # manifest stay here (run_batch)
            ray_engine.prepare(recipe, shared=[root, out_dir], weights_sha256=ref.sha256)
            ran = batch.run_batch(files, out_dir, None, output_for=output_for, redact=redact,
                                  overwrite=options.overwrite, progress=record, engine=ray_engine)
        else:
            loaded = loaded or recipe.load()
            process = recipe.process(loaded, file_progress=file_progress)
            # a DICOMweb source's items retrieved ahead, outputs stored behind (enhance.sources)
            with run_source.attached(process, files=files, output_for=output_for,
                                     overwrite=options.overwrite, progress=record,
                                     redact=redact) as (process, report, held):
                ran = batch.run_batch(files, out_dir, process, output_for=output_for,
                                      redact=redact, overwrite=options.overwrite, progress=report,
                                      held=held)
            ran = run_source.finish(ran)  # outputs that could not be stored: failures
        result = RunResult(ran.results, ran.root, model=ref)
        if options.preview and options.anonymize and result.results:  # labels are input names
            result.preview_note = "none drawn (--anonymize: it would show input names)"
        elif options.preview:
            result.preview, result.preview_note = _write_preview(out_dir, result, ref)
    except KeyboardInterrupt:
        order = {str(item.path): index for index, item in enumerate(files)}
        finished.sort(key=lambda r: order.get(r.input, len(order)))
        raise RunInterrupted(RunResult(finished, batch.input_root(files), model=ref,
                                       interrupted=True)) from None
    return result
