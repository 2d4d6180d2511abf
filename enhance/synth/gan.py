"""The synthesis GAN as a ``keras.Model`` subclass (after the keras.io GAN guide).

:class:`SynthGAN` holds the generator, the discriminator and an exponential moving average
(EMA) of the generator's weights, which is the generator that is saved and sampled (Karras et al.
2018; smoother than the raw weights). Its training step makes one discriminator update on real
and generated images, both passed through the same DiffAugment policy (:mod:`.diffaug`), then one
generator update, with hinge losses (:mod:`.losses`); the EMA follows. Losses, augmentation and
the EMA use ``keras.ops`` and ``keras.random`` with the model's ``SeedGenerator``; the optimizers,
trackers and the backend-specific gradient step come from the GAN machinery it shares with the
pix2pix enhancer, :class:`enhance.models.gan.GANModel`.
"""

from __future__ import annotations

import keras
from keras import ops

from ..models.gan import GANModel
from .diffaug import DEFAULT_POLICY, diff_augment
from .losses import hinge_d_loss, hinge_g_loss

__all__ = ["SynthGAN"]


@keras.saving.register_keras_serializable(package="enhance")
class SynthGAN(GANModel):
    """Hinge-loss DCGAN with DiffAugment, class conditioning and a generator EMA.

    Parameters
    ----------
    generator, discriminator : keras.Model
        From :func:`enhance.synth.models.build_generator` / ``build_discriminator``.
    latent_dim : int
    num_classes : int
    policy : str, optional
        DiffAugment policy (``"color,translation,cutout"``).
    ema_decay : float, optional
        Decay of the generator EMA (0.999; warmed up as ``min(decay, (1 + t) / (10 + t))``).
    seed : int, optional
        Seed of the model's ``keras.random.SeedGenerator`` (latents and augmentation).
    **kwargs
        Passed to ``keras.Model``.
    """

    TRACKED = ("d_loss", "g_loss", "d_real", "d_fake")

    def __init__(self, generator, discriminator, latent_dim, num_classes, *,
                 policy=DEFAULT_POLICY, ema_decay=0.999, seed=None, **kwargs):
        # cloned before the seed generator is made: an unseeded one then draws the same seed
        ema_generator = keras.models.clone_model(generator)
        ema_generator.set_weights(generator.get_weights())
        super().__init__(generator, discriminator, seed=seed, **kwargs)
        self.ema_generator = ema_generator
        self.latent_dim = int(latent_dim)
        self.num_classes = int(num_classes)
        self.policy = policy
        self.ema_decay = float(ema_decay)
        # the parts are built functional models; the wrapper's call() takes (z, label), not the
        # training images, so Keras must not try to build it by calling it on a data batch
        self.built = True

    def call(self, inputs, training=False):
        """Images from ``[z, labels]`` by the EMA generator."""
        return self.ema_generator(inputs, training=training)

    def networks(self):
        """The networks a checkpoint holds, by name (with the EMA generator)."""
        return {**super().networks(), "ema_generator": self.ema_generator}

    def sample_latent(self, batch_size):
        """Standard normal latents drawn from the model's seed generator."""
        return keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)

    def augment(self, images):
        """DiffAugment with the model's policy and seed generator."""
        return diff_augment(images, self.policy, seed=self.seed_generator)

    def discriminator_loss(self, real, fake, labels, training=True):
        """Hinge loss of the discriminator on augmented real and generated images.

        Returns
        -------
        loss, mean real logit, mean fake logit
        """
        batch = ops.shape(real)[0]
        both = self.augment(ops.concatenate([real, ops.cast(fake, real.dtype)], axis=0))
        logits = self.discriminator([both, ops.concatenate([labels, labels], axis=0)],
                                    training=training)
        real_logits, fake_logits = logits[:batch], logits[batch:]
        return (hinge_d_loss(real_logits, fake_logits), ops.mean(real_logits),
                ops.mean(fake_logits))

    def generator_loss(self, z, labels, training=True):
        """Hinge loss of the generator: minus the discriminator's mean logit on its images."""
        fake = self.generator([z, labels], training=training)
        logits = self.discriminator([self.augment(fake), labels], training=training)
        return hinge_g_loss(logits)

    def update_ema(self):
        """Move the EMA generator's weights towards the generator's."""
        t = ops.cast(self.g_optimizer.iterations, "float32")
        decay = ops.minimum(self.ema_decay, (1.0 + t) / (10.0 + t))
        for ema, weight in zip(self.ema_generator.weights, self.generator.weights):
            ema.assign(decay * ema + (1.0 - decay) * ops.cast(weight, ema.dtype))

    def gan_step(self, data):
        """One discriminator update, one generator update and the EMA update.

        ``data`` is ``(real_images, labels)``: images (B, H, W, C) in [-1, 1], integer labels
        (B,) or (B, 1). Returns the running means of ``d_loss``, ``g_loss``, ``d_real``,
        ``d_fake``.
        """
        real = data[0]
        labels = ops.cast(ops.reshape(data[1], (-1, 1)), "int32")
        d_loss, (d_real, d_fake) = self.update(
            "discriminator", self._discriminator_objective, real, labels
        )
        g_loss, _ = self.update("generator", self._generator_objective, labels)
        self.update_ema()
        return self.record(d_loss=d_loss, g_loss=g_loss, d_real=d_real, d_fake=d_fake)

    def _discriminator_objective(self, real, labels):
        z = self.sample_latent(ops.shape(real)[0])
        fake = ops.stop_gradient(self.generator([z, labels], training=True))
        d_loss, d_real, d_fake = self.discriminator_loss(real, fake, labels)
        return d_loss, (d_real, d_fake)

    def _generator_objective(self, labels):
        return self.generator_loss(self.sample_latent(ops.shape(labels)[0]), labels), ()

    def get_config(self):
        config = super().get_config()
        config.update({
            "latent_dim": self.latent_dim,
            "num_classes": self.num_classes,
            "policy": self.policy,
            "ema_decay": self.ema_decay,
        })
        return config
