"""All of the package's backend-specific code, in one place.

Here: the pix2pix enhancer's gradient step, op determinism and accelerator detection;
:mod:`enhance.backend_specific.synth_gan_steps`: the gradient step of the synthesis GAN.
Everything else in the package is written with ``keras`` and ``keras.ops`` only.

Keras 3 leaves the gradient computation of a custom ``train_step`` to the backend. The GAN steps
are written for TensorFlow (tested), JAX (tested) and PyTorch (following the Keras guide for
torch; tested where torch is installed, not in CI).

JAX calls ``train_step(state, data)`` and expects ``(logs, new_state)``, and Keras's JAX state
holds one optimizer only, where a GAN has two. So under JAX the GANs compile with
``jit_compile=False`` (:func:`gan_compile_options`) and each update is a jitted, pure
``value_and_grad`` of the loss over *all* the model's variables (:func:`jax_update`: the
variables are mapped to traced values with :class:`keras.StatelessScope`, so nothing is baked in
as a constant), followed by the optimizer's update and the write-back of the variables the loss
changed (seed-generator states, spectral-norm vectors). The step then returns the state Keras
expects, read back from the variables (:func:`jax_state`).
"""

from __future__ import annotations

import weakref

import keras

from ..errors import ModelError

__all__ = [
    "gan_train_step",
    "run_backend_step",
    "gan_compile_options",
    "jax_update",
    "jax_state",
    "enable_determinism",
    "accelerator_available",
]


def gan_compile_options():
    """Extra ``compile`` arguments of the GAN models on the current backend."""
    return {"jit_compile": False} if keras.config.backend() == "jax" else {}


#: model -> {(optimizer id, loss name): jitted gradient function}; weak, so that a new model that
#: happens to get a dead model's id() never picks up the dead model's function
_JAX_FUNCTIONS = weakref.WeakKeyDictionary()


def jax_update(model, optimizer, wrt, loss_fn, *args):
    """One gradient update of the variables ``wrt`` on the JAX backend; returns ``(loss, aux)``.

    Parameters
    ----------
    model : keras.Model
        Owner of every variable that ``loss_fn`` reads (``model.variables``).
    optimizer : keras.optimizers.Optimizer
        Applied to ``wrt`` with the gradients.
    wrt : list of keras.Variable
        The trainable variables to update.
    loss_fn : callable
        ``loss_fn(*args) -> (loss, aux)``, written with ``keras.ops`` and the model's layers.
    *args
        Arrays passed to ``loss_fn``.
    """
    import jax

    wrt_ids = {id(v) for v in wrt}
    others = [v for v in model.variables if id(v) not in wrt_ids]
    functions = _JAX_FUNCTIONS.setdefault(model, {})
    key = (id(optimizer), loss_fn.__name__)
    if key not in functions:

        def pure(wrt_values, other_values, *inputs):
            mapping = list(zip(wrt, wrt_values)) + list(zip(others, other_values))
            with keras.StatelessScope(state_mapping=mapping) as scope:
                loss, aux = loss_fn(*inputs)
            changed = [scope.get_current_value(v) for v in others]
            return loss, (aux, changed)

        functions[key] = jax.jit(jax.value_and_grad(pure, has_aux=True))
    (loss, (aux, changed)), grads = functions[key](
        [v.value for v in wrt], [v.value for v in others], *args
    )
    for variable, value in zip(others, changed):
        if value is not None:
            variable.assign(value)
    optimizer.apply(grads, wrt)
    return loss, aux


def jax_state(model):
    """The ``(trainable, non_trainable, optimizer, metrics)`` values Keras's JAX trainer syncs."""
    optimizer_variables = model.optimizer.variables if model.optimizer is not None else []
    return (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in optimizer_variables],
        [v.value for v in model.metrics_variables],
    )


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
    steps = {"tensorflow": _tensorflow_step, "jax": _jax_step, "torch": _torch_step}
    return run_backend_step(steps, model, *args)


def run_backend_step(steps, model, *args):
    """Call ``steps[backend](model, *args)`` for the current Keras backend.

    Raises
    ------
    ModelError
        The backend has no step (the message names the ones that do).
    """
    backend = keras.config.backend()
    if backend not in steps:
        raise ModelError(
            f"GAN training is implemented for the {', '.join(steps)} backends, not "
            f"{backend!r}; set KERAS_BACKEND=tensorflow"
        )
    if backend == "torch":
        # train_on_batch hands the torch backend the NumPy batch as it is: ``tensor - ndarray``
        # would then go through NumPy and fail on a tensor that needs grad.
        args = keras.tree.map_structure(
            lambda part: part if part is None else keras.ops.convert_to_tensor(part), args
        )
    return steps[backend](model, *args)


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


def _jax_step(model, state, data):
    noisy, clean = _unpack(data)

    def discriminator_objective(noisy, clean):
        restored = model.generator(noisy, training=True)
        return model.discriminator_loss(noisy, clean, restored, training=True), ()

    def generator_objective(noisy, clean):
        total, l1, adversarial = model.generator_loss(noisy, clean, training=True)
        return total, (l1, adversarial)

    d_loss, _ = jax_update(
        model, model.d_optimizer, model.discriminator.trainable_variables,
        discriminator_objective, noisy, clean,
    )
    g_loss, (l1, adversarial) = jax_update(
        model, model.g_optimizer, model.generator.trainable_variables,
        generator_objective, noisy, clean,
    )
    return model.record(g_loss, d_loss, l1, adversarial), jax_state(model)


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
