"""Batch enhancement of files with a model: the job behind ``enhance run``.

read -> restore (tiled, batched) -> write in the input's own format, one file at a time, through
:func:`enhance.batch.run_batch` (skip finished outputs, atomic writes, a manifest line per file,
failures reported by name while the batch goes on).
"""

from __future__ import annotations

from .errors import EnhanceError
from .io.limits import DEFAULT_MAX_PIXELS
from .names import OUTPUT_FORMATS


def restore_pixels(model, pixels, *, is_stack=False, exposure=None, tile=None, batch_size=8,
                   self_ensemble=False, noise=None, max_memory=None, progress=None):
    """Restore every frame of ``pixels`` with a loaded model.

    Grayscale frames go through the model as they are; colour (RGB) frames channel by channel
    through a one-channel model (each channel is an image of the same scene with the same
    noise model, so no luminance/chroma split is needed and colours are not shifted).

    Parameters
    ----------
    model : enhance.modeldir.LoadedModel
    pixels : ndarray
        (H, W), (H, W, C), or a stack (N, H, W[, C]) when ``is_stack``; float in [0, 1].
    is_stack, exposure, tile, batch_size, self_ensemble, max_memory
        See :func:`enhance.predict.enhance_image`.
    noise : dict, optional
        ``sigma``, ``photons``, ``read_noise`` told to a noise-conditioned model (missing ones
        are estimated per frame); on return it holds, under ``"told"``, what each frame was
        told (:func:`enhance.predict.noise_parameters`), for the manifest.
    progress : callable, optional
        Called as ``progress(fraction)`` (0..1 over every frame's tiles) after each network call.

    Returns
    -------
    ndarray of float32, same shape.
    """
    import numpy as np

    from .predict import enhance_image, noise_parameters

    noise = {} if noise is None else noise
    given = {k: noise.get(k) for k in ("sigma", "photons", "read_noise")}
    told = noise.setdefault("told", [])

    def one(frame, index=0, count=1):
        condition = noise_parameters(model, frame, exposure=exposure, **given)
        if condition is not None:
            told.append(condition)
        options = {k: v for k, v in (condition or {}).items() if k in given}
        step = None if progress is None else (lambda f: progress((index + f) / count))
        return enhance_image(model, frame, tile=tile, batch_size=batch_size, exposure=exposure,
                             self_ensemble=self_ensemble, max_memory=max_memory, progress=step,
                             **options)

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


