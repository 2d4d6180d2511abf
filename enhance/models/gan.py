"""pix2pix-style conditional GAN for enhancement (Isola et al., CVPR 2017).

A U-Net generator maps the degraded image to the restored one; a PatchGAN discriminator judges
(degraded, candidate) pairs patch by patch. The generator is trained on
``adversarial + l1_weight * L1`` (``l1_weight`` 100 as in pix2pix), the discriminator on the
usual binary cross-entropy with one-sided label smoothing (real labels drawn in [0.9, 1]).
Only the generator is saved in a model directory and used for enhancement.

:class:`GANModel` is the machinery this GAN shares with the synthesis GAN
(:class:`enhance.synth.gan.SynthGAN`): two networks, two optimizers, a seed generator, loss
trackers and a ``train_step`` built on the one backend-specific primitive,
:func:`enhance.backend_specific.apply_gradients`. Everything else here is ``keras.ops``.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from ..backend_specific import apply_gradients, gan_compile_options, run_train_step
from .dae import encoder_decoder, encoder_decoder_receptive_field
from .layers import ConvBlock

__all__ = [
    "unet_generator",
    "patch_discriminator",
    "GANModel",
    "Pix2PixEnhancer",
    "size_factor",
    "receptive_field",
]


def unet_generator(width=32, levels=3, channels=1, residual=True):
    """Build the pix2pix U-Net generator.

    Parameters
    ----------
    width : int, optional
        Channels at full resolution (32), doubled at each level.
    levels : int, optional
        Number of 2x downsamplings (3); image sides must be multiples of ``2**levels``.
    channels : int, optional
        Image channels in and out (1).
    residual : bool, optional
        Add the input to the network's output (the network learns the correction).

    Returns
    -------
    keras.Model
    """
    image = keras.Input((None, None, channels), name="image")
    features = encoder_decoder(image, width, levels, skip=True, encoder_activation="leaky_relu")
    output = layers.Conv2D(channels, 1, name="correction" if residual else "restored")(features)
    if residual:
        output = layers.Add(name="restored")([image, output])
    return keras.Model(image, output, name="unet_generator")


def patch_discriminator(width=32, levels=3, channels=1):
    """Build the PatchGAN discriminator (the 70x70 PatchGAN for ``levels=3``).

    Parameters
    ----------
    width : int, optional
        Channels of the first layer (32), doubled at each level.
    levels : int, optional
        Number of stride-2 4x4 convolutions (3).
    channels : int, optional
        Image channels; the input stacks condition and candidate, ``2 * channels``.

    Returns
    -------
    keras.Model
        Maps ``(B, H, W, 2 channels)`` to logits ``(B, H / 2**levels, W / 2**levels, 1)``.
    """
    pair = keras.Input((None, None, 2 * channels), name="pair")
    x = pair
    for level in range(levels):
        x = ConvBlock(
            width * 2**level, 4, strides=2, activation="leaky_relu", name=f"down{level}"
        )(x)
    x = ConvBlock(width * 2**levels, 4, activation="leaky_relu", name="features")(x)
    logits = layers.Conv2D(1, 4, padding="same", name="logits")(x)
    return keras.Model(pair, logits, name="patch_discriminator")


def size_factor(levels=3, **params):
    """Image sides must be multiples of ``2**levels``."""
    return 2 ** int(levels)


def receptive_field(levels=3, **params):
    """Receptive field of the generator in pixels."""
    return encoder_decoder_receptive_field(int(levels))


def _bce_from_logits(labels, logits):
    return ops.mean(ops.binary_crossentropy(labels, logits, from_logits=True))


class GANModel(keras.Model):
    """A generator and a discriminator trained by alternating gradient steps.

    What both GANs of the package share: the two networks, one optimizer each, a
    ``keras.random.SeedGenerator`` for the random draws of the losses, a running mean per logged
    value, ``train_step`` on the current backend (:func:`enhance.backend_specific.run_train_step`),
    and the config round trip. A subclass names its logged values in :attr:`TRACKED` and writes
    :meth:`gan_step` with :meth:`update` (one gradient step of one network) and :meth:`record`.

    Parameters
    ----------
    generator, discriminator : keras.Model
    seed : int, optional
        Seed of :attr:`seed_generator`.
    **kwargs
        Passed to :class:`keras.Model`.
    """

    #: Names of the logged values (one ``keras.metrics.Mean`` each), in the order of ``metrics``.
    TRACKED = ()

    def __init__(self, generator, discriminator, *, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = [keras.metrics.Mean(name=name) for name in self.TRACKED]

    def compile(self, *, g_optimizer=None, d_optimizer=None, **kwargs):
        """Set the two optimizers (``Adam(2e-4, beta_1=0.5)`` each by default, as in pix2pix).

        Parameters
        ----------
        g_optimizer, d_optimizer : keras.optimizers.Optimizer, optional
            Of the generator and of the discriminator.
        **kwargs
            Passed to :meth:`keras.Model.compile` (under JAX, ``jit_compile`` is forced off:
            see :mod:`enhance.backend_specific`).
        """
        super().compile(**{**kwargs, **gan_compile_options()})
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)

    @property
    def metrics(self):
        return list(self.trackers)

    def optimizers(self):
        """The (generator, discriminator) optimizers with the variables each one updates."""
        return [
            (self.g_optimizer, self.generator.trainable_variables),
            (self.d_optimizer, self.discriminator.trainable_variables),
        ]

    def networks(self):
        """The networks a checkpoint holds, by name."""
        return {"generator": self.generator, "discriminator": self.discriminator}

    def update(self, network, loss_fn, *args):
        """One gradient step of ``"generator"`` or ``"discriminator"`` on ``loss_fn(*args)``.

        ``loss_fn(*args) -> (loss, aux)``; returns ``(loss, aux)``, computed before the step
        (see :func:`enhance.backend_specific.apply_gradients`).
        """
        optimizer, model = {
            "generator": (self.g_optimizer, self.generator),
            "discriminator": (self.d_optimizer, self.discriminator),
        }[network]
        return apply_gradients(self, optimizer, model.trainable_variables, loss_fn, *args)

    def record(self, **values):
        """Update the trackers with the step's values; return their running means by name."""
        for tracker in self.trackers:
            tracker.update_state(values[tracker.name])
        return {tracker.name: tracker.result() for tracker in self.trackers}

    def gan_step(self, data):
        """One training step on the batch ``data``; returns :meth:`record`'s logs."""
        raise NotImplementedError

    def train_step(self, *args):
        """:meth:`gan_step` under the current backend's calling convention."""
        return run_train_step(self, self.gan_step, *args)

    def get_config(self):
        config = super().get_config()
        config.update(
            generator=keras.saving.serialize_keras_object(self.generator),
            discriminator=keras.saving.serialize_keras_object(self.discriminator),
            seed=self.seed,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for network in ("generator", "discriminator"):
            config[network] = keras.saving.deserialize_keras_object(config[network])
        return cls(**config)


@keras.saving.register_keras_serializable(package="enhance")
class Pix2PixEnhancer(GANModel):
    """The pix2pix generator and discriminator trained together.

    Compile with :meth:`compile` (two optimizers), then train with ``fit`` or
    ``train_on_batch`` on ``(degraded, clean)`` pairs. Calling the model runs the generator.

    Parameters
    ----------
    generator : keras.Model
        From :func:`unet_generator`.
    discriminator : keras.Model
        From :func:`patch_discriminator`, with ``2 * channels`` input channels.
    l1_weight : float, optional
        Weight of the L1 term in the generator loss (100).
    seed : int, optional
        Seed of the label-smoothing draws.
    **kwargs
        Passed to :class:`keras.Model`.
    """

    TRACKED = ("loss", "d_loss", "l1", "adversarial")

    def __init__(self, generator, discriminator, l1_weight=100.0, seed=None, **kwargs):
        super().__init__(generator, discriminator, seed=seed, **kwargs)
        self.l1_weight = float(l1_weight)

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    def discriminator_loss(self, noisy, clean, restored, training=True):
        """Cross-entropy of the discriminator on a real and a generated pair."""
        real = self.discriminator(ops.concatenate([noisy, clean], axis=-1), training=training)
        fake = self.discriminator(ops.concatenate([noisy, restored], axis=-1), training=training)
        real_labels = keras.random.uniform(
            ops.shape(real), minval=0.9, maxval=1.0, seed=self.seed_generator
        )
        return _bce_from_logits(real_labels, real) + _bce_from_logits(ops.zeros_like(fake), fake)

    def generator_loss(self, noisy, clean, training=True):
        """Return ``(total, l1, adversarial)`` of the generator on a batch."""
        restored = self.generator(noisy, training=training)
        fake = self.discriminator(ops.concatenate([noisy, restored], axis=-1), training=training)
        adversarial = _bce_from_logits(ops.ones_like(fake), fake)
        l1 = ops.mean(ops.abs(restored - clean))
        return adversarial + self.l1_weight * l1, l1, adversarial

    def gan_step(self, data):
        """One discriminator step then one generator step on ``(degraded, clean)``."""
        noisy, clean = data[0], data[1]
        d_loss, _ = self.update("discriminator", self._discriminator_objective, noisy, clean)
        g_loss, (l1, adversarial) = self.update(
            "generator", self._generator_objective, noisy, clean
        )
        return self.record(loss=g_loss, d_loss=d_loss, l1=l1, adversarial=adversarial)

    def _discriminator_objective(self, noisy, clean):
        restored = ops.stop_gradient(self.generator(noisy, training=True))
        return self.discriminator_loss(noisy, clean, restored, training=True), ()

    def _generator_objective(self, noisy, clean):
        total, l1, adversarial = self.generator_loss(noisy, clean, training=True)
        return total, (l1, adversarial)

    def get_config(self):
        config = super().get_config()
        config.update(l1_weight=self.l1_weight)
        return config
