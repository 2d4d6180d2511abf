import json
import os
from pathlib import Path, PurePosixPath

import numpy as np
import pytest

from enhance import batch
from enhance.errors import EnhanceError, UnreadableImage


def make_tree(root):
    (root / "a").mkdir(parents=True)
    (root / "a" / "b").mkdir()
    np.save(root / "x.npy", np.zeros((4, 4)))
    np.save(root / "a" / "y.npy", np.zeros((4, 4)))
    np.save(root / "a" / "b" / "z.npy", np.zeros((4, 4)))
    (root / ".hidden.npy").write_bytes(b"")
    (root / "notes.txt").write_text("not an image")
    (root / "a" / ".out.npy.part").write_bytes(b"")


def _writing_batch(tmp_path):
    """The files of :func:`make_tree`, an output folder, a ``process`` writing "ok" and
    ``output_for``."""
    make_tree(tmp_path / "in")
    _, files = batch.discover(tmp_path / "in")
    out = tmp_path / "out"

    def process(item, target):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("ok")
        return {}

    return files, out, process, lambda item: batch.output_path(out, item.relpath)


def test_discover_folder_is_recursive_sorted_and_skips_hidden_and_unsupported(tmp_path):
    make_tree(tmp_path)
    root, files = batch.discover(tmp_path)
    assert root == tmp_path
    assert [str(f.relpath) for f in files] == ["a/b/z.npy", "a/y.npy", "x.npy"]


def test_discover_file_and_glob(tmp_path):
    make_tree(tmp_path)
    root, files = batch.discover(tmp_path / "a" / "y.npy")
    assert root == tmp_path / "a" and [f.relpath for f in files] == [PurePosixPath("y.npy")]
    root, files = batch.discover(str(tmp_path / "a" / "**" / "*.npy"))
    assert root == tmp_path / "a"
    assert [str(f.relpath) for f in files] == ["b/z.npy", "y.npy"]


def test_discover_errors_name_the_source(tmp_path):
    with pytest.raises(EnhanceError, match="missing"):
        batch.discover(tmp_path / "missing")
    with pytest.raises(EnhanceError, match="no image file"):
        batch.discover(str(tmp_path / "*.png"))


def test_discover_excludes_output_folder(tmp_path):
    make_tree(tmp_path)
    _, files = batch.discover(tmp_path, exclude=[tmp_path / "a"])
    assert [str(f.relpath) for f in files] == ["x.npy"]


def test_output_inside_input_is_refused(tmp_path):
    with pytest.raises(EnhanceError, match="inside the input"):
        batch.check_output_dir(tmp_path, tmp_path / "out")
    with pytest.raises(EnhanceError, match="inside the input"):
        batch.check_output_dir(tmp_path, tmp_path)
    batch.check_output_dir(tmp_path / "in", tmp_path / "out")


def test_output_path_mirrors_layout_and_never_escapes(tmp_path):
    out = tmp_path / "out"
    assert batch.output_path(out, "a/b.dcm") == (out / "a" / "b.dcm").resolve()
    assert batch.output_path(out, "a/b.dcm", suffix=".png") == (out / "a" / "b.png").resolve()
    assert batch.output_path(out, "v.nii.gz", suffix=".tif") == (out / "v.tif").resolve()
    with pytest.raises(EnhanceError, match="outside"):
        batch.output_path(out, "../evil.png")


def test_run_batch_goes_on_after_a_failure_skips_finished_and_logs(tmp_path):
    make_tree(tmp_path / "in")
    _, files = batch.discover(tmp_path / "in")
    out = tmp_path / "out"
    calls = []

    def process(item, target):
        calls.append(item.relpath)
        if item.relpath.name == "y.npy":
            raise UnreadableImage(item.path, "broken on purpose")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("ok")
        return {"answer": 42}

    def output_for(item):
        return batch.output_path(out, item.relpath)

    result = batch.run_batch(files, out, process, output_for=output_for)
    assert [r.status for r in result.results] == ["done", "failed", "done"]
    assert not result.ok
    assert "y.npy: broken on purpose" in result.summary()
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(records) == 3 and records[0]["answer"] == 42 and records[1]["status"] == "failed"

    calls.clear()
    again = batch.run_batch(files, out, process, output_for=output_for)
    assert [r.status for r in again.results] == ["skipped", "failed", "skipped"]
    assert calls == [PurePosixPath("a/y.npy")]

    calls.clear()
    batch.run_batch(files, out, process, output_for=output_for, overwrite=True)
    assert len(calls) == 3


