"""Folder jobs of the classical toolkit: degrade a folder, denoise a folder, score one against another.

Each job is one function the command line calls; all of them read with :func:`enhance.io.read_image`
(pixels in [0, 1] by the package's dtype policy), so scores use ``data_range=1.0`` explicitly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import batch
from .errors import EnhanceError, ShapeMismatch
from .io.formats import split_extension
from .io.limits import DEFAULT_MAX_PIXELS
from .outputs import deidentifier, output_namer, read_notes, redactor, write_output

def file_seed(degradation_name, index, *, seed=None):
    """The seed of the ``index``-th file (sorted by relative path) under a degradation.

    Without ``seed`` this is the spec's rule ``1000 * d + i``, with ``d`` the position of the
    degradation in :data:`enhance.tasks.PRESETS` (the spec's benchmark list comes first, so
    ``enhance degrade --kind gaussian25`` makes the benchmark's noisy images). With a user seed
    ``S`` the entropy ``[S, d, i]`` seeds :func:`numpy.random.default_rng`. Either way the value
    is recorded in the manifest and reproduces the image.
    """
    from .tasks import degradation_id

    d = degradation_id(degradation_name)
    if seed is None:
        return 1000 * d + int(index)
    return [int(seed), d, int(index)]


def degrade_folder(
    source,
    out_dir,
    degradation,
    *,
    seed=None,
    output_format="png16",
    overwrite=False,
    dry_run=False,
    progress=None,
    max_pixels=DEFAULT_MAX_PIXELS,
    **params,
):
    """Write a degraded copy of every image of ``source`` into ``out_dir`` (same layout).

    Parameters
    ----------
    source : str or Path
        Folder (recursive), file or glob of clean images.
    out_dir : str or Path
        Output folder (not inside ``source``); a ``manifest.jsonl`` records each file's seed and
        parameters.
    degradation : str
        A preset (``gaussian25``, ``lowlight``, ``speckle``, ...) or a task's name (its
        degradation function, :func:`enhance.tasks.resolve`); ``params`` override its parameters.
    seed : int, optional, keyword-only
        See :func:`file_seed`.
    output_format : {"png16", "tiff16", "npy", "keep"}, keyword-only
        16-bit PNG (TIFF for volumes) by default, so no precision is lost.
    progress : callable, optional, keyword-only
        ``progress(done, total, file_result)`` after each file (first
        ``progress(0, total, None)``); see :func:`enhance.batch.run_batch`.
    max_pixels : int or None, keyword-only
        Pixel limit of :func:`enhance.io.read_image` (None: none).

    Returns
    -------
    enhance.batch.BatchResult
    """
    from .io import read_image
    from .tasks import resolve
    from .planes import map_planes

    spec = resolve(degradation, **params)
    root, files = batch.discover_for(source, out_dir)
    index = {item.relpath: i for i, item in enumerate(files)}

    def process(item, target):
        image = read_image(item.path, max_pixels=max_pixels)
        file_seed_value = file_seed(spec.name, index[item.relpath], seed=seed)
        rng = np.random.default_rng(file_seed_value)
        noisy = map_planes(lambda p: spec(p, rng), image.pixels, is_stack=image.meta.is_stack)
        write_output(image, noisy, target, output_format, derivation=f"enhance degrade {spec.name}")
        return {"degradation": spec.name, "task": spec.task, "params": spec.resolved_params,
                "seed": file_seed_value, **read_notes(image)}

    return batch.run_batch(
        files, out_dir, process, output_for=output_namer(out_dir, output_format),
        overwrite=overwrite, dry_run=dry_run, progress=progress,
    )


def denoise_folder(
    source,
    out_dir,
    method,
    *,
    sigma=None,
    exposure=None,
    output_format="keep",
    overwrite=False,
    dry_run=False,
    progress=None,
    max_pixels=DEFAULT_MAX_PIXELS,
    anonymize=False,
    deid_key=None,
    **options,
):
    """Denoise every image of ``source`` with a classical method into ``out_dir``.

    Parameters
    ----------
    method : str
        A name of :func:`enhance.baselines.list_baselines`.
    sigma : float, optional, keyword-only
        Noise level in [0, 1] units; estimated per image when None.
    exposure : float, optional, keyword-only
        For low-light methods: the known exposure (the fraction of light the sensor saw).
    output_format : {"keep", "png16", "tiff16", "npy"}, keyword-only
        By default each output keeps its input's format, dtype and header (DICOM as a derived
        image naming the method).
    max_pixels : int or None, keyword-only
        Pixel limit of :func:`enhance.io.read_image` (None: none).
    anonymize : bool, keyword-only
        De-identify DICOM outputs (:mod:`enhance.io.deid`), name every output by a pseudonym
        and keep input names out of the manifest (as for :func:`enhance.pipeline.enhance_folder`).
    deid_key : str or Path, optional, keyword-only
        The key file of ``anonymize`` (default: :func:`enhance.io.deid.default_key_file`).
    progress : callable, optional, keyword-only
        As for :func:`degrade_folder`.

    Returns
    -------
    enhance.batch.BatchResult
    """
    from .baselines import denoise, get_baseline
    from .io import read_image
    from .planes import map_planes

    get_baseline(method)  # fail early on an unknown name
    root, files = batch.discover_for(source, out_dir)
    if deid_key is not None and not anonymize:
        raise EnhanceError("a de-identification key (--deid-key) is only used with --anonymize")
    deid = deidentifier(deid_key, out_dir=out_dir, dry_run=dry_run) if anonymize else None

    def process(item, target):
        image = read_image(item.path, max_pixels=max_pixels)
        restored = map_planes(
            lambda p: denoise(p, method, sigma=sigma, exposure=exposure, **options),
            image.pixels,
            is_stack=image.meta.is_stack,
        )
        write_output(image, restored, target, output_format,
                     derivation=f"enhance denoise --method {method}", anonymize=deid)
        return {"method": method, "sigma": sigma, "exposure": exposure, **read_notes(image),
                **({"anonymized": True} if deid is not None else {})}

    return batch.run_batch(
        files, out_dir, process, output_for=output_namer(out_dir, output_format, pseudonyms=deid),
        overwrite=overwrite, dry_run=dry_run, progress=progress, manifest="manifest.jsonl",
        redact=None if deid is None else redactor(deid),
    )


# ---------------------------------------------------------------------------------------------
# scoring


def _stem(relpath):
    return str(relpath.with_name(split_extension(relpath.name)[0]))


def _reference_matcher(reference_dir, *, kind="reference"):
    """``match(item) -> (file, exact)``: the file of ``reference_dir`` at ``item``'s relative path
    without the extension (an exact relative path first; ``exact`` says it was one); none or
    several raise :class:`EnhanceError` naming the file."""
    _, references = batch.discover(reference_dir)
    by_stem = {}
    for ref in references:
        by_stem.setdefault(_stem(ref.relpath), []).append(ref)

    def match(item):
        candidates = by_stem.get(_stem(item.relpath), [])
        exact = [c for c in candidates if c.relpath == item.relpath]
        if exact:
            candidates = exact
        if not candidates:
            raise EnhanceError(f"{item.path}: no {kind} {Path(reference_dir) / _stem(item.relpath)}.*")
        if len(candidates) > 1:
            names = ", ".join(str(c.path) for c in candidates)
            raise EnhanceError(f"{item.path}: several {kind}s match ({names})")
        return candidates[0], bool(exact)

    return match


@dataclass
class ScoreRow:
    """PSNR and SSIM of one test file against its reference (or the error that stopped it).

    ``scale`` says which values were compared on which range (:func:`score_scale`);
    ``skipped`` says why a file was not scored although nothing failed (another file of the
    same name is scored against the same reference).
    """

    relpath: str
    reference: str
    test: str
    psnr: float = math.nan
    ssim: float = math.nan
    error: str = ""
    scale: str = ""
    skipped: str = ""


@dataclass
class ScoreReport:
    """Per-file scores and their means with 95% confidence intervals."""

    rows: list = field(default_factory=list)

    @property
    def scored(self):
        return [r for r in self.rows if not r.error and not r.skipped]

    @property
    def failed(self):
        return [r for r in self.rows if r.error]

    @property
    def skipped(self):
        return [r for r in self.rows if r.skipped]

    def summary(self):
        """``{"psnr": (mean, low, high), "ssim": (...), "n": count}`` over scored files."""
        from .metrics import mean_ci

        ok = self.scored
        out = {"n": len(ok)}
        for key in ("psnr", "ssim"):
            values = [getattr(r, key) for r in ok]
            out[key] = tuple(float(v) for v in mean_ci(values)) if values else (math.nan,) * 3
        return out


def score_images(reference, test, *, is_stack=False, data_range=1.0, exclude=None):
    """PSNR and SSIM of ``test`` against ``reference`` (pixels of the same shape).

    Stacks are scored as a whole for PSNR and as the mean SSIM of their frames. ``exclude``
    (a boolean mask of the shape, optional) leaves pixels out: the MSE is taken over the
    others, and SSIM sees the reference's value there in both images.
    """
    from .metrics import psnr, ssim

    reference = np.asarray(reference, dtype=np.float64)
    test = np.asarray(test, dtype=np.float64)
    if reference.shape != test.shape:
        raise ShapeMismatch(f"shapes differ: reference {reference.shape}, test {test.shape}")
    excluded = 0 if exclude is None else int(np.count_nonzero(exclude))
    if excluded:
        test = np.where(exclude, reference, test)
    p = psnr(reference, test, data_range=data_range)
    if 0 < excluded < test.size and math.isfinite(p):
        # the MSE over the pixels kept: the excluded ones added zeros to the mean
        p -= 10 * math.log10(test.size / (test.size - excluded))
    frames = zip(reference, test) if is_stack else [(reference, test)]
    s = float(np.mean([ssim(r, t, data_range=data_range) for r, t in frames]))
    return float(p), s


def _in_scale(reference, test):
    """:func:`in_scale_of`'s values and a few words saying how they were read."""
    ref, tst = reference.meta, test.meta
    same = ref.format == tst.format and ref.dtype == tst.dtype
    if tst.dtype.kind == "f" and (ref.dtype.kind != "f" or (ref.lo, ref.hi) == (0.0, 1.0)):
        values, how = np.asarray(test.raw(), np.float32), "float values as held"
    elif same and (ref.format in ("dicom", "nifti") or ref.dtype.kind == "f"):
        return ref.to_unit(test.raw()), "in the reference's range"
    else:
        return test.pixels, _range_text(tst)
    if tst.padding is not None:  # NoData values as held would swamp everything else
        values = tst.padding.fill_pixels(values.copy())
    return values, how


