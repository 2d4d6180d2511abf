"""The Ray engine: a batch's per-file work on the actors of a Ray cluster (``--engine ray``).

:func:`enhance.batch.run_batch` stays the one batch engine: this process (the driver) discovers
the files, applies the skip rule (a finished output is skipped), holds the lock on the output
folder and alone appends to ``manifest.jsonl``. :class:`RayEngine` is what it hands the
remaining files to: a Ray Data pipeline, ``ray.data.from_items`` of their paths (never pixels)
then ``map_batches`` with a callable class, :class:`_Worker`, of which each actor

* checks that it sees the input and output folders (they must be on storage every node sees,
  mounted at the same path) and can write into the output folder;
* loads the model once (the recipe, e.g. :class:`enhance.pipeline.RunRecipe`, is pickled, not
  the model) and checks that its weights are the driver's (same SHA-256);
* runs :func:`enhance.batch.process_file` on each file: read with :mod:`enhance.io`, restore,
  write atomically (temporary name, then rename), so the outputs are the local engine's bytes;
* returns one record per file: ``done`` or ``failed`` with its error (a file's fault is never
  the job's).

The driver reads the records as they complete (``iter_rows``) and appends them, so a killed
driver loses nothing written: a rerun skips the finished outputs. Actors are restarted and
their tasks retried (``max_restarts=-1``, ``max_task_retries=-1``): a file whose actor or node
died is redone, which is safe because its output name is fixed and the write atomic.

An actor that cannot work (a folder it does not see, an output folder it cannot write, a
model it cannot load) stops the run with one line naming its node; what was recorded stays.

:meth:`RayEngine.map` runs any picklable function over picklable items on the same kind of
actor pool (:class:`_Apply`, with the same checks): ``enhance bench --engine ray`` computes its
cells with it, keeping the cache and the report in the driver.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import secrets
import socket
import subprocess
import sys
import threading
from pathlib import Path, PurePosixPath

from .errors import EnhanceError, one_line

#: How to install the engine.
INSTALL = "pip install 'enhance[ray]'  (or: pip install 'ray[data]>=2.40')"

#: Files per Ray Data block: a block is the unit of scheduling and of retry, and a record
#: reaches the manifest when its block is done; small blocks balance the actors and keep the
#: manifest close behind the outputs, larger ones cost less per file on huge folders.
MAX_FILES_PER_BLOCK = 16

SHARED_STORAGE = (
    "with --engine ray, IN and OUT must be on storage every node of the cluster sees, "
    "mounted at the same path (a shared filesystem)"
)


def import_ray():
    """``ray`` with Ray Data, or :class:`EnhanceError` (one line) saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as error:
        raise EnhanceError(f"--engine ray needs Ray Data, which is not installed ({error}): {INSTALL}") \
            from None
    return ray


def _start_watchdog(ray):
    """Start ``enhance/_ray_watchdog.py`` for the local Ray instance this process has just
    started (Linux): if this process ends, however (``kill -9`` included), it kills the Ray
    processes of the session that outlive it (the raylet's agents linger a minute otherwise).

    Returns the watchdog (its stdin is the pipe to close at shutdown), or None where there is
    nothing to watch (a cluster joined, not started) or no ``/proc``.
    """
    node = getattr(getattr(ray, "_private", None), "worker", None)
    node = getattr(node, "_global_node", None)
    if node is None or not getattr(node, "all_processes", None) or not os.path.isdir("/proc"):
        return None
    try:
        session = node.get_session_dir_path()
    except Exception:  # noqa: BLE001 - a private API of Ray: no watchdog rather than no run
        return None
    # -I: isolated (no current folder, no PYTHON* variables); its own session: Ctrl-C and a
    # kill of the driver's process group leave it running; the pipe's write end stays here
    return subprocess.Popen(
        [sys.executable, "-I", str(Path(__file__).with_name("_ray_watchdog.py")), session,
         str(os.getpid())],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True)


