"""Keep TensorFlow's start-up banner off the terminal.

TensorFlow 2.21 logs through absl before ``absl::InitializeLog()`` is called, so
``TF_CPP_MIN_LOG_LEVEL`` no longer silences what it prints when imported ("oneDNN custom operations
are on", "Could not find cuda drivers on your machine", the CPU-instructions notice) nor the
"failed call to cuInit" of its first operation on a machine without a GPU. :func:`quiet_tensorflow`
installs an import hook: when ``tensorflow`` is first imported (directly or by Keras), the import
and the device probe that follows it run with the process's stderr (file descriptor 2) sent to a
temporary file; afterwards the known banner lines are dropped and anything else is written to
stderr as it was. TensorFlow's Python logger and absl's are set to ERROR.

The ``enhance`` command line installs it (and sets ``ENHANCE_QUIET_TENSORFLOW=1``, so that worker
processes of ``enhance bench`` install it when they import :mod:`enhance`). The library imports
TensorFlow on a program's behalf (a model's first conversion, the Keras runtime) inside
:func:`tensorflow_quietly`; a program that imports TensorFlow itself keeps TensorFlow's own
behaviour unless it calls :func:`quiet_tensorflow`.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

__all__ = ["quiet_tensorflow", "tensorflow_quietly", "BANNER_PATTERNS", "ENV_VARIABLE"]

#: Set to ``1`` by the command line: importing :mod:`enhance` then calls :func:`quiet_tensorflow`.
ENV_VARIABLE = "ENHANCE_QUIET_TENSORFLOW"

#: Lines of TensorFlow's start-up output that say nothing to a user of this package.
BANNER_PATTERNS = tuple(re.compile(p) for p in (
    r"All log messages before absl::InitializeLog\(\) is called",
    r"oneDNN custom operations are on",
    r"Could not find cuda drivers",
    r"cpu_feature_guard",
    r"This TensorFlow binary is optimized",
    r"^To enable the following instructions",
    r"failed call to cuInit",
    r"Unable to register cu(DNN|FFT|BLAS) factory",
    r"TF-TRT Warning",
    r"computation placer already registered",
    r"Attempting to register factory for plugin",
))


def _is_banner(line):
    return any(p.search(line) for p in BANNER_PATTERNS)


@contextlib.contextmanager
def _stderr_to_file():
    """Send file descriptor 2 to a temporary file; yields a list that receives its lines."""
    lines = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines.extend(sink.read().decode("utf-8", "replace").splitlines())


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):  # get_resource_reader, is_package, ... as the real loader
        return getattr(self.inner, name)

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        with _stderr_to_file() as lines:
            try:
                self.inner.exec_module(module)
                with contextlib.suppress(Exception):
                    module.config.list_physical_devices("GPU")  # the cuInit probe, here
                with contextlib.suppress(Exception):
                    module.get_logger().setLevel("ERROR")
                with contextlib.suppress(Exception):
                    import absl.logging

                    absl.logging.set_verbosity(absl.logging.ERROR)
            finally:
                kept = [line for line in lines if line.strip() and not _is_banner(line)]
        module.__loader__ = self.inner  # the module looks as if imported the ordinary way
        with contextlib.suppress(AttributeError):
            module.__spec__.loader = self.inner
        if kept:
            sys.stderr.write("\n".join(kept) + "\n")
            sys.stderr.flush()


class _QuietFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)  # once; and no recursion through find_spec below
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def quiet_tensorflow():
    """Install the import hook (see the module's docstring); does nothing once TensorFlow is
    imported or when the hook is installed already."""
    if "tensorflow" in sys.modules or any(isinstance(f, _QuietFinder) for f in sys.meta_path):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # what older TensorFlow versions honour
    sys.meta_path.insert(0, _QuietFinder())


@contextlib.contextmanager
def tensorflow_quietly():
    """Inside the block, a first import of TensorFlow is quiet (:func:`quiet_tensorflow`); when
    the block did not import it, the hook (and ``TF_CPP_MIN_LOG_LEVEL``) it set are taken back,
    so that the program's own later import keeps TensorFlow's behaviour."""
    installed = "tensorflow" not in sys.modules and not any(
        isinstance(f, _QuietFinder) for f in sys.meta_path)
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    quiet_tensorflow()
    try:
        yield
    finally:
        if installed:
            for finder in [f for f in sys.meta_path if isinstance(f, _QuietFinder)]:
                sys.meta_path.remove(finder)
            if "tensorflow" not in sys.modules and level is None:
                os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)