class RunRecipe:
    """The per-file work of ``enhance run``, picklable, so that any process can rebuild it: the
    local engine uses it in this process, the Ray engine once in each actor (which loads the
    model itself, :meth:`load`). ``RunRecipe(...).process(loaded)`` is ``process(item, target)``
    of :func:`enhance.batch.run_batch`: read, restore, write atomically, return the manifest's
    details. Arguments as :func:`enhance_folder`'s; ``chosen`` is
    :func:`enhance.shipped.describe_model`'s dict and ``anonymize`` the
    :class:`enhance.io.deid.Deidentifier` of DICOM outputs (None: no de-identification; its key
    travels with the recipe to the Ray actors).
    """

    def __init__(self, model_dir, *, chosen, exposure=None, sigma=None, photons=None,
                 read_noise=None, tile=None, batch_size=8, self_ensemble=False,
                 output_format="keep", max_pixels=DEFAULT_MAX_PIXELS, anonymize=None,
                 precision="float32", max_memory=None, runtime="auto"):
        from pathlib import Path

        self.model_dir = Path(model_dir).resolve()
        self.chosen = dict(chosen)
        self.exposure, self.tile, self.batch_size = exposure, tile, batch_size
        self.noise = {"sigma": sigma, "photons": photons, "read_noise": read_noise}
        self.self_ensemble, self.output_format, self.max_pixels = self_ensemble, output_format, max_pixels
        self.anonymize = anonymize
        self.precision, self.max_memory, self.runtime = precision, max_memory, runtime

    def load(self):
        """Load the model on :attr:`runtime` (:func:`enhance.runtime.load_enhancer`): from
        :attr:`model_dir`, or where this machine has the shipped model of that name when the
        path is not there (another node's installation)."""
        from .batch import captured_warnings
        from .runtime import load_enhancer

        model_dir = self.model_dir
        if self.chosen.get("model_source") == "shipped" and not model_dir.is_dir():
            from .shipped import resolve_model

            model_dir = resolve_model(model_dir.name, kind="enhancer")
        with captured_warnings(fd=True):  # TensorFlow's start-up chatter stays off the terminal
            return load_enhancer(model_dir, precision=self.precision, runtime=self.runtime)

    def process(self, loaded, *, deid=None, file_progress=None):
        """``process(item, target) -> dict`` with ``loaded`` (:meth:`load`'s model); ``deid``
        (default: the output folder's, when de-identifying); ``file_progress`` as
        :func:`enhance_folder`'s."""
        from .io import read_image
        from .outputs import read_notes, write_output

        if deid is None:
            deid = self.anonymize
        sha = loaded.card.get("weights_sha256", "")
        chosen, exposure, tile, batch_size = self.chosen, self.exposure, self.tile, self.batch_size
        self_ensemble, output_format, max_pixels = self.self_ensemble, self.output_format, self.max_pixels
        sigma, photons, read_noise = (self.noise[k] for k in ("sigma", "photons", "read_noise"))

        def process(item, target):
            step = None
            if file_progress is not None:
                file_progress(item.path, 0.0)
                step = lambda fraction: file_progress(item.path, fraction)  # noqa: E731
            image = read_image(item.path, max_pixels=max_pixels)
            noise = {"sigma": sigma, "photons": photons, "read_noise": read_noise}
            restored = restore_pixels(loaded, image.pixels, is_stack=image.meta.is_stack,
                                      exposure=exposure, tile=tile, batch_size=batch_size,
                                      self_ensemble=self_ensemble, noise=noise,
                                      max_memory=self.max_memory, progress=step)
            ensemble = " --self-ensemble" if self_ensemble else ""
            ensemble += f" --precision {self.precision}" if self.precision != "float32" else ""
            write_output(image, restored, target, output_format,
                   derivation=f"enhance run --model {loaded.name}{ensemble} (sha256 {sha[:12]})",
                   anonymize=deid)
            return {
                "model": loaded.name,
                **chosen,
                "model_sha256": sha,
                "self_ensemble": bool(self_ensemble),
                "precision": self.precision,
                "runtime": loaded.runtime,
                **({"noise_level": _summarise_told(noise["told"])} if noise["told"] else {}),
                "shape": list(image.pixels.shape),
                "megapixels": round(_megapixels(image.pixels, is_stack=image.meta.is_stack), 4),
                "noise_before": _noise(image.pixels, is_stack=image.meta.is_stack),
                "noise_after": _noise(restored, is_stack=image.meta.is_stack),
                **read_notes(image),
                **({"anonymized": True} if deid is not None else {}),
            }

        return process


