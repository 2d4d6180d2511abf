"""The networks and their optimizers: build what a run trains.

:func:`build_trainer` builds the network (under the run's dtype policy, :func:`_precision`) and
compiles it, or, for the ``gan``, its :class:`~enhance.models.gan.Pix2PixEnhancer` with a patch
discriminator, with Adam on the learning-rate schedule (:func:`_schedule`) and XLA as
:func:`_jit_compile` decides.

Keras is imported inside the functions, when a run builds its network.
"""

from __future__ import annotations

__all__ = ["build_trainer", "optimizers_of", "current_lr"]


def _schedule(config):
    import keras

    lr = config.learning_rate
    if config.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(lr, decay_steps=config.steps, alpha=0.01)
    if config.lr_schedule == "step":
        bounds = [max(1, config.steps // 2), max(2, (3 * config.steps) // 4)]
        return keras.optimizers.schedules.PiecewiseConstantDecay(bounds, [lr, lr / 10, lr / 100])
    return lr


def _jit_compile(config):
    if config.jit_compile != "auto":
        return bool(config.jit_compile)
    from ..backend_specific import accelerator_available

    return accelerator_available()


def _precision(config):
    if config.precision != "auto":
        return config.precision
    from ..backend_specific import accelerator_available

    return "mixed_float16" if config.arch != "gan" and accelerator_available() else "float32"


def _build_network(config):
    import keras

    from ..models import registry

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(_precision(config))
    try:
        return registry.build_model({"arch": config.arch, "arch_params": config.arch_params})
    finally:
        keras.config.set_dtype_policy(previous)


def build_trainer(config):
    """Build and compile what a run trains.

    Parameters
    ----------
    config : TrainConfig

    Returns
    -------
    trainer : keras.Model
        The model ``train_on_batch`` runs on: the network, or the GAN around it.
    network : keras.Model
        The network saved in the model directory.
    parts : dict of str to keras.Model
        The networks a checkpoint holds, by name.
    """
    import keras

    from ..models import registry
    from ..models.layers import noise2void_loss

    network = _build_network(config)
    if config.arch == "gan":
        from ..models.gan import Pix2PixEnhancer, patch_discriminator

        width = registry.resolve_params({"arch": "gan", "arch_params": config.arch_params})["width"]
        discriminator = patch_discriminator(width=width, levels=3, channels=1)
        trainer = Pix2PixEnhancer(network, discriminator, config.gan_l1_weight, seed=config.seed)
        trainer.compile(
            g_optimizer=keras.optimizers.Adam(_schedule(config), beta_1=0.5),
            d_optimizer=keras.optimizers.Adam(_schedule(config), beta_1=0.5),
            jit_compile=_jit_compile(config),
        )
        return trainer, network, trainer.networks()
    if config.mode == "noise2void":
        loss = noise2void_loss
    else:
        loss = (
            keras.losses.MeanSquaredError()
            if config.loss in ("mse", "relative_mse")
            else keras.losses.MeanAbsoluteError()
        )
    network.compile(
        optimizer=keras.optimizers.Adam(_schedule(config)),
        loss=loss,
        jit_compile=_jit_compile(config),
    )
    return network, network, {"network": network}


def optimizers_of(trainer):
    """A trainer's optimizers, each with the variables it updates (the generator's first)."""
    from ..models.gan import GANModel

    if isinstance(trainer, GANModel):
        return trainer.optimizers()
    return [(trainer.optimizer, trainer.trainable_variables)]


def current_lr(trainer):
    """The learning rate of a trainer's (first) optimizer at its current step, a float."""
    from keras import ops

    optimizer = optimizers_of(trainer)[0][0]
    return float(ops.convert_to_numpy(optimizer.learning_rate))