def in_scale_of(reference, test):
    """The test pixels in the reference's [0, 1] scale, never a stretch of a float image.

    A float file's values are taken as they are (float pixels are [0, 1] values by the spec,
    and :func:`enhance.io.read_image` reads float data within [0, 1] unchanged), unless the
    reference is float data outside [0, 1] of the same format and dtype. Grayscale DICOM and
    NIfTI (and float data outside [0, 1]) map their own range to [0, 1], so a derived file of
    the same format and dtype (a denoised scan, whose extremes moved) is compared through its
    stored values mapped by the reference's range. Integer files map their declared range.
    Padding and NoData pixels of the test read as the image mirrored into them.
    """
    return _in_scale(reference, test)[0]


def _range_text(meta):
    """How a file's values are read: its declared range (or "float values as held")."""
    if meta.dtype.kind == "f":
        return "float values as held"
    bits = meta.extra.get("sbit")
    declared = f" (sBIT {bits})" if bits else ""
    own = " (its own range)" if meta.format in ("dicom", "nifti") and meta.channels == 1 else ""
    return f"{meta.dtype.name} {meta.lo:g}..{meta.hi:g}{declared}{own} = [0, 1]"


def score_scale(reference, test, *, data_range=None):
    """The values to compare, on which range, and a line saying so.

    Nothing is stretched: the reference's values are read on its declared range (an integer
    file: its dtype's range, its stored bits or sBIT, a grayscale DICOM or NIfTI its recorded
    range; all as [0, 1]); a float file's values are compared as they are (the spec: never
    guess the range of a float image). A float reference outside [0, 1] has no declared range:
    ``data_range`` must then be given. Padding and NoData pixels of either file
    (``meta.padding``) are left out.

    Parameters
    ----------
    reference, test : enhance.io.Image
    data_range : float, optional
        Default 1.0 (the [0, 1] scale); required for a float reference outside [0, 1].

    Returns
    -------
    ref_values, test_values : ndarray of float64
    data_range : float
    exclude : ndarray of bool or None
    scale : str

    Raises
    ------
    EnhanceError
        A float reference outside [0, 1] without ``data_range``; a float file whose reading
        clipped far outliers (their values are not held any more); an integer test against
        such a reference.
    """
    ref, tst = reference.meta, test.meta
    for image in (reference, test):
        clipped = image.meta.extra.get("value_map", {}).get("clipped", 0)
        if clipped:
            raise EnhanceError(
                f"{image.meta.path}: {clipped:,} float values lie far outside the others and were "
                "clipped when read: they cannot be scored as they are"
            )
    ref_float_outside = ref.dtype.kind == "f" and (ref.lo, ref.hi) != (0.0, 1.0)
    if ref_float_outside:
        if data_range is None:
            raise EnhanceError(
                f"{ref.path}: a float reference with values outside [0, 1] "
                f"({ref.lo:g}..{ref.hi:g}) declares no range: give the data range "
                "(--data-range, in its units)"
            )
        if tst.dtype.kind != "f":
            raise EnhanceError(
                f"{test.meta.path} vs {ref.path}: an integer-coded test against a float reference "
                f"outside [0, 1] ({ref.lo:g}..{ref.hi:g}) have no common scale"
            )
        ref_values, test_values = (np.asarray(image.raw(), np.float64) for image in (reference, test))
        for values, meta in ((ref_values, ref), (test_values, tst)):
            if meta.padding is not None:  # left out below; filled so SSIM's windows stay finite
                meta.padding.fill_pixels(values)
        scale = f"reference float values as held, data range {data_range:g}; test float values as held"
    else:
        ref_values = np.asarray(reference.pixels, np.float64)
        test_values, how = _in_scale(reference, test)
        test_values = np.asarray(test_values, np.float64)
        scale = f"reference {_range_text(ref)}; test {how}"
    exclude = None
    for meta in (ref, tst):
        if meta.padding is not None and meta.padding.mask.shape == ref_values.shape:
            exclude = meta.padding.mask if exclude is None else exclude | meta.padding.mask
    if exclude is not None and exclude.any():
        scale += f"; {int(exclude.sum()):,} padding/NoData pixels left out"
    return ref_values, test_values, 1.0 if data_range is None else float(data_range), exclude, scale


