"""Validation: degrade the validation images once, and score a network on them.

Validation degrades each whole validation image once, with the task's spec preset and the spec's
seed rule (``default_rng(1000 d + i)``, ``d`` the preset's stable number,
:func:`enhance.tasks.degradation_id`: its place in the spec's benchmark list, ``i`` the image's
index), and scores the model with PSNR and SSIM (``data_range=1``; SSIM with a Gaussian window, sigma 1.5, population
covariance, as the spec says).
"""

from __future__ import annotations

import numpy as np

from ..tasks import make_training_pair


#: Realizations averaged into a validation target when a run's target is the degraded image's
#: mean (``TrainConfig.target_realizations``): the validation scores the estimate of that mean.
VALIDATION_REALIZATIONS = 32


def validation_items(validation, task, noise_map=False, table=None, *, target_realizations=0):
    """Degrade each validation image once, with the spec preset and the spec's seed rule; a run
    on a jitter ``table`` validates on the table's centre (:meth:`enhance.tasks.Task.
    validation_params`) with the same seeds, and the returned name is the table's. A run whose
    target is the mean of degradations (``target_realizations`` > 0) is validated against the
    mean of :data:`VALIDATION_REALIZATIONS` of them, drawn after the input from the same seed."""
    from ..degrade import benchmark_seed
    from ..tasks import degradation_id, get_task

    spec = get_task(task)
    preset = spec.validation_preset if table is None else table
    index = degradation_id(spec.validation_preset)
    params = spec.validation_params(table)
    items = []
    for number, (name, clean) in enumerate(validation):
        rng = np.random.default_rng(benchmark_seed(index, number))
        model_input, target = make_training_pair(
            clean, rng, task, params=params, noise_map=noise_map,
            target_realizations=VALIDATION_REALIZATIONS if target_realizations else 0,
        )
        items.append((name, model_input, target))
    return preset, items


def evaluate(network, items, task, receptive_field, size_factor):
    """PSNR and SSIM of ``network`` on ``(name, model_input, clean)`` items.

    Returns
    -------
    dict
        ``psnr`` and ``ssim`` (means) and ``per_image`` ``{name: {"psnr", "ssim"}}``.
    """
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from ..predict import run_network
    from ..tasks import finish_output
    from ..tiling import margin_for

    margin = margin_for(receptive_field, size_factor)
    per_image = {}
    for name, model_input, clean in items:
        output = run_network(
            network,
            [model_input if model_input.ndim == 3 else model_input[..., None]],
            margin=margin, size_factor=size_factor, batch_size=1
        )[0][..., 0]
        restored = finish_output(output, task).astype(np.float64)
        clean = np.asarray(clean, dtype=np.float64)
        per_image[name] = {
            "psnr": float(peak_signal_noise_ratio(clean, restored, data_range=1.0)),
            "ssim": float(
                structural_similarity(
                    clean,
                    restored,
                    data_range=1.0,
                    gaussian_weights=True,
                    sigma=1.5,
                    use_sample_covariance=False,
                )
            ),
        }
    return {
        "psnr": float(np.mean([v["psnr"] for v in per_image.values()])),
        "ssim": float(np.mean([v["ssim"] for v in per_image.values()])),
        "per_image": per_image,
    }
