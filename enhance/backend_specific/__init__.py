"""All of the package's backend-specific code, in one place.

Everything else in the package is written with ``keras`` and ``keras.ops`` only. What is here:

* :func:`apply_gradients` -- the one training primitive: the gradients of a loss with respect to
  some variables, applied by an optimizer. Both GANs (:class:`enhance.models.gan.GANModel`) write
  their ``train_step`` with it;
* :func:`run_train_step` -- the calling convention of a custom ``train_step`` on each backend;
* :func:`predict_batch` -- one inference call: TensorFlow's compiled predict function (graph
  mode, about 1.3x the eager call on 2 CPU cores, same pixels to 1e-7), the eager call elsewhere
  (JAX would compile anew for every window shape);
* :func:`gan_compile_options`, :func:`enable_determinism`, :func:`accelerator_available`.

Keras 3 leaves the gradient computation of a custom ``train_step`` to the backend: TensorFlow
records a ``tf.GradientTape``, PyTorch calls ``loss.backward()`` (as in the Keras guide for
torch), JAX differentiates a pure function. TensorFlow and JAX are tested in CI; PyTorch where it
is installed (``tests/test_backends.py``).

JAX calls ``train_step(state, data)`` and expects ``(logs, new_state)``, and Keras's JAX state
holds one optimizer only, where a GAN has two. So under JAX the GANs compile with
``jit_compile=False`` (:func:`gan_compile_options`) and each :func:`apply_gradients` is a jitted,
pure ``value_and_grad`` of the loss over *all* the model's variables (the variables are mapped to
traced values with :class:`keras.StatelessScope`, so nothing is baked in as a constant), followed
by the optimizer's update and the write-back of the variables the loss changed (seed-generator
states, spectral-norm vectors). The step then returns the state Keras expects, read back from the
variables (:func:`run_train_step`).
"""

from __future__ import annotations

import weakref

import keras

from ..errors import ModelError

__all__ = [
    "predict_batch",
    "apply_gradients",
    "run_train_step",
    "gan_compile_options",
    "enable_determinism",
    "accelerator_available",
]

BACKENDS = ("tensorflow", "jax", "torch")


def gan_compile_options():
    """Extra ``compile`` arguments of the GAN models on the current backend."""
    return {"jit_compile": False} if keras.config.backend() == "jax" else {}


def apply_gradients(model, optimizer, variables, loss_fn, *args):
    """Update ``variables`` by ``optimizer`` with the gradients of ``loss_fn(*args)``.

    Parameters
    ----------
    model : keras.Model
        Owner of every variable that ``loss_fn`` reads (``model.variables``).
    optimizer : keras.optimizers.Optimizer
        Applied to ``variables`` with the gradients.
    variables : list of keras.Variable
        The trainable variables to update.
    loss_fn : callable
        ``loss_fn(*args) -> (loss, aux)``, written with ``keras.ops`` and the model's layers;
        ``aux`` is any structure of tensors returned alongside. It must depend on nothing but its
        arguments and the model's variables: under JAX it is traced once per ``(optimizer,
        loss_fn.__name__)`` and the traced function is reused.
    *args
        Tensors passed to ``loss_fn``.

    Returns
    -------
    loss, aux
        As ``loss_fn`` returned them, computed before the update (detached from the graph).

    Raises
    ------
    ModelError
        The current Keras backend is none of TensorFlow, JAX and PyTorch.
    """
    backend = _backend()
    if backend == "tensorflow":
        return _tensorflow_apply(optimizer, variables, loss_fn, *args)
    if backend == "jax":
        return _jax_apply(model, optimizer, variables, loss_fn, *args)
    return _torch_apply(model, optimizer, variables, loss_fn, *args)