def test_run_batch_reports_progress_done_total_result_skipped_included(tmp_path):
    files, out, process, output_for = _writing_batch(tmp_path)
    batch.run_batch(files[1:2], out, process, output_for=output_for)  # a finished output
    engines = {"local": None,
               "an engine": lambda todo: (batch.process_file(i, t, process) for i, t in todo)}
    for name, engine in engines.items():
        calls = []
        result = batch.run_batch(files, out, process, output_for=output_for, overwrite=False,
                                 engine=engine, progress=lambda *args: calls.append(args))
        assert calls[0] == (0, 3, None), name  # the total before the first file
        assert [(done, total) for done, total, _ in calls[1:]] == [(1, 3), (2, 3), (3, 3)], name
        assert {r.input for _, _, r in calls[1:]} == {r.input for r in result.results}, name
        assert "skipped" in [r.status for _, _, r in calls[1:]], name
        for path in out.rglob("*.npy"):
            if path.name != "y.npy":
                path.unlink()


def test_batch_result_carries_the_discovered_root(tmp_path, monkeypatch):
    make_tree(tmp_path / "in")
    out = tmp_path / "out"
    monkeypatch.chdir(tmp_path / "in")
    for source in (tmp_path / "in", tmp_path / "in" / "a" / "y.npy",
                   str(tmp_path / "in" / "a" / "**" / "*.npy"), ".", "x.npy", "a/*.npy"):
        root, files = batch.discover(source, exclude=[out])
        result = batch.run_batch(files, out, None, dry_run=True,
                                 output_for=lambda item: batch.output_path(out, item.relpath))
        assert result.root == root, source
    assert batch.input_root([]) is None


def test_dry_run_writes_nothing(tmp_path):
    make_tree(tmp_path / "in")
    _, files = batch.discover(tmp_path / "in")
    out = tmp_path / "out"
    result = batch.run_batch(
        files, out, lambda item, target: pytest.fail("processed in a dry run"),
        output_for=lambda item: batch.output_path(out, item.relpath), dry_run=True,
    )
    assert [r.status for r in result.results] == ["planned"] * 3
    assert not out.exists()


def test_manifest_ignores_a_line_cut_by_a_kill(tmp_path):
    m = batch.Manifest(tmp_path / "m.jsonl")
    m.append({"input": "a", "status": "failed"})
    m.append({"input": "a", "status": "done"})
    with open(m.path, "a") as fh:
        fh.write('{"input": "b", "sta')
    assert m.records() == [{"input": "a", "status": "done"}]


def test_a_runs_own_preview_is_not_an_image_of_its_output_folder(tmp_path):
    import cv2

    from enhance.batch import discover

    out = tmp_path / "out"
    out.mkdir()
    for name in ("a.png", "preview.png"):
        cv2.imwrite(str(out / name), np.zeros((8, 8), np.uint8))

    def listed():
        return [str(f.relpath) for f in discover(out)[1]]

    assert listed() == ["a.png", "preview.png"]  # no manifest: an ordinary folder
    record = {"input": "in/a.png", "output": str(out / "a.png"), "status": "done"}
    (out / "manifest.jsonl").write_text(json.dumps(record) + "\n")
    assert listed() == ["a.png"]  # enhance run's contact sheet beside its manifest
    # an input that was itself called preview.png is an output like the others
    record = {"input": "in/preview.png", "output": str(out / "preview.png"), "status": "done"}
    with open(out / "manifest.jsonl", "a") as fh:
        fh.write(json.dumps(record) + "\n")
    assert listed() == ["a.png", "preview.png"]