def _pick_one(tests):
    """Of several test files pairing with one reference, the one scored: the same relative
    path as the reference first, else the first by name."""
    return sorted(tests, key=lambda t: (not t[1], str(t[0].relpath)))[0][0]


def score_folders(reference_dir, test_dir, *, data_range=None, max_pixels=DEFAULT_MAX_PIXELS):
    """Score every image of ``test_dir`` against the image of ``reference_dir`` at the same path.

    Files are paired by relative path without the extension (a ``scan.dcm`` reference pairs
    with a ``scan.png`` output of ``enhance degrade``). Values are compared as
    :func:`score_scale` says (never a stretch of a float image; each row's ``scale`` says what
    was compared); ``data_range`` is 1.0 on that scale unless given (required for float
    references outside [0, 1]). When several test files pair with one reference (``a.png``
    and ``a.npy``), one is scored (the same name as the reference, else the first by name)
    and the others are rows with ``skipped`` saying which. ``max_pixels`` is the pixel limit
    of :func:`enhance.io.read_image` (None: none); a file over it is a row with its error.

    Returns
    -------
    ScoreReport
        A row per test file; a missing reference, an unreadable file or a size mismatch is a
        row with ``error`` set (the others are still scored).
    """
    from .io import read_image
    match = _reference_matcher(reference_dir)
    _, tests = batch.discover(test_dir)
    if not tests:
        raise EnhanceError(f"{test_dir}: no image files to score")
    report = ScoreReport()
    pairs, claims = [], {}
    for item in tests:
        row = ScoreRow(str(item.relpath), "", str(item.path))
        ref = None
        try:
            ref, exact = match(item)
        except EnhanceError as error:
            row.error = str(error)
        else:
            row.reference = str(ref.path)
            claims.setdefault(ref.relpath, []).append((item, exact))
        pairs.append((item, ref, row))
    chosen = {rel: _pick_one(items) for rel, items in claims.items() if len(items) > 1}
    for item, ref, row in pairs:
        if ref is not None and ref.relpath in chosen and chosen[ref.relpath] is not item:
            row.skipped = (f"{item.path}: not scored: {chosen[ref.relpath].path} is scored "
                           f"against the same reference {ref.path}")
            report.rows.append(row)
            continue
        if ref is not None:
            try:
                ref_image = read_image(ref.path, max_pixels=max_pixels)
                test_image = read_image(item.path, max_pixels=max_pixels)
                ref_values, test_values, scored_range, exclude, row.scale = score_scale(
                    ref_image, test_image, data_range=data_range)
                row.psnr, row.ssim = score_images(
                    ref_values, test_values, is_stack=ref_image.meta.is_stack,
                    data_range=scored_range, exclude=exclude,
                )
            except ShapeMismatch as error:
                row.error = f"{item.path} vs {ref.path}: {error}"
            except EnhanceError as error:
                row.error = str(error)
            except MemoryError as error:  # scoring two images of an allowed size
                row.error = f"{item.path} vs {ref.path}: out of memory ({error or 'MemoryError'})"
        report.rows.append(row)
    return report