def run_train_step(model, step, *args):
    """Run ``step(data) -> logs`` as ``model.train_step(*args)`` on the current backend.

    Parameters
    ----------
    model : keras.Model
        The model whose ``train_step`` this is.
    step : callable
        The backend-agnostic step: takes the batch, returns the logs (a dict).
    *args
        What Keras passed to ``train_step``: ``(data,)``, or ``(state, data)`` under JAX.

    Returns
    -------
    dict or (dict, tuple)
        The logs; under JAX, with the ``(trainable, non_trainable, optimizer, metrics)`` values
        that Keras's JAX trainer syncs back.

    Raises
    ------
    ModelError
        The current Keras backend is none of TensorFlow, JAX and PyTorch.
    """
    backend = _backend()
    if backend == "jax":
        _state, data = args  # the variables hold the state: apply_gradients updates them
        return step(data), _jax_state(model)
    (data,) = args
    if backend == "torch":
        # train_on_batch hands the torch backend the NumPy batch as it is: ``tensor - ndarray``
        # would then go through NumPy and fail on a tensor that needs grad.
        data = keras.tree.map_structure(
            lambda part: part if part is None else keras.ops.convert_to_tensor(part), data
        )
    return step(data)


def predict_batch(keras_model, batch):
    """The model's output for one batch of windows, as a float32 NumPy array.

    On TensorFlow through ``predict_on_batch`` (a traced graph function that Keras keeps and
    generalises over window shapes); on the other backends the eager call ``model(x)``.
    """
    import numpy as np

    if keras.config.backend() == "tensorflow":
        return np.asarray(keras_model.predict_on_batch(batch), dtype=np.float32)
    return np.asarray(keras.ops.convert_to_numpy(keras_model(batch, training=False)),
                      dtype=np.float32)


def _backend():
    backend = keras.config.backend()
    if backend not in BACKENDS:
        raise ModelError(
            f"GAN training is implemented for the {', '.join(BACKENDS)} backends, not "
            f"{backend!r}; set KERAS_BACKEND=tensorflow"
        )
    return backend


def _tensorflow_apply(optimizer, variables, loss_fn, *args):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss, aux = loss_fn(*args)
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    return loss, aux


def _torch_apply(model, optimizer, variables, loss_fn, *args):
    import torch

    model.zero_grad()
    loss, aux = loss_fn(*args)
    loss.backward()
    with torch.no_grad():
        optimizer.apply([v.value.grad for v in variables], variables)
    return loss.detach(), keras.tree.map_structure(lambda tensor: tensor.detach(), aux)


#: model -> {(optimizer id, loss name): jitted gradient function}; weak, so that a new model that
#: happens to get a dead model's id() never picks up the dead model's function
_JAX_FUNCTIONS = weakref.WeakKeyDictionary()


def _jax_apply(model, optimizer, variables, loss_fn, *args):
    import jax

    wrt_ids = {id(v) for v in variables}
    others = [v for v in model.variables if id(v) not in wrt_ids]
    functions = _JAX_FUNCTIONS.setdefault(model, {})
    key = (id(optimizer), loss_fn.__name__)
    if key not in functions:

        def pure(wrt_values, other_values, *inputs):
            mapping = list(zip(variables, wrt_values)) + list(zip(others, other_values))
            with keras.StatelessScope(state_mapping=mapping) as scope:
                loss, aux = loss_fn(*inputs)
            changed = [scope.get_current_value(v) for v in others]
            return loss, (aux, changed)

        functions[key] = jax.jit(jax.value_and_grad(pure, has_aux=True))
    (loss, (aux, changed)), grads = functions[key](
        [v.value for v in variables], [v.value for v in others], *args
    )
    for variable, value in zip(others, changed):
        if value is not None:
            variable.assign(value)
    optimizer.apply(grads, variables)
    return loss, aux


def _jax_state(model):
    """The ``(trainable, non_trainable, optimizer, metrics)`` values Keras's JAX trainer syncs."""
    optimizer_variables = model.optimizer.variables if model.optimizer is not None else []
    return (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in optimizer_variables],
        [v.value for v in model.metrics_variables],
    )


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
