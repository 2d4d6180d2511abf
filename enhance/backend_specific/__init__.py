"""All of the package's backend-specific code, in one place.

Here: the pix2pix enhancer's gradient step, op determinism and accelerator detection;
:mod:`enhance.backend_specific.synth_gan_steps`: the gradient step of the synthesis GAN.
Everything else in the package is written with ``keras`` and ``keras.ops`` only.

Keras 3 leaves the gradient computation of a custom ``train_step`` to the backend. The GAN step
is written for TensorFlow (tested) and PyTorch (following the Keras guide for torch; not tested
here, torch is not installed). The JAX backend needs a stateless ``train_step(state, data)``;
it is not implemented and raises :class:`~enhance.errors.ModelError`.
"""

from __future__ import annotations

import keras

from ..errors import ModelError

__all__ = ["gan_train_step", "enable_determinism", "accelerator_available"]


def gan_train_step(model, *args):
    """One discriminator update then one generator update of a ``Pix2PixEnhancer``.

    Parameters
    ----------
    model : enhance.models.gan.Pix2PixEnhancer
    *args
        ``(data,)`` where ``data`` is ``(degraded, clean)`` (possibly with a sample weight).

    Returns
    -------
    dict
        The model's tracker values (``loss``, ``d_loss``, ``l1``, ``adversarial``).
    """
    backend = keras.config.backend()
    if backend == "tensorflow":
        return _tensorflow_step(model, *args)
    if backend == "torch":
        return _torch_step(model, *args)
    raise ModelError(
        f"GAN training is implemented for the tensorflow and torch backends, not {backend!r}; "
        "set KERAS_BACKEND=tensorflow"
    )


def _unpack(data):
    noisy, clean = data[0], data[1]
    return noisy, clean


def _tensorflow_step(model, data):
    import tensorflow as tf

    noisy, clean = _unpack(data)
    restored = model.generator(noisy, training=True)
    with tf.GradientTape() as tape:
        d_loss = model.discriminator_loss(noisy, clean, restored, training=True)
    d_vars = model.discriminator.trainable_variables
    model.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars))
    with tf.GradientTape() as tape:
        g_loss, l1, adversarial = model.generator_loss(noisy, clean, training=True)
    g_vars = model.generator.trainable_variables
    model.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, g_vars), g_vars))
    return model.record(g_loss, d_loss, l1, adversarial)


def _torch_step(model, data):
    import torch

    noisy, clean = _unpack(data)
    with torch.no_grad():
        restored = model.generator(noisy, training=True)
    model.zero_grad()
    d_loss = model.discriminator_loss(noisy, clean, restored, training=True)
    d_loss.backward()
    d_vars = model.discriminator.trainable_weights
    with torch.no_grad():
        model.d_optimizer.apply([v.value.grad for v in d_vars], d_vars)
    model.zero_grad()
    g_loss, l1, adversarial = model.generator_loss(noisy, clean, training=True)
    g_loss.backward()
    g_vars = model.generator.trainable_weights
    with torch.no_grad():
        model.g_optimizer.apply([v.value.grad for v in g_vars], g_vars)
    return model.record(g_loss, d_loss, l1, adversarial)


def enable_determinism():
    """Ask the backend for deterministic kernels (same seed, same weights after training)."""
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif backend == "torch":
        import torch

        torch.use_deterministic_algorithms(True, warn_only=True)


def accelerator_available():
    """Whether the backend sees a GPU (or TPU)."""
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(
            tf.config.list_physical_devices("GPU") or tf.config.list_physical_devices("TPU")
        )
    if backend == "torch":
        import torch

        return bool(torch.cuda.is_available())
    if backend == "jax":
        import jax

        return any(device.platform != "cpu" for device in jax.devices())
    return False