# ---------------------------------------------------------------------------------------------
# scoring without a reference (ultrasound)


@dataclass
class NoReferenceRow:
    """The no-reference numbers of one image (:mod:`enhance.metrics_ultrasound`), or its error.

    ``input`` is the file it was compared with (``--input``), empty when scored alone.
    """

    relpath: str
    path: str
    input: str = ""
    metrics: dict = field(default_factory=dict)
    error: str = ""
    skipped: str = ""  # never set: :class:`ScoreReport`'s rows have it


@dataclass
class NoReferenceReport(ScoreReport):
    """Per-file no-reference numbers and their means with 95% confidence intervals."""

    @property
    def keys(self):
        """The metrics the scored rows have, in :data:`enhance.metrics_ultrasound.REPORT_KEYS` order."""
        from .metrics_ultrasound import REPORT_KEYS

        have = set().union(*(r.metrics for r in self.scored)) if self.scored else set()
        return [k for k in REPORT_KEYS if k in have]

    def summary(self):
        """``{key: (mean, low, high)}`` over the scored files (finite values), and ``n``."""
        from .metrics import mean_ci

        out = {"n": len(self.scored)}
        for key in self.keys:
            values = [r.metrics[key] for r in self.scored
                      if key in r.metrics and math.isfinite(r.metrics[key])]
            out[key] = tuple(float(v) for v in mean_ci(values)) if len(values) > 1 else (
                (float(values[0]),) * 3 if values else (math.nan,) * 3)
        return out


