"""The ``enhance`` command line: a thin click layer over :mod:`enhance`."""