def enhance_folder(
    source,
    out_dir,
    *,
    model=None,
    task=None,
    exposure=None,
    sigma=None,
    photons=None,
    read_noise=None,
    tile=None,
    batch_size=8,
    self_ensemble=False,
    output_format="keep",
    overwrite=False,
    dry_run=False,
    progress=None,
    max_pixels=DEFAULT_MAX_PIXELS,
    file_progress=None,
    anonymize=False,
    deid_key=None,
    engine="local",
    engine_options=None,
    precision="float32",
    max_memory=None,
    runtime="auto",
):
    """Enhance every image of ``source`` with a model into ``out_dir`` (same layout).

    Parameters
    ----------
    source : str or Path
        A folder (recursive), a file or a glob.
    out_dir : str or Path
        The output folder; not inside ``source``. Gets ``manifest.jsonl``: per file the input,
        output, model and its weights' sha256, size, seconds, status, error, and a reference-free
        noise estimate before and after (:func:`enhance.metrics.estimate_noise` of the central
        :data:`NOISE_REGION` square of larger frames).
    model : str or Path, optional, keyword-only
        The name of a shipped model (never a folder of that name in the working directory) or
        a model directory given as a path (``./dir``, ``/abs/dir``, a :class:`~pathlib.Path`;
        see :func:`enhance.shipped.resolve_model`); default: the shipped default of ``task``
        (see :data:`enhance.shipped.DEFAULT_MODELS`). The manifest's ``model_source`` says
        which (``shipped`` or ``path``) and ``model_path`` where it was read from.
    task : str, optional, keyword-only
        Picks the default model when ``model`` is not given (``gaussian`` by default).
    exposure : float, optional, keyword-only
        The acquisition's exposure, required by low-light models.
    sigma, photons, read_noise : float, optional, keyword-only
        The noise level told to a noise-conditioned model (estimated per image when not given;
        the manifest's ``noise_level`` records the values and their source). Blind models
        ignore them.
    tile : int, optional, keyword-only
        Tile size; by default large images are tiled automatically.
    self_ensemble : bool, keyword-only
        Average the restorations of the eight flips and rotations of each image (eight times
        slower; see :func:`enhance.predict.enhance_image`).
    output_format : {"keep", "png16", "tiff16", "npy"}, keyword-only
        ``keep``: each output in its input's format, dtype, range and header (DICOM as a
        derived image, NIfTI with its header and affine).
    max_pixels : int or None, keyword-only
        Files whose header claims more pixels (height x width x frames) are refused before
        decoding (:func:`enhance.io.read_image`; None: no limit).
    anonymize : bool, keyword-only
        De-identify DICOM outputs by the PS3.15 Basic Profile's table (:mod:`enhance.io.deid`:
        UIDs remapped consistently with the key, dates shifted, private attributes removed),
        name each output by a keyed pseudonym (``anon-<hex>.<ext>``) and keep input names out
        of the manifest (:func:`enhance.outputs.redactor`). Other formats carry no header data.
    deid_key : str or Path, optional, keyword-only
        The key file of ``anonymize``, never inside ``out_dir`` (default:
        :func:`enhance.io.deid.default_key_file`; created 0600 when missing).
    progress : callable, optional, keyword-only
        ``progress(done, total, file_result)`` after each file (``total``: every file found,
        skipped ones included), first ``progress(0, total, None)``; see
        :func:`enhance.batch.run_batch`.
    file_progress : callable, optional, keyword-only
        Called as ``file_progress(path, fraction)`` within a file: 0.0 when it starts, then
        after each network call (tiles, frames of a stack), so that progress moves within a
        large image (local engine only).
    engine : {"local", "ray"}, keyword-only
        ``local``: one file at a time in this process. ``ray``: the files are processed by
        actors of a Ray cluster (:class:`enhance.ray_engine.RayEngine`; ``pip install
        'enhance[ray]'``), each loading the model once; this process keeps the lock, the skip
        rule and the manifest, and the outputs are the same bytes. ``source`` and ``out_dir``
        must then be on storage every node of the cluster sees.
    engine_options : dict, optional, keyword-only
        For ``ray``: ``address`` (None: a local instance; ``"auto"``: the running cluster),
        ``actors``, ``cpus_per_actor``, ``gpus_per_actor``, ``num_cpus`` (of a local instance).
    precision : {"float32", "bfloat16"}, keyword-only
        The network's arithmetic (:func:`enhance.predict.with_precision`); the manifest records it.
    max_memory : int, optional, keyword-only
        Bytes for one image's work beyond the runtime and the model; tiles and windows per call
        are sized from it (:func:`enhance.predict.plan_windows`; default
        :data:`enhance.predict.DEFAULT_MAX_MEMORY`).
    runtime : {"auto", "openvino", "keras"}, keyword-only
        Where the network runs (:mod:`enhance.runtime`; ``auto``: OpenVINO, a model converted
        once and cached, when it is installed and no NVIDIA GPU is visible); the manifest's
        ``runtime`` records the one used.

    Returns
    -------
    enhance.batch.BatchResult

    Raises
    ------
    EnhanceError
        Bad arguments, an unusable model, another run writing into ``out_dir``, an output
        folder or manifest that cannot be written; one line (per-file faults are results).
    """
    from . import batch
    from .outputs import deidentifier, output_namer, redactor
    from .shipped import describe_model, resolve_model

    if output_format not in OUTPUT_FORMATS:
        raise EnhanceError(f"unknown output format {output_format!r}; known: {', '.join(OUTPUT_FORMATS)}")
    if engine not in ("local", "ray"):
        raise EnhanceError(f"unknown engine {engine!r}; known: local, ray")
    from .predict import check_precision
    from .runtime import choose_runtime

    check_precision(precision)
    choose_runtime(runtime)  # an unknown name, or openvino asked for and missing: before any work
    if max_memory is not None and max_memory <= 0:
        raise EnhanceError(f"max_memory must be positive, not {max_memory!r}")
    ray_engine = None
    if engine == "ray" and not dry_run:
        from .ray_engine import RayEngine

        ray_engine = RayEngine(**(engine_options or {}))  # Ray missing, bad options: one line
    model_dir = resolve_model(model, task=task, kind="enhancer")
    chosen = describe_model(model, model_dir)  # a shipped name or a path: the manifest says which
    if exposure is not None:
        from .shipped import read_model_info

        info = read_model_info(model_dir)
        if info["task"] != "lowlight":
            raise EnhanceError(
                f"--exposure is for low-light models; {info['card'].get('name') or info['name']} is "
                f"a {info['task']} model (use --task lowlight or a low-light --model)"
            )
    root, files = batch.discover(source, exclude=[out_dir])
    batch.check_output_dir(root, out_dir)
    if deid_key is not None and not anonymize:
        raise EnhanceError("a de-identification key (--deid-key) is only used with --anonymize")
    deid = deidentifier(deid_key, out_dir=out_dir, dry_run=dry_run) if anonymize else None
    redact = None if deid is None else redactor(deid)
    output_for = output_namer(out_dir, output_format, pseudonyms=deid)
    if dry_run:
        return batch.run_batch(files, out_dir, None, output_for=output_for,
                               overwrite=overwrite, dry_run=True)

    recipe = RunRecipe(model_dir, chosen=chosen, exposure=exposure, sigma=sigma, photons=photons,
                       read_noise=read_noise, tile=tile, batch_size=batch_size,
                       self_ensemble=self_ensemble, output_format=output_format,
                       max_pixels=max_pixels, anonymize=deid,
                       precision=precision, max_memory=max_memory, runtime=runtime)
    loaded = recipe.load()  # as each Ray actor loads it
    if loaded.task == "lowlight" and exposure is None:
        raise EnhanceError(
            f"{loaded.name} is a low-light model: give the acquisition's exposure (--exposure 0.1)"
        )
    sha = loaded.card.get("weights_sha256", "")

    if ray_engine is not None:
        # each actor loads the model and runs the recipe; the lock, the skip rule and the
        # manifest stay here (run_batch)
        ray_engine.prepare(recipe, shared=[root, out_dir], weights_sha256=sha)
        return batch.run_batch(files, out_dir, None, output_for=output_for, redact=redact,
                               overwrite=overwrite, progress=progress, engine=ray_engine)
    process = recipe.process(loaded, deid=deid, file_progress=file_progress)
    return batch.run_batch(files, out_dir, process, output_for=output_for, redact=redact,
                           overwrite=overwrite, progress=progress)