def _frames(pixels, is_stack):
    """The 2-D grayscale frames of an image's pixels (colour by luminance, as the benchmark
    does; every frame of a stack)."""
    from .planes import to_grayscale

    if is_stack:
        return [to_grayscale(frame) for frame in pixels]
    return [to_grayscale(pixels)]


def score_images_noreference(image, output=None, *, mask=None):
    """The no-reference numbers of one frame or of one (input, output) pair, frames averaged.

    ``image`` and ``output`` are lists of 2-D frames (as :func:`_frames` gives); regions are
    found on each input frame (or ``mask``); see
    :func:`enhance.metrics_ultrasound.despeckling_report`.
    """
    from .metrics_ultrasound import despeckling_report

    if output is not None and len(output) != len(image):
        raise ShapeMismatch(f"{len(image)} input frame(s), {len(output)} output frame(s)")
    reports = []
    for k, frame in enumerate(image):
        out = None if output is None else output[k]
        if out is not None and out.shape != frame.shape:
            raise ShapeMismatch(f"shapes differ: input {frame.shape}, output {out.shape}")
        regions = None
        if mask is not None:
            if mask.shape != frame.shape:
                raise ShapeMismatch(f"mask of shape {mask.shape} for a frame of shape {frame.shape}")
            regions = mask
        reports.append(despeckling_report(frame, out, regions=regions))
    return {key: float(np.mean([r[key] for r in reports])) for key in reports[0]}


