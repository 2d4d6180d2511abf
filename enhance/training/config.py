"""What decides a training run: :class:`TrainConfig`, :class:`TrainResult` and the allowed values.

:class:`TrainConfig` holds every option of a run, checks that they agree
(:meth:`TrainConfig.check`) and writes the ``enhance train`` command line that reproduces the run
(:meth:`TrainConfig.command`); :class:`TrainResult` is what :func:`enhance.training.train`
returns.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import EnhanceError
from ..tasks import DEFAULT_TASK, all_tasks, check_task, get_task

MODES = ("supervised", "noise2void")
SCHEDULES = ("cosine", "step", "constant")
LOSSES = ("mse", "l1", "relative_mse")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


@dataclass
class TrainConfig:
    """Everything that decides a training run (with the data and the seed, the run itself).

    Attributes
    ----------
    arch : str
        ``dncnn``, ``dae`` or ``gan``.
    arch_params : dict
        Builder parameters (``depth``, ``width``, ``levels``, ``skip``, ...); defaults omitted.
    task : str
        A task's name (:func:`enhance.tasks.task_names`).
    mode : str
        ``supervised`` (clean targets) or ``noise2void`` (blind-spot, noisy data only).
    steps : int
        Optimizer steps.
    patch : int
        Side of a training patch (a multiple of the architecture's size factor).
    batch : int
        Patches per step.
    lr : float or None
        Initial learning rate; ``None`` means 1e-3 (2e-4 for ``gan``).
    lr_schedule : str
        ``cosine`` (to 1% of ``lr`` at the last step), ``step`` (x0.1 at 50% and 75%) or
        ``constant``.
    loss : str
        ``mse`` or ``l1`` for supervised ``dncnn``/``dae`` (the GAN uses L1 + adversarial);
        ``relative_mse``: each patch's squared error divided by its input's (its noise power,
        floored at ``(5/255)^2``), so that every noise level of a blind range counts alike in
        PSNR terms -- plain MSE is dominated by the noisiest patches and leaves the low-noise end
        of the range under-trained (see :func:`enhance.training.data.relative_mse_weights`).
    gan_l1_weight : float
        Weight of the L1 term of the GAN generator loss.
    seed : int
        Seeds Keras (weights, dropout), the backend and the NumPy data generator.
    val_every : int
        Validate (and checkpoint) every this many steps, and at the last step.
    log_every : int
        Write a history row every this many steps.
    augment : bool
        Random flips and 90-degree rotations of the patches.
    jitter : bool
        Jitter the degradation parameters (see :attr:`enhance.tasks.Task.jitter`); False trains
        on the spec preset only.
    init_weights : str or None
        A model directory (``enhance run --model`` takes) whose weights start the run instead of
        a random initialisation: fine-tuning, e.g. a shipped model on your own images. Its
        architecture and task must be this run's; the card records its weights' SHA-256.
    jitter_table : str or None
        Draw the degradation parameters from the task's jitter table of that name
        (:attr:`enhance.tasks.Task.jitter_tables`, e.g. speckle's ``real-bmode``: ranges fitted
        to real B-mode frames) instead of its own jitter; None: the task's own.
    target_realizations : int
        0: the target is the clean image. ``K > 0``: the mean of ``K`` further independent
        degradations of the clean patch with the same parameters (Noise2Noise's target,
        averaged; :func:`enhance.tasks.make_training_pair`): the network learns the degraded
        image's local mean instead of the image behind it -- for B-mode speckle, despeckling
        that keeps the brightness and the scanner's resolution (no deblurring, no tone change
        from clipping or the thermal floor). Validation then scores against the mean of 32.
    noisy_data : bool
        The training images are already noisy (``noise2void`` on real noisy data): they are
        not degraded, and there is no PSNR validation.
    n2v_fraction : float
        Fraction of blind-spot pixels per patch (``noise2void``).
    n2v_struct : str or None
        A structured blind spot ``"ROWSxCOLS"`` (odd sides, e.g. ``"5x5"``; ``noise2void``):
        the whole block around each blind-spot pixel is replaced by random pixels of the patch
        (Struct-Noise2Void, for spatially correlated noise such as speckle grain; see
        :func:`enhance.tasks.blind_spot_batch`). None: the pixel-wise blind spot. A block that
        is not square needs ``augment`` off (its 90-degree rotations swap rows and columns).
    jit_compile : bool or str
        Passed to ``compile``. ``"auto"``: XLA only on an accelerator (on a CPU, XLA made
        TensorFlow training slower).
    precision : str
        ``float32``, ``mixed_float16`` or ``mixed_bfloat16`` (Keras dtype policies);
        ``"auto"``: ``mixed_float16`` for dncnn/dae on an accelerator, else ``float32`` (CPU
        training stays float32). The saved model directory always holds float32 weights.
    deterministic : bool
        Ask the backend for deterministic kernels (same seed, same weights).
    """

    arch: str = "dncnn"
    arch_params: dict = field(default_factory=dict)
    task: str = DEFAULT_TASK
    mode: str = "supervised"
    steps: int = 2000
    patch: int = 48
    batch: int = 32
    lr: float | None = None
    lr_schedule: str = "cosine"
    loss: str = "mse"
    gan_l1_weight: float = 100.0
    seed: int = 0
    val_every: int = 250
    log_every: int = 10
    augment: bool = True
    jitter: bool = True
    jitter_table: str | None = None
    init_weights: str | None = None
    target_realizations: int = 0
    noisy_data: bool = False
    n2v_fraction: float = 0.01
    n2v_struct: str | None = None
    jit_compile: bool | str = "auto"
    precision: str = "auto"
    deterministic: bool = True

    @property
    def learning_rate(self):
        """The initial learning rate, with the architecture's default filled in."""
        if self.lr is not None:
            return float(self.lr)
        return 2e-4 if self.arch == "gan" else 1e-3

    @property
    def n2v_block(self):
        """The structured blind spot as ``(rows, cols)``, or None (pixel-wise)."""
        if self.n2v_struct is None:
            return None
        parts = str(self.n2v_struct).lower().split("x")
        try:
            rows, cols = (int(part) for part in parts)
        except ValueError:
            rows = cols = 0
        if rows < 1 or cols < 1 or rows % 2 == 0 or cols % 2 == 0:
            raise EnhanceError(
                f"n2v_struct must be ROWSxCOLS with odd positive sides (e.g. '5x5'), "
                f"got {self.n2v_struct!r}"
            )
        return rows, cols

    def to_dict(self):
        return asdict(self)

    def __post_init__(self):
        self.check()  # a TrainConfig that exists is a valid one

    @classmethod
    def from_dict(cls, values):
        """The configuration of ``values`` (e.g. a card's ``train_config``); unknown keys are
        refused, not dropped."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise EnhanceError(f"unknown training options {unknown}; known: {sorted(known)}")
        return cls(**values)

    def check(self):
        """Raise :class:`~enhance.errors.EnhanceError` for an inconsistent configuration."""
        from ..models import registry

        check_task(self.task)
        registry.resolve_params({"arch": self.arch, "arch_params": self.arch_params})
        for name, value, allowed in (
            ("mode", self.mode, MODES),
            ("lr_schedule", self.lr_schedule, SCHEDULES),
            ("loss", self.loss, LOSSES),
            ("precision", self.precision, PRECISIONS),
        ):
            if value not in allowed:
                raise EnhanceError(f"{name} must be one of {allowed}, got {value!r}")
        if self.steps < 1 or self.batch < 1 or self.val_every < 1 or self.log_every < 1:
            raise EnhanceError("steps, batch, val_every and log_every must be positive")
        factor = registry.size_factor({"arch": self.arch, "arch_params": self.arch_params})
        if self.patch < factor or self.patch % factor:
            raise EnhanceError(f"patch {self.patch} must be a multiple of {factor} for {self.arch}")
        if self.loss != "mse" and (self.arch == "gan" or self.mode == "noise2void"):
            raise EnhanceError(f"loss {self.loss!r} is for supervised dncnn/dae training")
        if self.mode == "noise2void" and self.arch == "gan":
            raise EnhanceError("noise2void trains dncnn or dae, not the gan")
        if self.arch == "gan" and self.precision.startswith("mixed"):
            raise EnhanceError("the gan trains in float32 (its train_step does no loss scaling)")
        params = registry.resolve_params({"arch": self.arch, "arch_params": self.arch_params})
        task = get_task(self.task)
        if params.get("noise_map") and (self.mode != "supervised" or not task.noise_map):
            mapped = [t.name for t in all_tasks() if t.noise_map]
            raise EnhanceError(f"a noise-map model is trained supervised on {', '.join(mapped)}")
        block = self.n2v_block
        if block is not None:
            if self.mode != "noise2void":
                raise EnhanceError("n2v_struct is a blind spot of mode='noise2void'")
            if max(block) * 2 >= self.patch:
                raise EnhanceError(
                    f"n2v_struct {self.n2v_struct} must be less than half the patch {self.patch}"
                )
            if self.augment and block[0] != block[1]:
                raise EnhanceError(
                    f"n2v_struct {self.n2v_struct} is not square: train it with augment false "
                    "(90-degree rotations swap rows and columns)"
                )
        if self.init_weights is not None and self.arch == "gan":
            raise EnhanceError("init_weights starts a dncnn, dae or nafnet run, not the gan")
        if self.jitter_table is not None:
            task.jitter_table(self.jitter_table)  # one line naming the task's tables
            if not self.jitter or self.noisy_data:
                raise EnhanceError("jitter_table needs jitter=True and clean training data")
        if int(self.target_realizations) != self.target_realizations or self.target_realizations < 0:
            raise EnhanceError(f"target_realizations must be an integer >= 0, got "
                               f"{self.target_realizations!r}")
        if self.target_realizations and (self.mode != "supervised" or self.noisy_data):
            raise EnhanceError("target_realizations needs mode='supervised' on clean training data")
        if self.noisy_data and (self.mode != "noise2void" or not task.noisy_training_data):
            noisy = [t.name for t in all_tasks() if t.noisy_training_data]
            raise EnhanceError(f"noisy_data needs mode='noise2void' and task {' or '.join(noisy)}")

    def command(self, out_dir, data="medical-v1"):
        """The ``enhance train`` command line that reproduces this run.

        Rendered here, not by the command line, because the library writes the card (and never
        imports the CLI); it is the inverse of ``enhance train``'s parsing (every field an
        option, dicts as JSON, others as text), which tests/test_shipped.py proves by parsing
        commands back with the click command into an equal :class:`TrainConfig`.
        """
        words = [
            "enhance",
            "train",
            "--arch",
            self.arch,
            "--task",
            self.task,
            "--steps",
            str(self.steps),
            "--seed",
            str(self.seed),
            "--out",
            str(out_dir),
        ]
        if not (isinstance(data, str) and data == "medical-v1"):
            words += [
                "--data",
                data if isinstance(data, (str, os.PathLike)) else "<in-memory data>",
            ]
        default = TrainConfig()
        for f in fields(self):
            if f.name in ("arch", "task", "steps", "seed"):
                continue
            value = getattr(self, f.name)
            if value != getattr(default, f.name):
                text = json.dumps(value, sort_keys=True) if isinstance(value, dict) else str(value)
                words += [f"--{f.name.replace('_', '-')}", text]
        return " ".join(shlex.quote(str(w)) for w in words)


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    model_dir : Path
        The best model directory (``out_dir / "model"``).
    history : list of dict
        The rows of ``history.csv``.
    best_psnr : float or None
        Validation PSNR of the saved model (None without validation).
    steps_done : int
    wall_time_s : float
        Training time over all sessions of this run.
    """

    model_dir: Path
    history: list
    best_psnr: float | None
    steps_done: int
    wall_time_s: float
