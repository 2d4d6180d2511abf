"""All backend-specific code of the synthesis GAN: the gradient step of ``SynthGAN.train_step``.

Keras 3 leaves gradients in a custom ``train_step`` to the backend. Everything else (losses,
DiffAugment, EMA, trackers) is ``keras.ops`` in :class:`enhance.synth.gan.SynthGAN`.

* ``tensorflow`` -- ``tf.GradientTape`` (tested);
* ``torch`` -- ``loss.backward()`` as in the keras.io guide for torch (tested when torch is
  installed: ``tests/test_backends.py``; CI does not install it);
* ``jax`` -- jitted pure gradients of each loss and eager optimizer updates
  (:func:`enhance.backend_specific.jax_update`; tested).
"""

from __future__ import annotations

import keras


__all__ = ["gan_train_step"]


def gan_train_step(gan, *args):
    """One discriminator update, one generator update and the EMA update of a ``SynthGAN``.

    Parameters
    ----------
    gan : enhance.synth.gan.SynthGAN
    *args
        ``(data,)`` (``(state, data)`` under JAX); ``data`` is ``(real_images, labels)``:
        images (B, H, W, C) in [-1, 1], labels int32 (B, 1).

    Returns
    -------
    dict
        Running means of ``d_loss``, ``g_loss``, ``d_real``, ``d_fake``.
    """
    from . import run_backend_step

    steps = {"tensorflow": _tensorflow_step, "jax": _jax_step, "torch": _torch_step}
    return run_backend_step(steps, gan, *args)


def _unpack(data):
    real, labels = data[0], data[1]
    return real, keras.ops.cast(keras.ops.reshape(labels, (-1, 1)), "int32")


def _tensorflow_step(gan, data):
    import tensorflow as tf

    real, labels = _unpack(data)
    batch = tf.shape(real)[0]
    fake = gan.generator([gan.sample_latent(batch), labels], training=True)
    d_vars = gan.discriminator.trainable_variables
    with tf.GradientTape() as tape:
        d_loss, d_real, d_fake = gan.discriminator_loss(real, fake, labels)
    gan.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars))
    z = gan.sample_latent(batch)
    g_vars = gan.generator.trainable_variables
    with tf.GradientTape() as tape:
        g_loss = gan.generator_loss(z, labels)
    gan.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, g_vars), g_vars))
    gan.update_ema()
    return gan.update_trackers(d_loss, g_loss, d_real, d_fake)


def _jax_step(gan, state, data):
    from . import jax_state, jax_update

    real, labels = _unpack(data)
    batch = real.shape[0]

    def discriminator_objective(real, labels):
        fake = gan.generator([gan.sample_latent(batch), labels], training=True)
        d_loss, d_real, d_fake = gan.discriminator_loss(real, fake, labels)
        return d_loss, (d_real, d_fake)

    def generator_objective(labels):
        return gan.generator_loss(gan.sample_latent(batch), labels), ()

    d_loss, (d_real, d_fake) = jax_update(
        gan, gan.d_optimizer, gan.discriminator.trainable_variables,
        discriminator_objective, real, labels,
    )
    g_loss, _ = jax_update(
        gan, gan.g_optimizer, gan.generator.trainable_variables, generator_objective, labels
    )
    gan.update_ema()
    return gan.update_trackers(d_loss, g_loss, d_real, d_fake), jax_state(gan)


def _torch_step(gan, data):
    import torch

    real, labels = _unpack(data)
    batch = real.shape[0]
    with torch.no_grad():
        fake = gan.generator([gan.sample_latent(batch), labels], training=True)
    gan.zero_grad()
    d_loss, d_real, d_fake = gan.discriminator_loss(real, fake, labels)
    d_loss.backward()
    d_vars = gan.discriminator.trainable_weights
    with torch.no_grad():
        gan.d_optimizer.apply([v.value.grad for v in d_vars], d_vars)
    gan.zero_grad()
    g_loss = gan.generator_loss(gan.sample_latent(batch), labels)
    g_loss.backward()
    g_vars = gan.generator.trainable_weights
    with torch.no_grad():
        gan.g_optimizer.apply([v.value.grad for v in g_vars], g_vars)
        gan.update_ema()
    return gan.update_trackers(d_loss.detach(), g_loss.detach(), d_real.detach(), d_fake.detach())