def score_folder_noreference(folder, *, inputs=None, mask=None, max_pixels=DEFAULT_MAX_PIXELS):
    """Score every image of ``folder`` without a reference: speckle suppression, contrast, edges.

    Alone, each image gets the numbers of a frame (ENL and speckle SNR in homogeneous regions found
    automatically, CNR and gCNR between the brightest and the darkest of them). With ``inputs``,
    each image is taken as the despeckled output of the image of ``inputs`` at the same relative
    path (paired as :func:`score_folders` pairs references) and also gets the pair's numbers: ENL
    gain, edge keeping, Sattar's beta, SSI, SMPI, mean brightness ratio and the ratio-image score
    (:func:`enhance.metrics_ultrasound.despeckling_report`), regions found on the input.

    Parameters
    ----------
    folder : str or Path
        Folder (recursive), file or glob of images.
    inputs : str or Path, optional, keyword-only
        The folder of the noisy inputs the images were restored from.
    mask : (H, W) bool array, optional, keyword-only
        The homogeneous regions (each connected component one region) for every image, instead
        of finding them; an image of another size is a row with its error.
    max_pixels : int or None, keyword-only
        Pixel limit of :func:`enhance.io.read_image` (None: none).

    Returns
    -------
    NoReferenceReport
        A row per image; an unreadable file, a missing input or a size mismatch is a row with
        ``error`` set (the others are still scored).
    """
    from .io import read_image

    _, files = batch.discover(folder)
    if not files:
        raise EnhanceError(f"{folder}: no image files to score")
    pairs = _reference_matcher(inputs, kind="input") if inputs is not None else None
    if mask is not None:
        mask = np.asarray(mask) != 0
    report = NoReferenceReport()
    for item in files:
        row = NoReferenceRow(str(item.relpath), str(item.path))
        try:
            output = None
            if pairs is not None:
                source, _ = pairs(item)
                row.input = str(source.path)
                noisy = read_image(source.path, max_pixels=max_pixels)
                restored = read_image(item.path, max_pixels=max_pixels)
                image = _frames(noisy.pixels, noisy.meta.is_stack)
                # the output in the input's [0, 1] scale, as score_folders compares
                output = _frames(in_scale_of(noisy, restored), noisy.meta.is_stack)
            else:
                alone = read_image(item.path, max_pixels=max_pixels)
                image = _frames(alone.pixels, alone.meta.is_stack)
            row.metrics = score_images_noreference(image, output, mask=mask)
        except ShapeMismatch as error:
            row.error = f"{item.path}" + (f" vs {row.input}" if row.input else "") + f": {error}"
        except EnhanceError as error:
            message = str(error)
            row.error = message if str(item.path) in message or (row.input and row.input in message) \
                else f"{item.path}: {message}"
        except MemoryError as error:
            row.error = f"{item.path}: out of memory ({error or 'MemoryError'})"
        report.rows.append(row)
    return report
