"""One exception family for the whole package.

Every error the library raises on purpose is an :class:`EnhanceError`; the command line turns
them into one-line messages (``click.ClickException``) and batch jobs record them per file.
"""

import re


def one_line(text):
    """``str(text)`` on one line: every run of whitespace (newlines included) made one space."""
    return re.sub(r"\s+", " ", str(text)).strip()


class EnhanceError(Exception):
    """Base class of every error raised by :mod:`enhance`."""


class UnreadableImage(EnhanceError):
    """An input file could not be read: missing, truncated, corrupt or of an unsupported format.

    The message always names the file and the cause.
    """

    def __init__(self, path, cause):
        self.path = str(path)
        self.cause = str(cause)
        super().__init__(f"{self.path}: {self.cause}")


class UnwritableImage(EnhanceError):
    """An output could not be written (unsupported format for the pixels, disk error, ...)."""

    def __init__(self, path, cause):
        self.path = str(path)
        self.cause = str(cause)
        super().__init__(f"{self.path}: {self.cause}")


class ShapeMismatch(EnhanceError):
    """Two images that must have the same shape (a reference and a test image) do not."""


class UnknownName(EnhanceError):
    """A method, degradation, architecture or model name is not in its registry."""


class ModelError(EnhanceError):
    """A model directory is missing files, or its weights do not match its card's sha256."""
