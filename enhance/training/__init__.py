"""Train an enhancement network: on-the-fly degraded patches, validation, checkpoints, resume.

``train(config, data=..., out_dir=...)`` writes under ``out_dir``::

    model/         the best model so far by validation PSNR (a model directory, see
                   enhance.modeldir), with its card
    state/         the last checkpoint: checkpoint.npz (network weights, optimizer variables)
                   and state.json (step, the data generator's NumPy state, best score, config);
                   resume continues from here
    history.csv    step, loss, learning rate, validation PSNR/SSIM, wall time

Training patches are degraded on the fly (:mod:`.data`); validation scores the network on
validation images degraded once by the spec (:mod:`.validation`); ``mode="noise2void"`` trains
without clean targets (:mod:`.data`).

Modules: :mod:`.config` (:class:`TrainConfig`, :class:`TrainResult`, the allowed values),
:mod:`.data` (the training data and batches), :mod:`.networks` (the networks and their
optimizers), :mod:`.validation` (validation images and :func:`evaluate`), :mod:`.checkpoint`
(the checkpoint folder, shared with :mod:`enhance.synth.training`), :mod:`.records`
(``history.csv``, the model card), :mod:`.loop` (:func:`train`).

Keras is imported when :func:`train` runs, not when this package or its modules are imported.
"""

from .config import TrainConfig, TrainResult
from .data import resolve_data
from .loop import train
from .validation import evaluate

__all__ = ["TrainConfig", "TrainResult", "train", "resolve_data", "evaluate"]