def test_a_finished_output_without_a_record_gets_one_on_the_rerun(tmp_path):
    """A run killed between writing an output and recording it: the rerun skips the output
    and records it, once; outputs the manifest already names get no second line."""
    files, out, process, output_for = _writing_batch(tmp_path)
    batch.run_batch(files, out, process, output_for=output_for)
    manifest = out / batch.MANIFEST_NAME
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join(lines[:2]) + "\n")  # the last file's record was never written
    engines = {"local": None,
               "an engine": lambda todo: (batch.process_file(i, t, process) for i, t in todo)}
    for name, engine in engines.items():
        result = batch.run_batch(files, out, process, output_for=output_for, engine=engine)
        assert [r.status for r in result.results] == ["skipped"] * 3, name
        records = [json.loads(line) for line in manifest.read_text().splitlines()]
        assert len(records) == 3, name  # the missing one, once
        assert records[2]["input"] == str(files[2].path) and records[2]["status"] == "skipped"
        assert records[2]["note"] == batch.UNRECORDED_NOTE
        assert Path(records[2]["output"]).is_file()
        assert {r["input"] for r in batch.Manifest(manifest).records()} == {
            str(item.path) for item in files}


# --- the files a run owns in OUT: never through a link, only regular files, bounded reads ---------


def test_a_planted_symlink_lock_is_refused_and_its_target_untouched(tmp_path):
    files, out, process, output_for = _writing_batch(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out.mkdir()
    (out / batch.LOCK_NAME).symlink_to(victim)
    with pytest.raises(EnhanceError) as info:
        batch.run_batch(files, out, process, output_for=output_for)
    assert victim.read_text() == "precious"
    message = str(info.value)
    assert message.startswith(f"{out / batch.LOCK_NAME}: the lock file is a symbolic link")
    assert "\n" not in message and not (out / "x.npy").exists()


def test_a_lock_that_is_a_folder_is_refused_in_one_line(tmp_path):
    files, out, process, output_for = _writing_batch(tmp_path)
    (out / batch.LOCK_NAME).mkdir(parents=True)
    with pytest.raises(EnhanceError, match=r"\.enhance\.lock: the lock file is a folder"):
        batch.run_batch(files, out, process, output_for=output_for)


def test_a_batch_runs_under_a_lock_its_caller_holds_and_refuses_one_that_does_not_hold_out(tmp_path):
    files, out, process, output_for = _writing_batch(tmp_path)
    with batch.OutputLock(out) as held:
        result = batch.run_batch(files, out, process, output_for=output_for, held=held)
        assert result.results and all(r.status == "done" for r in result.results)
        with pytest.raises(EnhanceError, match="another enhance run"):  # still held here
            batch.OutputLock(out).acquire()
    assert not (out / batch.LOCK_NAME).exists()
    elsewhere = batch.OutputLock(tmp_path / "other")
    with elsewhere, pytest.raises(EnhanceError, match="does not hold this folder"):
        batch.run_batch(files, out, process, output_for=output_for, held=elsewhere, overwrite=True)
    with pytest.raises(EnhanceError, match="does not hold this folder"):  # taken, then released
        batch.run_batch(files, out, process, output_for=output_for, held=elsewhere, overwrite=True)


def test_a_planted_symlink_manifest_is_neither_read_nor_appended_to(tmp_path):
    files, out, process, output_for = _writing_batch(tmp_path)
    victim = tmp_path / "victim.jsonl"
    victim.write_text('{"input": "x"}\n')
    out.mkdir()
    (out / batch.MANIFEST_NAME).symlink_to(victim)
    with pytest.raises(EnhanceError) as info:
        batch.run_batch(files, out, process, output_for=output_for)
    assert str(info.value) == (f"{out / batch.MANIFEST_NAME}: cannot read the manifest (is a "
                               "symbolic link (not followed))")
    assert victim.read_text() == '{"input": "x"}\n'
    with pytest.raises(EnhanceError, match="cannot write the manifest .is a symbolic link"):
        batch.Manifest(out / batch.MANIFEST_NAME).append({"input": "y"})
    assert victim.read_text() == '{"input": "x"}\n'


def test_a_manifest_linked_to_dev_zero_is_refused_without_reading_it(tmp_path):
    """Run in a child limited to 1 GiB of address space: reading /dev/zero as lines would
    exhaust it (22 GB, then the OOM killer, before the fix)."""
    import os
    import subprocess
    import sys

    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    (tmp_path / batch.MANIFEST_NAME).symlink_to("/dev/zero")
    code = ("import resource, sys\n"
            "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
            "from enhance.batch import Manifest\nfrom enhance.errors import EnhanceError\n"
            "try:\n    Manifest(sys.argv[1]).records()\n"
            "except EnhanceError as error:\n    print(error)\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / batch.MANIFEST_NAME)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.strip().endswith("cannot read the manifest (is a symbolic link (not followed))")


def test_manifest_lines_beyond_the_bound_are_skipped_unread(tmp_path, monkeypatch):
    path = tmp_path / batch.MANIFEST_NAME
    monkeypatch.setattr(batch.Manifest, "MAX_LINE", 64)
    path.write_bytes(b'{"input": "' + b"x" * 500 + b'", "status": "done"}\n'
                     + b'{"input": "b", "status": "done"}\n')
    assert [r["input"] for r in batch.Manifest(path).records()] == ["b"]


def test_a_record_after_a_cut_line_is_not_glued_to_it(tmp_path):
    path = tmp_path / batch.MANIFEST_NAME
    log = batch.Manifest(path)
    log.append({"input": "a", "status": "done"})
    with open(path, "ab") as fh:  # a write cut by a full disk: no end of line
        fh.write(b'{"input": "b", "sta')
    log.append({"input": "c", "status": "done"})
    assert [r["input"] for r in log.records()] == ["a", "c"]
    assert path.read_bytes().endswith(b'"sta\n{"input": "c", "status": "done"}\n')


def test_a_fifo_named_like_an_image_is_reported_not_skipped(tmp_path):
    import os

    make_tree(tmp_path / "in")
    os.mkfifo(tmp_path / "in" / "pipe.png")
    _, files = batch.discover(tmp_path / "in")
    assert "pipe.png" in [f.relpath.name for f in files]
    with pytest.raises(UnreadableImage, match="pipe.png: not a regular file"):
        from enhance.io import read_image

        read_image(tmp_path / "in" / "pipe.png")


def test_names_of_241_to_255_bytes_are_written_and_their_parts_cleaned(tmp_path):
    from enhance.io.atomic import NAME_MAX, atomic_write, part_prefix

    names = ["a" * 251 + ".npy", "é" * 125 + "b.npy", "a" * 251 + ".png"]  # 255 bytes each
    for name in names:
        target = tmp_path / name
        stale = tmp_path / f"{part_prefix(name)}0123abcd.part"
        stale.write_bytes(b"left by a kill")
        assert len(os.fsencode(stale.name)) <= NAME_MAX
        with atomic_write(target) as f:
            f.write(b"x")
        assert target.read_bytes() == b"x"
    assert part_prefix(names[0]) != part_prefix(names[2])  # long names never share parts
    batch._remove_stale_parts(tmp_path / names[0])
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".part"))
    assert left == sorted(f"{part_prefix(n)}0123abcd.part" for n in names[1:])



def test_a_planted_symlink_preview_is_replaced_not_written_through(tmp_path):
    import cv2

    from enhance.preview import write_preview

    image = np.tile(np.arange(32, dtype=np.uint8) * 8, (32, 1))
    cv2.imwrite(str(tmp_path / "a.png"), image)
    out = tmp_path / "out"
    out.mkdir()
    cv2.imwrite(str(out / "a.png"), image)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (out / "preview.png").symlink_to(victim)
    write_preview(out / "preview.png", [(tmp_path / "a.png", out / "a.png")], root=tmp_path)
    assert victim.read_text() == "precious"
    assert not (out / "preview.png").is_symlink() and (out / "preview.png").stat().st_size > 0
