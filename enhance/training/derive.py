"""Model directories derived from a trained one without training: the same weights, another use.

:func:`derive_vst_model` turns a noise-conditioned Gaussian denoiser into a low-light model that
works through the generalized Anscombe transform (Makitalo & Foi 2013): the dark image is
variance-stabilised to Gaussian noise of std 1, scaled to about [0, 1], denoised by the network
told that (constant) noise level, and mapped back by the exact unbiased inverse
(:class:`enhance.tasks.lowlight.VarianceStabilised`) -- VST+BM3D with BM3D replaced by the network.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelError

__all__ = ["derive_vst_model"]


def derive_vst_model(source, out_dir, *, name=None):
    """Write a low-light model directory that runs ``source``'s network through the VST.

    Parameters
    ----------
    source : str or Path
        A model directory of a noise-conditioned ``gaussian`` model (``arch_params.noise_map``).
    out_dir : str or Path
        The new model directory (replaced atomically if it exists).
    name : str, optional
        The new card's name (default: ``out_dir``'s folder name).

    Returns
    -------
    pathlib.Path
        ``out_dir``. Its card copies ``source``'s (training command, data, seed) under
        ``derived_from`` with the source's weights sha256, and says how the model is used; the
        weights file is the source's, byte for byte (the same sha256).
    """
    from ..modeldir import WEIGHTS_FILE, load_model_dir, make_config, save_model_dir
    from ..tasks import get_task, lowlight as lowlight_task

    loaded = load_model_dir(source)
    target = lowlight_task.TASK
    # the VST turns low light into additive Gaussian noise of a known, constant level: the
    # denoiser must be a model conditioned on that level (a constant noise-level map)
    denoiser = get_task(loaded.task)
    if denoiser.constant_noise_level({"sigma": 1.0}) is None or not loaded.noise_map:
        raise ModelError(
            f"{source}: a VST low-light model needs a noise-conditioned gaussian model "
            f"(task {loaded.task!r}, noise_map {loaded.noise_map})"
        )
    out_dir = Path(out_dir)
    lowlight = target.describe()
    model_input = (
        "the dark image through the generalized Anscombe transform (counts = image * photons; "
        "read noise in counts), divided by the transform of a full-brightness pixel, then the "
        "noise-level map (constant 1 / that scale); output through the exact unbiased inverse "
        "and divided by the exposure"
    )
    config = make_config(
        loaded.config["arch"],
        target.name,
        arch_params=loaded.config["arch_params"],
        task_params={
            "mode": "supervised",
            "model_input": model_input,
            "input_transform": "vst",
            "denoiser": loaded.name,
        },
        channels=loaded.channels,
    )
    card = {
        "name": name or out_dir.name,
        "arch": config["arch"],
        "arch_params": config["arch_params"],
        "receptive_field": config["receptive_field"],
        "size_factor": config["size_factor"],
        "task": {**lowlight, "model_input": model_input},
        "command": loaded.card.get("command"),
        "derived_from": {
            "name": loaded.name,
            "weights_sha256": loaded.card.get("weights_sha256"),
            "how": "enhance.training.derive.derive_vst_model (same weights, low light through "
                   "the generalized Anscombe transform)",
        },
        **{k: loaded.card[k] for k in ("seed", "steps", "steps_done", "train_config",
                                       "training_data", "software", "wall_time_s")
           if k in loaded.card},
    }
    return save_model_dir(out_dir, loaded.keras_model, config, card,
                          weights_file=Path(source) / WEIGHTS_FILE)