class RayEngine:
    """Process a batch's files on a Ray cluster; an ``engine`` of :func:`enhance.batch.run_batch`.

    Parameters
    ----------
    address : str, optional
        The cluster to join (``"auto"``: the one ``ray start`` runs on this machine;
        ``"HOST:PORT"``; ``"ray://HOST:PORT"``). None: start a local instance for this run (or
        use the one this process already initialised).
    actors : int, optional
        How many actors (each loads the model once). Default: as many as the cluster's CPUs
        (GPUs with ``gpus_per_actor``) allow, at most one per file.
    cpus_per_actor : float
        CPUs each actor reserves (its TensorFlow or OpenVINO threads follow); default 1.
    gpus_per_actor : float
        GPUs each actor reserves (0: none; 1: each actor gets its own GPU).
    num_cpus : int, optional
        CPUs of a local instance (default: ``actors x cpus_per_actor``, else all of them).

    Call :meth:`prepare` with the per-file recipe, then pass the engine to ``run_batch``.

    Raises
    ------
    EnhanceError
        Ray Data is not installed, or an option is out of range.
    """

    def __init__(self, *, address=None, actors=None, cpus_per_actor=1.0, gpus_per_actor=0.0,
                 num_cpus=None):
        if actors is not None and (isinstance(actors, bool) or int(actors) != actors or actors < 1):
            raise EnhanceError(f"--actors must be a whole number >= 1, not {actors}")
        if not cpus_per_actor > 0:
            raise EnhanceError(f"--cpus-per-actor must be > 0, not {cpus_per_actor}")
        if not gpus_per_actor >= 0:
            raise EnhanceError(f"--gpus-per-actor must be >= 0, not {gpus_per_actor}")
        if num_cpus is not None and not num_cpus >= 1:
            raise EnhanceError(f"num_cpus must be >= 1, not {num_cpus}")
        self.address = address or None
        self.actors = None if actors is None else int(actors)
        self.cpus_per_actor = float(cpus_per_actor)
        self.gpus_per_actor = float(gpus_per_actor)
        self.num_cpus = num_cpus
        self.ray = import_ray()
        self.recipe = None
        self.shared = []
        self.weights_sha256 = ""
        self._watchdog = None

    def prepare(self, recipe, *, shared=(), weights_sha256=""):
        """Set what the actors run: ``recipe.load()`` (once per actor) gives a model,
        ``recipe.process(model)`` the ``process(item, target)`` of each file; ``shared``: the
        folders every actor must see (the input root, then the output folder, which must be
        writable); ``weights_sha256``: the driver's model, which every actor must have."""
        self.recipe = recipe
        self.shared = [os.path.abspath(p) for p in shared]
        self.weights_sha256 = weights_sha256 or ""
        return self

    # --- the cluster -------------------------------------------------------------------------

    def _connect(self):
        """Join or start Ray; True when this call started it (and must shut it down)."""
        ray = self.ray
        if ray.is_initialized():
            return False
        options = {"include_dashboard": False, "log_to_driver": False,
                   "logging_level": logging.ERROR}
        # the C++ core's log lines (e.g. that restartable actors' constructor arguments live in
        # the object store, owned by this driver) stay in Ray's log files, off the terminal; so
        # does what it prints while starting (its own note of that setting)
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
        from .io.capture import captured_warnings

        try:
            with captured_warnings(fd=True):
                if self.address:
                    ray.init(address=self.address, **options)
                else:
                    cpus = self.num_cpus
                    if cpus is None and self.actors is not None:
                        cpus = max(1, math.ceil(self.actors * self.cpus_per_actor))
                    ray.init(num_cpus=cpus or os.cpu_count() or 1, **options)
        except Exception as error:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ...
            where = f"join the Ray cluster at {self.address}" if self.address else "start Ray"
            raise EnhanceError(f"cannot {where}: {one_line(error) or type(error).__name__}") from None
        self._watchdog = _start_watchdog(ray)
        return True

    def _disconnect(self):
        """Shut down the instance :meth:`_connect` started, then let its watchdog go."""
        try:
            self.ray.shutdown()
        finally:
            watchdog, self._watchdog = self._watchdog, None
            if watchdog is not None:
                watchdog.stdin.close()  # end of file: it ends what shutdown left, then exits
                threading.Thread(target=watchdog.wait, daemon=True).start()  # reaped, not waited on

    def _actor_count(self, files):
        resources = self.ray.cluster_resources()
        cpus, gpus = resources.get("CPU", 0.0), resources.get("GPU", 0.0)
        fit = int(cpus // self.cpus_per_actor + 1e-9)
        if self.gpus_per_actor:
            fit = min(fit, int(gpus // self.gpus_per_actor + 1e-9))
        need = self.actors or max(1, fit)
        if need > fit:
            have = f"{cpus:g} CPU" + (f" and {gpus:g} GPU" if self.gpus_per_actor else "")
            raise EnhanceError(
                f"the Ray cluster has {have}: {need} actor(s) of {self.cpus_per_actor:g} CPU"
                + (f" and {self.gpus_per_actor:g} GPU" if self.gpus_per_actor else "")
                + " do not fit (fewer --actors, or smaller --cpus-per-actor / --gpus-per-actor)"
            )
        return max(1, min(need, files))

    def _dataset(self, rows, actors, actor_class, arguments):
        ray = self.ray
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the command line has its own, per file
        context.enable_operator_progress_bars = False
        per_block = max(1, min(MAX_FILES_PER_BLOCK, len(rows) // (4 * actors)))
        dataset = ray.data.from_items(rows, override_num_blocks=math.ceil(len(rows) / per_block))
        from .runtime import THREADS_ENV

        threads = str(max(1, int(self.cpus_per_actor)))
        return dataset.map_batches(
            actor_class,
            fn_constructor_kwargs={**arguments, "shared": self.shared, "cwd": os.getcwd()},
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=self.cpus_per_actor,
            num_gpus=self.gpus_per_actor or None,
            udf_modifying_row_count=False,  # one record per row
            # A dead actor is restarted and its tasks retried (its files redone: fixed names,
            # atomic writes): Ray Data's actor pools default to max_restarts=-1 and
            # max_task_retries=-1 (passing them as ray_remote_args is deprecated since Ray
            # 2.60); tests/test_ray.py removes a node mid-run and checks every file is done.
            runtime_env={"env_vars": {"TF_NUM_INTRAOP_THREADS": threads, "OMP_NUM_THREADS": threads,
                                      THREADS_ENV: threads,
                                      "TF_CPP_MIN_LOG_LEVEL": "2"}},
        )

    # --- the engine --------------------------------------------------------------------------

    def _records(self, rows, actor_class, arguments, what):
        """Run ``rows`` through actors of ``actor_class``; yield each row's record (a dict) as
        it completes; a ``fatal`` record (an actor that cannot work) stops the run."""
        if not rows:
            return
        ray = self.ray
        started = self._connect()
        try:
            actors = self._actor_count(len(rows))
            with _quiet_ray_data():
                dataset = self._dataset(rows, actors, actor_class, arguments)
                for row in dataset.iter_rows():
                    record = pickle.loads(row["record"])
                    if "fatal" in record:
                        raise EnhanceError(record["fatal"])
                    yield record
        except EnhanceError:
            raise
        except Exception as error:  # noqa: BLE001 - a Ray failure of the whole run: one line
            raise EnhanceError(f"the Ray run failed: {_ray_cause(error)}; run again to finish the "
                               f"remaining {what}") from None
        finally:
            if started:
                self._disconnect()

    def __call__(self, todo):
        """Process ``todo`` (``(input_file, output_path)`` pairs) on the cluster; yield one
        :class:`enhance.batch.FileResult` per pair as each completes.

        Raises
        ------
        EnhanceError
            Ray cannot start or join the cluster, the actors do not fit, an actor cannot work
            (storage not shared, model not loadable): one line.
        """
        from .batch import FileResult

        if self.recipe is None:
            raise EnhanceError("RayEngine.prepare(recipe) was not called")
        rows = [{"index": index, "path": str(item.path), "abspath": os.path.abspath(item.path),
                 "relpath": str(item.relpath), "target": str(target)}
                for index, (item, target) in enumerate(todo)]
        arguments = {"recipe": self.recipe, "weights_sha256": self.weights_sha256}
        for record in self._records(rows, _Worker, arguments, "files"):
            item, _ = todo[record["index"]]
            details = record["details"]
            details["ray_node"] = record["node"]
            yield FileResult(str(item.path), record["output"], record["status"], record["error"],
                             record["seconds"], details)

    def map(self, function, items, *, shared=()):
        """``function(item)`` for each item on the cluster's actors; yield ``(index, result)``
        as each completes (in any order).

        ``function`` and the items are pickled (``function`` once per actor): a module-level
        function of an installed package, e.g. :func:`enhance.bench.cells.run_cell_safe`. Paths
        in the items mean on every node what they mean here: give absolute paths on storage
        every node sees; ``shared``: the folders each actor checks it sees (the last one must
        be writable). An exception ``function`` raises fails the run (one line), as it would
        in this process.
        """
        self.shared = [os.path.abspath(p) for p in shared]
        rows = [{"index": index, "item": pickle.dumps(item)} for index, item in enumerate(items)]
        if not rows:
            return
        for record in self._records(rows, _Apply, {"function": function}, "items"):
            yield record["index"], record["result"]


def _ray_cause(error):
    """The first line of a Ray error, without its traceback dump."""
    text = str(error).strip().splitlines()
    return one_line(text[0]) if text else type(error).__name__


class _quiet_ray_data:
    """Keep Ray Data's execution logs ('Starting execution of Dataset', 'Progress bars
    disabled', ...) off the terminal of a command with its own progress: what fails reaches
    the driver as an exception, which becomes the run's one line."""

    def __enter__(self):
        self.logger = logging.getLogger("ray.data")
        self.level = self.logger.level
        self.logger.setLevel(max(self.level, logging.ERROR))
        return self

    def __exit__(self, *exc):
        self.logger.setLevel(self.level)


class _Actor:
    """What every actor of the pool does first: chdir to the driver's folder when it is here
    (relative paths then mean the same), check the shared folders, remember any problem (the
    node and the cause), which each row then reports as ``fatal`` (nothing escapes an actor)."""

    def __init__(self, shared, cwd):
        self.node = _node_name()
        self.problem = None
        self.same_cwd = os.path.isdir(cwd)
        try:
            if self.same_cwd:
                os.chdir(cwd)
            _check_shared(shared)
            self.setup()
        except Exception as error:  # noqa: BLE001 - reported once, as the run's one line
            self.problem = f"node {self.node}: {one_line(error) or type(error).__name__}"

    def setup(self):
        """More set-up, once per actor (a subclass's)."""

    def __call__(self, batch):
        import numpy as np

        size = len(batch["index"])
        rows = [{key: batch[key][i] for key in batch} for i in range(size)]
        records = []
        for row in rows:
            index = int(row["index"])
            if self.problem is not None:
                record = {"index": index, "fatal": self.problem}
            else:
                record = {"index": index, "node": self.node, **self.one(row)}
            records.append(pickle.dumps(record))
        return {"record": np.array(records, dtype=object)}

    def one(self, row):
        raise NotImplementedError


class _Worker(_Actor):
    """An actor of ``enhance run --engine ray``: loads the model once (the recipe's), checks its
    weights are the driver's, then runs :func:`enhance.batch.process_file` on each file; each
    record has its status, output, error, seconds and manifest details."""

    def __init__(self, recipe, weights_sha256, shared, cwd):
        self.recipe, self.weights_sha256 = recipe, weights_sha256
        super().__init__(shared, cwd)

    def setup(self):
        loaded = self.recipe.load()
        have = loaded.card.get("weights_sha256", "")
        if self.weights_sha256 and have != self.weights_sha256:
            raise EnhanceError(f"its model {loaded.name} has weights sha256 {have[:12]}, the "
                               f"driver's {self.weights_sha256[:12]}: install the same model on every node")
        self.process = self.recipe.process(loaded)

    def one(self, row):
        from .batch import InputFile, process_file

        path = str(row["path"]) if self.same_cwd else str(row["abspath"])
        item = InputFile(Path(path), PurePosixPath(str(row["relpath"])))
        result = process_file(item, Path(str(row["target"])), self.process)
        return {"status": result.status, "output": result.output, "error": result.error,
                "seconds": result.seconds, "details": result.details}


class _Apply(_Actor):
    """An actor of :meth:`RayEngine.map`: ``function(item)`` for each row."""

    def __init__(self, function, shared, cwd):
        self.function = function
        super().__init__(shared, cwd)

    def one(self, row):
        return {"result": self.function(pickle.loads(row["item"]))}


def _node_name():
    """This worker's host and Ray node (the first 8 hex digits of its id)."""
    node = ""
    try:
        import ray

        if ray.is_initialized():  # (asking otherwise would start a Ray instance)
            node = ray.get_runtime_context().get_node_id()[:8]
    except Exception:  # noqa: BLE001 - outside Ray (tests): the host alone
        pass
    host = socket.gethostname()
    return f"{host}/{node}" if node else host


def _check_shared(shared):
    """Every folder in ``shared`` exists here; the last one (the output folder) is writable.

    Raises
    ------
    EnhanceError
        One line naming the folder and why, with :data:`SHARED_STORAGE`.
    """
    for folder in shared:
        if not os.path.isdir(folder):
            raise EnhanceError(f"{folder} does not exist on this node; {SHARED_STORAGE}")
    if shared:
        probe = Path(shared[-1]) / f".enhance-probe.{secrets.token_hex(4)}.part"
        try:
            with open(probe, "xb"):
                pass
            probe.unlink()
        except OSError as error:
            raise EnhanceError(f"{shared[-1]}: cannot write into the output folder on this node "
                               f"({error.strerror or error}); {SHARED_STORAGE}") from None
