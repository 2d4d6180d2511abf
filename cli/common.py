"""Helpers shared by the subcommands: error translation, progress, batch summaries."""

import contextlib
import sys

import click


@contextlib.contextmanager
def library_errors():
    """Turn the library's exceptions into one-line ``click.ClickException`` messages."""
    from ..errors import EnhanceError

    try:
        yield
    except EnhanceError as error:
        raise click.ClickException(str(error)) from None


def _status(item):
    """A folder job's bar shows each file's status (``done``, ``skipped``, ``failed``)."""
    return getattr(item, "status", "")


def progress_bar(*, quiet, unit="image", describe=_status):
    """A tqdm bar on stderr for a ``progress(done, total, item)`` callback (the package's one
    progress protocol: folder jobs, ``synth generate``, ``synth evaluate``).

    The bar is sized lazily: it opens at the first call that carries an item (a folder job's
    ``progress(0, total, None)`` before its first file only tells the total), so that an early
    error prints alone and nothing lists the input just to size it. The postfix shows
    ``describe(item)``. Returns ``(update, close)``; both do nothing when ``quiet``.
    """
    if quiet:
        return (lambda done, total, item: None), (lambda: None)
    state = {"bar": None}

    def update(done, total, item):
        opened = state["bar"] is None
        if opened:
            if item is None:
                return
            from tqdm import tqdm

            state["bar"] = tqdm(total=total, unit=unit, file=sys.stderr, dynamic_ncols=True)
        bar = state["bar"]
        if bar.total != total:
            bar.total = total
        if item is not None:
            bar.set_postfix_str(str(describe(item)), refresh=False)
        if done > bar.n:
            bar.update(done - bar.n)
        if opened:  # shown at once (the first item, e.g. an evaluation's stage, may take long)
            bar.refresh()

    def close():
        if state["bar"] is not None:
            state["bar"].close()

    return update, close


def step_bar(*, quiet, unit="step", every=10):
    """A tqdm bar for a trainer's ``progress(done, total, logs)`` callback (None when ``quiet``).

    The bar opens at the first step (at the step a resumed run starts from) and shows the
    logged values every ``every`` steps. Returns ``(callback, close)``.
    """
    if quiet:
        return None, (lambda: None)
    state = {"bar": None}

    def callback(done, total, logs):
        if state["bar"] is None:
            from tqdm import tqdm

            state["bar"] = tqdm(total=total, initial=done - 1, unit=unit, file=sys.stderr,
                                dynamic_ncols=True)
        bar = state["bar"]
        bar.update(done - bar.n)
        if logs and done % every == 0:
            bar.set_postfix({k: f"{float(v):.4g}" for k, v in logs.items()}, refresh=False)

    def close():
        if state["bar"] is not None:
            state["bar"].close()

    return callback, close


def file_progress_bar(*, quiet):
    """A tqdm bar over files that also moves within a file (tiles, frames of a stack).

    Returns ``(on_progress, on_fraction, close)``: ``on_progress(done, total, file_result)``,
    the batch's progress callback (:func:`enhance.batch.run_batch` calls it with
    ``(0, total, None)`` before the first file, which sizes the bar, then after each file);
    ``on_fraction(path, fraction)`` within one (0..1). The bar opens with the first file
    started, so that an early error prints alone; all three do nothing when ``quiet``.
    """
    if quiet:
        return (lambda done, total, result: None), (lambda path, fraction: None), (lambda: None)
    state = {"bar": None, "files": 0, "total": None}

    def bar():
        if state["bar"] is None:
            from tqdm import tqdm

            state["bar"] = tqdm(
                total=state["total"], unit="image", file=sys.stderr, dynamic_ncols=True,
                bar_format="{l_bar}{bar}| {n:.1f}/{total_fmt} images "
                           "[{elapsed}<{remaining}{postfix}]",
            )
        elif state["bar"].total != state["total"]:
            state["bar"].total = state["total"]
        return state["bar"]

    def move_to(position):
        b = bar()
        if position > b.n:
            b.update(position - b.n)

    def on_fraction(path, fraction):
        b = bar()
        b.set_postfix_str(getattr(path, "name", str(path)), refresh=False)
        move_to(state["files"] + min(max(float(fraction), 0.0), 1.0))

    def on_progress(done, total, result):
        state["total"] = total
        if result is None:  # the batch's start: the total only
            return
        state["files"] = done
        bar().set_postfix_str(result.status, refresh=False)
        move_to(state["files"])

    def close():
        if state["bar"] is not None:
            state["bar"].close()

    return on_progress, on_fraction, close


