"""What decides a run of ``enhance run``: :class:`RunOptions` and :class:`ModelRef`.

:class:`RunOptions` holds every option of a run in one frozen object, checked when it is made
(as :class:`enhance.training.config.TrainConfig` is): an unknown option or a value out of range is
refused with one line, before any file is read or written. The command line builds one and makes
one library call (:func:`enhance.pipeline.enhance_folder`); the Python API builds the same object
from its keyword arguments (:meth:`RunOptions.from_dict`).

:class:`ModelRef` is the model of a run resolved once: where it comes from (a shipped name or a
path), its folder, and its ``config.json`` and ``card.json`` read once (weights checked against
the card). Everything after resolution (the manifest, the low-light check, loading on a runtime,
the preview's title) reads it from the reference, never from the folder again.

:meth:`RunOptions.recipe` is what decides the bytes of an output (the model's weights, the noise
level told, precision, self-ensemble, output format, de-identification): it is recorded in each
manifest line, and a later run over the same output folder with another recipe is refused unless
``overwrite`` (see :func:`enhance.pipeline.enhance_folder`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from .errors import EnhanceError
from .io.limits import DEFAULT_MAX_PIXELS
from .names import OUTPUT_FORMATS, PRECISIONS, RUNTIMES
from .names import check_choice as _choice
from .names import check_number as _number
from .names import check_whole as _whole

__all__ = ["RunOptions", "ModelRef", "ENGINES", "ENGINE_OPTIONS", "RECIPE_FIELDS"]

#: Where the files of a run are processed.
ENGINES = ("local", "ray")
#: The keys of :attr:`RunOptions.engine_options` (those of :class:`enhance.ray_engine.RayEngine`).
ENGINE_OPTIONS = ("address", "actors", "cpus_per_actor", "gpus_per_actor", "num_cpus")
#: The options that decide an output's bytes, beside the model's weights (:meth:`RunOptions.recipe`).
#: Tiles, windows per call, memory and runtime are left out: they decide how the same
#: restoration is computed, not what it is.
RECIPE_FIELDS = ("exposure", "sigma", "photons", "read_noise", "self_ensemble", "precision",
                 "output_format", "anonymize")
#: The smallest tile core a run accepts (:data:`enhance.predict.MIN_TILE`, the out-of-memory
#: back-off's floor): smaller cores cost more margin than image.
MIN_TILE = 32


@dataclass(frozen=True)
class RunOptions:
    """Every option of ``enhance run`` (and of :func:`enhance.enhance_folder`), checked.

    Attributes
    ----------
    model : str or Path or ModelRef or LoadedModel, optional
        A shipped model's name, a model directory given as a path, a resolved
        :class:`ModelRef` or a loaded model (:func:`enhance.load_model`, from a directory);
        default: the shipped default of ``task``.
    task : str, optional
        Picks the default model when ``model`` is not given (``gaussian``).
    exposure : float, optional
        The acquisition's exposure, required by low-light models (> 0).
    sigma : float, optional
        Gaussian noise std in [0, 1] units told to a noise-conditioned model (estimated per
        image when not given).
    photons, read_noise : float, optional
        Low-light models: photons at full scale (> 0) and read-noise std in [0, 1] units.
    tile : int, optional
        Tile core in pixels (>= :data:`MIN_TILE`); default: planned from ``max_memory``.
    batch_size : int
        At most this many tiles per network call (>= 1).
    max_memory : int, optional
        Bytes for one image's work beyond the runtime and the model (> 0).
    self_ensemble : bool
        Average the restorations of the eight flips and rotations of each image.
    precision : {"float32", "bfloat16"}
    runtime : {"auto", "openvino", "keras"}
    output_format : {"keep", "png16", "tiff16", "npy"}
    max_pixels : int or None
        Files whose header claims more pixels are refused before decoding (None: no limit).
    anonymize : bool
        De-identify DICOM (and NIfTI) outputs, name outputs by pseudonyms and keep input names
        out of OUT (:mod:`enhance.io.deid`, :func:`enhance.outputs.redactor`; no preview).
    deid_key : str or Path, optional
        The key file of ``anonymize``, never inside OUT (default:
        :func:`enhance.io.deid.default_key_file`; created 0600 when missing).
    overwrite : bool
        Redo files whose output exists (also those of another recipe, which are otherwise
        refused).
    dry_run : bool
        List what would be done and stop.
    preview : bool
        Write ``OUT/preview.png`` (:mod:`enhance.preview`) after the run.
    engine : {"local", "ray"}
    engine_options : dict
        For ``ray``: keys of :data:`ENGINE_OPTIONS` (see :class:`enhance.ray_engine.RayEngine`).
    store : str, optional
        A DICOMweb service root (``http(s)://HOST[:PORT]/PATH``, no credentials in it): each
        DICOM output is also stored there (STOW-RS) into its source's study, one new series per
        source series (:mod:`enhance.sources`). Only with ``output_format="keep"`` and the
        ``local`` engine; normalised without a trailing slash.
    connection : enhance.sources.dicomweb.Connection or dict, optional
        How to talk to DICOMweb services (a source URL, ``store``): ``ca_bundle``, ``timeout``
        (> 0 s), ``retries`` (>= 0), ``backoff`` (>= 0 s); a dict becomes a ``Connection``
        (checked). Credentials never travel here: the environment or a netrc file
        (:func:`enhance.sources.dicomweb.credentials`). Default: ``Connection()``'s.

    Raises
    ------
    EnhanceError
        On construction: a value of the wrong type or out of range (NaN, infinity, a negative
        sigma, a tile under :data:`MIN_TILE`, a batch size of 0, ...), an unknown choice,
        engine options without ``engine="ray"``, a ``store`` that is no service root or comes
        with another output format than ``keep`` or another engine than ``local``, a
        ``connection`` out of range; one line.
    """

    model: object = None
    task: str | None = None
    exposure: float | None = None
    sigma: float | None = None
    photons: float | None = None
    read_noise: float | None = None
    tile: int | None = None
    batch_size: int = 8
    max_memory: int | None = None
    self_ensemble: bool = False
    precision: str = "float32"
    runtime: str = "auto"
    output_format: str = "keep"
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    anonymize: bool = False
    deid_key: str | Path | None = None
    overwrite: bool = False
    dry_run: bool = False
    preview: bool = True
    engine: str = "local"
    engine_options: dict = field(default_factory=dict)
    store: str | None = None
    connection: object = None

    def __post_init__(self):
        self.check()  # a RunOptions that exists is a valid one

    @classmethod
    def from_dict(cls, values):
        """The options of ``values`` (keyword arguments of the API); unknown keys are refused
        with one line, not dropped."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise EnhanceError(f"unknown run option{'s' if len(unknown) > 1 else ''} "
                               f"{', '.join(unknown)}; known: {', '.join(known)}")
        return cls(**values)

    def replace(self, **changes):
        """A copy with ``changes`` (checked again)."""
        return replace(self, **changes)

    def check(self):
        """Raise :class:`~enhance.errors.EnhanceError` for a value out of range; normalise numbers."""
        set_ = object.__setattr__
        if self.task is not None:
            from .tasks import task_names

            _choice("task", self.task, task_names())
        checks = {
            "exposure": dict(low=0, high=1, low_open=True, what=" (the fraction of the full dose)"),
            "sigma": dict(low=0, high=1, what=" (the noise std in [0, 1] units, e.g. 0.098 for 25/255)"),
            "photons": dict(low=0, low_open=True, what=" (photons at full scale)"),
            "read_noise": dict(low=0, high=1, what=" (the read-noise std in [0, 1] units)"),
        }
        for name, bounds in checks.items():
            value = getattr(self, name)
            if value is not None:
                set_(self, name, _number(name, value, **bounds))
        if self.tile is not None:
            set_(self, "tile", _whole("tile", self.tile, low=MIN_TILE))
        set_(self, "batch_size", _whole("batch_size", self.batch_size, low=1))
        if self.max_memory is not None:
            set_(self, "max_memory", _whole("max_memory", self.max_memory, low=1))
        if self.max_pixels is not None:
            set_(self, "max_pixels", _whole("max_pixels", self.max_pixels, low=1))
        for name in ("self_ensemble", "anonymize", "overwrite", "dry_run", "preview"):
            if not isinstance(getattr(self, name), bool):
                raise EnhanceError(f"{name} must be True or False, not {getattr(self, name)!r}")
        if self.deid_key is not None and not self.anonymize:
            raise EnhanceError("a de-identification key (--deid-key) is only used with --anonymize")
        _choice("precision", self.precision, PRECISIONS)
        _choice("runtime", self.runtime, RUNTIMES)
        _choice("output_format", self.output_format, OUTPUT_FORMATS)
        _choice("engine", self.engine, ENGINES)
        options = dict(self.engine_options or {})
        unknown = sorted(set(options) - set(ENGINE_OPTIONS))
        if unknown:
            raise EnhanceError(f"unknown engine option {', '.join(unknown)}; known: "
                               f"{', '.join(ENGINE_OPTIONS)}")
        given = {k: v for k, v in options.items() if v is not None}
        if self.engine != "ray" and given:
            raise EnhanceError(f"engine options {', '.join(sorted(given))}: only with engine 'ray'")
        set_(self, "engine_options", options)
        self._check_dicomweb()

    def _check_dicomweb(self):
        """``store`` and ``connection`` (:mod:`enhance.sources.dicomweb`; imported only when
        given)."""
        if self.store is None and self.connection is None:
            return
        from .sources.dicomweb import Connection, check_root

        connection = self.connection
        if isinstance(connection, dict):
            unknown = sorted(set(connection) - set(Connection.__dataclass_fields__))
            if unknown:
                raise EnhanceError(f"unknown connection option {', '.join(unknown)}; known: "
                                   f"{', '.join(Connection.__dataclass_fields__)}")
            connection = Connection(**{k: v for k, v in connection.items() if v is not None})
        elif connection is not None and not isinstance(connection, Connection):
            raise EnhanceError(f"connection must be a dict or an enhance.sources.Connection, not "
                               f"{type(connection).__name__}")
        object.__setattr__(self, "connection", connection)
        if self.store is None:
            return
        object.__setattr__(self, "store", check_root(self.store))
        if self.output_format != "keep":
            raise EnhanceError(f"--store stores DICOM outputs: use --format keep, not "
                               f"{self.output_format}")
        if self.engine != "local":
            raise EnhanceError("--store runs on the local engine only")

    def recipe(self, model):
        """What decides an output's bytes: the model (name and weights' sha256, from
        ``model``, a :class:`ModelRef`) and :data:`RECIPE_FIELDS`; recorded in the manifest."""
        return {"model": model.name, "model_sha256": model.sha256,
                **{name: getattr(self, name) for name in RECIPE_FIELDS}}


