"""Keep the warnings libraries print (libpng, pydicom, Pillow, TensorFlow's absl) off the terminal.

:func:`captured_warnings` collects, inside its block, Python warnings and the log records of the
imaging and deep-learning libraries; :func:`c_stderr` also collects what C code writes to file
descriptor 2. The batch engine opens one capture per file (its messages go to the manifest) and
the readers and writers of :mod:`enhance.io` put their decoders and encoders inside
:func:`c_stderr`, which redirects the descriptor only while a capture is open in the thread, and
only around those calls, so that a progress bar on stderr keeps working in between.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import threading
import warnings

from enhance.errors import one_line

__all__ = ["captured_warnings", "c_stderr", "LIBRARY_LOGGERS", "MAX_WARNINGS"]

#: Loggers whose records :func:`captured_warnings` collects instead of letting them print.
LIBRARY_LOGGERS = ("pydicom", "PIL", "tifffile", "nibabel", "imageio", "absl", "tensorflow",
                   "keras", "h5py", "jax", "torch")
#: At most this many distinct messages are kept per capture, each cut to this many characters.
MAX_WARNINGS, MAX_WARNING_CHARS = 20, 300

_FD_LOCK = threading.Lock()
_ACTIVE = threading.local()  # .sinks: the raw-message lists of the open captures, innermost last


class _Records(logging.Handler):
    def __init__(self, sink):
        super().__init__(logging.WARNING)
        self.sink = sink

    def emit(self, record):
        with contextlib.suppress(Exception):
            self.sink.append(f"{record.name}: {record.getMessage()}")


@contextlib.contextmanager
def _fd2_to(sink):
    """Send what is written to file descriptor 2 inside the block to ``sink`` (lines).

    One thread redirects at a time (a concurrent block leaves the descriptor alone), and the
    original descriptor is always restored.
    """
    if not _FD_LOCK.acquire(blocking=False):
        yield
        return
    try:
        try:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            temporary = tempfile.TemporaryFile()
            saved = os.dup(2)
            os.dup2(temporary.fileno(), 2)
        except (OSError, ValueError):
            saved = None
        try:
            yield
        finally:
            if saved is not None:
                with contextlib.suppress(Exception):
                    sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                temporary.seek(0)
                text = temporary.read().decode("utf-8", "replace")
                temporary.close()
                sink.extend(line for line in text.splitlines() if line.strip())
    finally:
        _FD_LOCK.release()


@contextlib.contextmanager
def c_stderr():
    """Inside an open :func:`captured_warnings` of this thread, collect what C code writes to
    file descriptor 2 during the block (libpng's warnings through OpenCV); else do nothing."""
    sinks = getattr(_ACTIVE, "sinks", None)
    if not sinks:
        yield
        return
    with _fd2_to(sinks[-1]):
        yield


@contextlib.contextmanager
def captured_warnings(*, fd=False):
    """Collect the warnings libraries emit inside the block instead of printing them.

    Python warnings (pydicom, Pillow, NumPy, ...; not the categories that are off by default),
    log records of :data:`LIBRARY_LOGGERS` at WARNING and above, what C code writes to file
    descriptor 2 inside :func:`c_stderr` blocks, and, with ``fd=True``, everything written to
    the descriptor during the whole block (for model loading: TensorFlow's start-up messages).

    Parameters
    ----------
    fd : bool, optional, keyword-only
        Redirect file descriptor 2 for the whole block (nothing else may print meanwhile).

    Yields
    ------
    list of str
        Filled when the block ends: at most :data:`MAX_WARNINGS` distinct one-line messages.
    """
    messages, raw = [], []
    handler = _Records(raw)
    # the libraries' loggers, and their children with handlers of their own (nibabel's
    # 'nibabel.global' prints to stderr itself): only our handler while the block runs
    names = [name for name in list(logging.Logger.manager.loggerDict)
             if any(name.startswith(f"{top}.") for top in LIBRARY_LOGGERS)]
    loggers = [logging.getLogger(name) for name in LIBRARY_LOGGERS]
    loggers += [logging.getLogger(n) for n in names if logging.getLogger(n).handlers]
    saved = [(logger, logger.handlers, logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.handlers = [handler]
        logger.propagate = False
    sinks = getattr(_ACTIVE, "sinks", None)
    if sinks is None:
        sinks = _ACTIVE.sinks = []
    sinks.append(raw)
    try:
        with warnings.catch_warnings(record=True) as caught, (
                _fd2_to(raw) if fd else contextlib.nullcontext()):
            warnings.simplefilter("always")
            for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning,
                             ResourceWarning):  # for developers, and off by default
                warnings.simplefilter("ignore", category)
            yield messages
    finally:
        # by identity: nested captures' lists compare equal while empty, and remove() would take
        # the outer one's
        del sinks[next(i for i in range(len(sinks) - 1, -1, -1) if sinks[i] is raw)]
        for logger, handlers, propagate in saved:
            logger.handlers = handlers
            logger.propagate = propagate
        raw = [f"{w.category.__name__}: {w.message}" for w in caught] + raw
        bodies = set()
        for text in raw:  # pydicom both warns and logs: one message each
            text = one_line(text)[:MAX_WARNING_CHARS]
            body = text.partition(": ")[2] or text
            if text and body not in bodies and len(messages) < MAX_WARNINGS:
                bodies.add(body)
                messages.append(text)