def run_folder_job(job, source, *, quiet, **kwargs):
    """Run a folder job of :mod:`enhance.jobs` with a progress bar; exit 1 if any file failed."""
    with library_errors():
        update, close = progress_bar(quiet=quiet)
        try:
            result = job(source, progress=update, **kwargs)
        finally:
            close()
    if kwargs.get("dry_run"):
        for r in result.results:
            click.echo(f"{r.status}: {r.input} -> {r.output}")
    click.echo(result.summary(), err=not result.ok)
    if not result.ok:
        sys.exit(1)
    return result


#: The parameters :func:`ray_options` adds (listed apart by :class:`RayOptionsCommand`).
RAY_OPTIONS = ("address", "actors", "cpus_per_actor", "gpus_per_actor")
#: The title of their section in ``--help``.
RAY_SECTION = "Options of --engine ray only"


class RayOptionsCommand(click.Command):
    """A command whose ``--help`` lists the options of ``--engine ray`` (:func:`ray_options`)
    in a section of their own, after the others."""

    def format_options(self, ctx, formatter):
        groups = {"Options": [], RAY_SECTION: []}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                groups[RAY_SECTION if param.name in RAY_OPTIONS else "Options"].append(record)
        for title, records in groups.items():
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)


def ray_options(command):
    """The options of ``--engine ray`` shared by ``run`` and ``bench``: --address, --actors,
    --cpus-per-actor, --gpus-per-actor (each command declares its own --engine, and is a
    :class:`RayOptionsCommand`, whose help lists these apart)."""
    for option in reversed([
        click.option("--address", default=None,
                     help="The cluster to join ('auto': the one `ray start` runs on this machine, "
                          "or HOST:PORT). Default: a local Ray instance for this run."),
        click.option("--actors", type=click.IntRange(min=1), default=None,
                     help="How many actors (each loads its model once). Default: as many as the "
                          "cluster's CPUs (GPUs) allow."),
        click.option("--cpus-per-actor", type=click.FloatRange(min=0, min_open=True), default=1.0,
                     show_default=True, help="CPUs each actor reserves."),
        click.option("--gpus-per-actor", type=click.FloatRange(min=0), default=0.0,
                     show_default=True, help="GPUs each actor reserves (1: a GPU of its own)."),
    ]):
        command = option(command)
    return command


def anonymize_options(command):
    """--anonymize and --deid-key, shared by ``run`` and ``denoise``."""
    for option in reversed([
        click.option("--anonymize", is_flag=True,
                     help="De-identify DICOM outputs by the PS3.15 Basic Profile's table (UIDs "
                          "remapped, dates shifted, private tags dropped), name outputs by "
                          "pseudonyms, keep input names out of OUT_DIR (run: no preview) (README: "
                          "What is refused, and why)."),
        click.option("--deid-key", type=click.Path(dir_okay=False), default=None,
                     help="--anonymize: the key file (created 0600 when missing; never inside "
                          "OUT_DIR). Default: ~/.config/enhance/deid-key.json."),
    ]):
        command = option(command)
    return command


class MemorySize(click.ParamType):
    """A number of bytes: ``1073741824``, ``512M``, ``1.5G``, ``2GiB`` (K/M/G/T are powers of 1024)."""

    name = "size"
    _UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        text = str(value).strip().upper().removesuffix("IB").removesuffix("B")
        unit = text[-1:] if text[-1:] in self._UNITS and text[-1:] else ""
        try:
            number = float(text[: len(text) - len(unit)])
        except ValueError:
            self.fail(f"{value!r} is not a size (e.g. 512M, 1.5G)", param, ctx)
        size = int(number * self._UNITS[unit])
        if size <= 0:
            self.fail(f"{value!r} must be positive", param, ctx)
        return size


class TaskChoice(click.Choice):
    """``--task``: the names of the registered tasks (:func:`enhance.tasks.task_names`), read
    when the command line is parsed or its help shown (so a task registered after the command
    was built is offered too)."""

    def __init__(self):
        super().__init__(())

    @property
    def choices(self):
        from ..tasks import task_names

        return task_names()

    @choices.setter
    def choices(self, value):  # click.Choice.__init__ sets it; the registry decides
        pass