@dataclass(frozen=True)
class ModelRef:
    """A model resolved once: where it comes from and its checked JSON (no Keras).

    Attributes
    ----------
    source : {"shipped", "path"}
        A bare name (or the task's default) is a shipped model; a path is a directory.
    path : Path
        The model directory, absolute.
    given : str
        What was given (a name, a path as typed, or the default's name): messages use it.
    found : enhance.modeldir.ModelDir
        ``config.json`` and ``card.json``, read once, weights checked against the card.
    """

    source: str
    path: Path
    given: str
    found: object = field(repr=False, compare=False)

    @classmethod
    def resolve(cls, model=None, *, task=None):
        """Resolve ``model`` (a name, a path, None: the default of ``task``) to an enhancer.

        Raises
        ------
        ModelError
            As :func:`enhance.shipped.resolve_model` (an unknown name with the closest shipped
            enhancers, a path that is no model directory, a model of another kind) and
            :func:`enhance.modeldir.read_model_dir` (unreadable JSON, weights that do not match
            the card).
        """
        from .modeldir import read_model_dir
        from .shipped import check_kind, describe_model, locate_model

        if isinstance(model, ModelRef):
            return model
        path = locate_model(model, task=task, kind="enhancer")  # where it is (no JSON read)
        given = str(model) if model is not None else Path(path).name  # the task's default
        found = read_model_dir(path)  # config.json and card.json: the one read of a run
        check_kind(given, found.kind, "enhancer")
        source = describe_model(model, path)["model_source"]
        return cls(source, Path(path).resolve(), given, found)

    @classmethod
    def of_loaded(cls, loaded):
        """The reference of a model already loaded from a directory (nothing read again).

        Raises
        ------
        EnhanceError
            A model not loaded from a directory (it could not be recorded in a manifest).
        """
        from .modeldir import KINDS, ModelDir
        from .shipped import weights_dir

        if loaded.path is None:
            raise EnhanceError(f"{loaded.name}: a model not loaded from a directory cannot be "
                               "recorded in a manifest; save it with enhance.modeldir.save_model_dir")
        path = Path(loaded.path).resolve()
        shipped = path.parent == weights_dir().resolve()
        spec = KINDS["enhancer"]
        found = ModelDir(path, "enhancer", loaded.config, loaded.card, path / spec.weights_file,
                         loaded.card.get(spec.sha_key, ""))
        return cls("shipped" if shipped else "path", path, path.name if shipped else str(path),
                   found)

    @property
    def config(self):
        return self.found.config

    @property
    def card(self):
        return self.found.card

    @property
    def name(self):
        """The card's name, else the folder's."""
        return self.card.get("name") or self.path.name

    @property
    def task(self):
        return self.config.get("task")

    @property
    def sha256(self):
        """The weights' SHA-256 (the card's, checked at resolution)."""
        return self.found.sha256

    @property
    def label(self):
        """``NAME (shipped)`` or ``NAME (PATH as given)``: how the command line names it."""
        return f"{self.name} ({'shipped' if self.source == 'shipped' else self.given})"

    def describe(self):
        """``{"model_source", "model_path"}`` for the manifest."""
        return {"model_source": self.source, "model_path": str(self.path)}

    def load(self, *, precision="float32", runtime="auto"):
        """The model loaded on ``runtime`` in ``precision`` (:func:`enhance.runtime.load_enhancer`),
        from the JSON read at resolution."""
        from .runtime import load_enhancer

        return load_enhancer(self.found, precision=precision, runtime=runtime)
