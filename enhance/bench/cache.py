"""The benchmark's cell cache: one JSON file per finished cell.

Every finished cell is one small JSON file under ``REPORT_DIR/cells/``, named by the hash of its
key and written atomically; a cell whose file exists (and whose stored key matches) is not
recomputed. The key holds everything the numbers depend on: the image's relative path and
SHA-256, the degradation and its parameters, the seed, the method and its identity (for a
classical method a hash of its source code, for a model the weights' SHA-256 from its card and a
hash of its ``config.json``). Restored images are not cached, except those of the few images
shown in the report's grids (16-bit PNGs under ``REPORT_DIR/grid/``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from .cells import Cell

__all__ = ["CACHE_VERSION", "CELLS_DIR", "GRID_DIR", "cell_key", "CellCache"]

CACHE_VERSION = 1
CELLS_DIR = "cells"
GRID_DIR = "grid"


def _normalise(value):
    return json.loads(json.dumps(value, sort_keys=True))


def cell_key(reference, degradation, method, seed):
    """The cache key of a cell (a JSON-able dict); a model's runtime is part of it (the scores
    agree to ~1e-7, the timings do not)."""
    runtime = {"runtime": method.runtime} if method.runtime else {}
    return _normalise({
        **runtime,
        "version": CACHE_VERSION,
        "image": reference.relpath,
        "image_sha256": reference.sha256,
        "reference": "grayscale-luminance/first-frame",
        "degradation": degradation.name,
        "task": degradation.task,
        "params": dict(degradation.params),
        "seed": seed,
        "method": method.name,
        "method_identity": method.identity,
    })


class CellCache:
    """One JSON file per finished cell under ``root/cells/``, named by the hash of its key."""

    def __init__(self, root):
        self.root = Path(root)
        self.cells_dir = self.root / CELLS_DIR
        self.grid_dir = self.root / GRID_DIR

    @staticmethod
    def digest(key):
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]

    def path(self, key):
        return self.cells_dir / f"{self.digest(key)}.json"

    def grid_path(self, key):
        return self.grid_dir / f"{self.digest(key)}.png"

    def load(self, key, *, need_grid=False):
        """The cached :class:`Cell` of ``key``, or None (missing, unreadable, other key, no grid image)."""
        path = self.path(key)
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(stored, dict) or stored.get("key") != key:
            return None
        try:
            cell = Cell(**stored["cell"])
        except (KeyError, TypeError):
            return None
        if need_grid and not (cell.grid_png and (self.grid_dir / cell.grid_png).is_file()):
            return None
        cell.cached = True
        return cell

    def save(self, key, cell):
        from ..io.atomic import atomic_write

        payload = asdict(cell)
        payload.pop("cached", None)
        text = json.dumps({"key": key, "cell": payload}, sort_keys=True, indent=1)
        with atomic_write(self.path(key)) as stream:
            stream.write(text.encode("utf-8"))
