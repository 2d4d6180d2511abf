"""The synthesis GAN as a ``keras.Model`` subclass (after the keras.io GAN guide).

:class:`SynthGAN` holds the generator, the discriminator and an exponential moving average
(EMA) of the generator's weights, which is the generator that is saved and sampled (Karras et al.
2018; smoother than the raw weights). Its ``train_step`` makes one discriminator update on real
and generated images, both passed through the same DiffAugment policy (:mod:`.diffaug`), then one
generator update, with hinge losses (:mod:`.losses`); the EMA follows. Losses, augmentation and
the EMA use ``keras.ops`` and ``keras.random`` with the model's ``SeedGenerator``; only the
gradient computation is backend-specific and lives in :mod:`enhance.backend_specific.synth_gan_steps`.
"""

from __future__ import annotations

import keras
from keras import ops

from .diffaug import DEFAULT_POLICY, diff_augment
from .losses import hinge_d_loss, hinge_g_loss

__all__ = ["SynthGAN"]


@keras.saving.register_keras_serializable(package="enhance")
class SynthGAN(keras.Model):
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

    def __init__(self, generator, discriminator, latent_dim, num_classes, *,
                 policy=DEFAULT_POLICY, ema_decay=0.999, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.ema_generator = keras.models.clone_model(generator)
        self.ema_generator.set_weights(generator.get_weights())
        self.latent_dim = int(latent_dim)
        self.num_classes = int(num_classes)
        self.policy = policy
        self.ema_decay = float(ema_decay)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_real_tracker = keras.metrics.Mean(name="d_real")
        self.d_fake_tracker = keras.metrics.Mean(name="d_fake")
        # the parts are built functional models; the wrapper's call() takes (z, label), not the
        # training images, so Keras must not try to build it by calling it on a data batch
        self.built = True

    def compile(self, d_optimizer=None, g_optimizer=None, **kwargs):
        """Set the two optimizers (Adam(2e-4, 0.5, 0.999) each by default)."""
        from ..backend_specific import gan_compile_options

        super().compile(**{**kwargs, **gan_compile_options()})
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=0.999)
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=0.999)

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.d_real_tracker, self.d_fake_tracker]

    def call(self, inputs, training=False):
        """Images from ``[z, labels]`` by the EMA generator."""
        return self.ema_generator(inputs, training=training)

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

    def update_trackers(self, d_loss, g_loss, d_real, d_fake):
        """Record the step's values; returns the running means by name."""
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.d_real_tracker.update_state(d_real)
        self.d_fake_tracker.update_state(d_fake)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, *args):
        """One discriminator then one generator update (see :mod:`enhance.backend_specific.synth_gan_steps`)."""
        from ..backend_specific.synth_gan_steps import gan_train_step

        return gan_train_step(self, *args)

    def get_config(self):
        config = super().get_config()
        config.update({
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "latent_dim": self.latent_dim,
            "num_classes": self.num_classes,
            "policy": self.policy,
            "ema_decay": self.ema_decay,
            "seed": self.seed,
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        generator = keras.saving.deserialize_keras_object(config.pop("generator"))
        discriminator = keras.saving.deserialize_keras_object(config.pop("discriminator"))
        return cls(generator, discriminator, **config)
