"""``enhance run URL OUT --store ROOT`` against a real Orthanc with its DICOMweb plugin.

The server is started by the tests (tests/services/orthanc.py: own storage folder, a free loopback
port, RemoteAccessAllowed false, HTTP basic authentication) and stopped after them; without it
(sh tests/services/install.sh) the tests skip, and with CI=true they fail. Studies are built from
pydicom's own test files and uploaded with STOW-RS.
"""

import importlib.util
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("enhance_test_orthanc", ROOT / "tests/services/orthanc.py")
orthanc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(orthanc)

FAST = {"retries": 1, "backoff": 0.05, "timeout": 10}


def _require_server():
    why = orthanc.missing()
    if not why:
        try:
            import dicomweb_client  # noqa: F401
        except ImportError:
            why = "dicomweb-client is not installed (pip install -e '.[test]')"
    if why:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {why}", pytrace=False)
        pytest.skip(why)


@pytest.fixture
def credentials(monkeypatch):
    from enhance.sources import dicomweb

    monkeypatch.setenv(dicomweb.USER_VARIABLE, orthanc.USER)
    monkeypatch.setenv(dicomweb.PASSWORD_VARIABLE, orthanc.PASSWORD)
    monkeypatch.delenv(dicomweb.TOKEN_VARIABLE, raising=False)
    monkeypatch.setenv("NETRC", "/nonexistent/netrc")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    _require_server()
    with orthanc.Orthanc(tmp_path_factory.mktemp("orthanc")) as running:
        yield running


def _client(server):
    import requests
    from dicomweb_client.api import DICOMwebClient

    session = requests.Session()
    session.auth = (orthanc.USER, orthanc.PASSWORD)
    return DICOMwebClient(server.root, session=session)


def make_study(folder, *, ct_slices=3, mr=True):
    """A new study from pydicom's CT_small.dcm (``ct_slices`` slices, each shifted a little) and
    MR_small.dcm (a second series), written under ``folder``; returns the datasets."""
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    study = generate_uid()
    ct_series, mr_series = generate_uid(), generate_uid()
    datasets = []
    for i in range(ct_slices):
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, ct_series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.SeriesNumber, ds.InstanceNumber, ds.SeriesDescription = 1, i + 1, "CT small"
        ds.PixelData = np.roll(ds.pixel_array, 3 * i, axis=1).astype(ds.pixel_array.dtype).tobytes()
        datasets.append(ds)
    if mr:
        ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, mr_series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.SeriesNumber, ds.InstanceNumber = 2, 1
        datasets.append(ds)
    for ds in datasets:
        path = Path(folder) / ds.SeriesInstanceUID / f"{ds.SOPInstanceUID}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
    return datasets


def upload(server, datasets):
    answer = _client(server).store_instances(datasets)
    assert len(answer.ReferencedSOPSequence) == len(datasets)


def server_instances(server, study):
    """Every instance of ``study`` on the server, retrieved (pydicom datasets)."""
    client = _client(server)
    found = client.search_for_instances(study_instance_uid=study)
    return [client.retrieve_instance(study, e["0020000E"]["Value"][0], e["00080018"]["Value"][0])
            for e in found]


@pytest.fixture
def spy(monkeypatch):
    """Counts the retrievals and stores the code under test makes (the real calls are made)."""
    from enhance.sources.dicomweb import Service

    calls = {"retrieve": 0, "store": 0}
    for name in calls:
        original = getattr(Service, name)

        def counted(self, *args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Service, name, counted)
    return calls


def _run_cli(*args):
    from click.testing import CliRunner

    from enhance.cli.main import cli

    return CliRunner().invoke(cli, ["run", *map(str, args)])


def test_study_round_trip_stores_one_derived_series_per_source_series(server, tmp_path, credentials, spy):
    import pydicom

    from enhance.pipeline import enhance_folder

    source = make_study(tmp_path / "study")
    upload(server, source)
    study = source[0].StudyInstanceUID
    url, out = f"{server.root}/studies/{study}", tmp_path / "out"

    result = _run_cli(url, out, "--store", server.root, "-q", "--retries", "1")
    assert result.exit_code == 0, result.output
    assert "4 done, 0 skipped" in result.output
    assert spy == {"retrieve": 4, "store": 4}
    assert (out / "preview.png").is_file()

    # the same files through a folder run: the stored pixels and UIDs are the folder run's
    folder = enhance_folder(tmp_path / "study", tmp_path / "folder-out")
    assert folder.ok
    by_sop = {}
    for path in (tmp_path / "folder-out").rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        by_sop[ds.SOPInstanceUID] = ds
    lines = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    records = list({r["input"]: r for r in lines}.values())  # the last record of each input wins
    assert len(records) == 4 and all(r["status"] == "done" for r in records)
    sha = records[0]["model_sha256"]
    assert len(sha) == 64 and {r["model_sha256"] for r in records} == {sha}
    # every line, the ones appended once stored included, carries the run's recipe (a rerun
    # compares it: pipeline._check_recipe)
    recipes = [json.dumps(r.get("recipe"), sort_keys=True) for r in lines]
    assert len(set(recipes)) == 1 and json.loads(recipes[0])["model_sha256"] == sha
    assert sum("stored" in r for r in lines) == 4

    sources = {ds.SOPInstanceUID: ds for ds in source}
    on_server = server_instances(server, study)
    derived = [ds for ds in on_server if ds.SOPInstanceUID not in sources]
    assert len(on_server) == 8 and len(derived) == 4
    series_of = {}
    for ds in derived:
        assert ds.StudyInstanceUID == study
        ref = ds.SourceImageSequence[0]
        src = sources[ref.ReferencedSOPInstanceUID]
        assert ref.ReferencedSOPClassUID == src.SOPClassUID
        assert ds.SeriesInstanceUID != src.SeriesInstanceUID
        series_of.setdefault(src.SeriesInstanceUID, set()).add((ds.SeriesInstanceUID, int(ds.SeriesNumber)))
        assert list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"]
        assert "dae-gaussian-sigma-20k" in ds.DerivationDescription and sha in ds.DerivationDescription
        assert "enhanced" in ds.SeriesDescription and "dae-gaussian-sigma-20k" in ds.SeriesDescription
        folder_ds = by_sop[ds.SOPInstanceUID]  # the folder run made the same instance
        assert np.array_equal(ds.pixel_array, folder_ds.pixel_array)
        assert ds.SeriesInstanceUID == folder_ds.SeriesInstanceUID
        assert not np.array_equal(ds.pixel_array, src.pixel_array)
        # what OUT holds is what was stored
        local = pydicom.dcmread(out / src.SeriesInstanceUID / f"{src.SOPInstanceUID}.dcm")
        assert local.SOPInstanceUID == ds.SOPInstanceUID
        assert local.SeriesNumber == ds.SeriesNumber and local.SeriesDescription == ds.SeriesDescription
    assert sorted(series_of) == sorted({ds.SeriesInstanceUID for ds in source})
    assert all(len(v) == 1 for v in series_of.values())  # one derived series each, one number
    numbers = {next(iter(v))[1] for v in series_of.values()}
    assert numbers == {1001, 1002}
    assert "CT small (enhanced, dae-gaussian-sigma-20k)" in {ds.SeriesDescription for ds in derived}
    assert {r["stored"]["instance"] for r in records} == {ds.SOPInstanceUID for ds in derived}
    assert {r["source_url"] for r in records} == {
        f"{url}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}" for ds in source}

    # the rerun retrieves and stores nothing (its derived series are not taken for sources)
    spy.update(retrieve=0, store=0)
    again = _run_cli(url, out, "--store", server.root, "-q")
    assert again.exit_code == 0, again.output
    assert "0 done, 4 skipped" in again.output
    assert spy == {"retrieve": 0, "store": 0}
    assert len(server_instances(server, study)) == 8


def test_a_server_that_goes_away_loses_nothing_and_the_rerun_completes(tmp_path, credentials, spy):
    import pydicom

    from enhance.pipeline import enhance_folder

    _require_server()
    server = orthanc.Orthanc(tmp_path / "orthanc").start()
    try:
        source = make_study(tmp_path / "study", ct_slices=6, mr=False)
        upload(server, source)
        study, series = source[0].StudyInstanceUID, source[0].SeriesInstanceUID
        url, out = f"{server.root}/studies/{study}/series/{series}", tmp_path / "out"

        def stop_after_two(done, total, result):
            if done == 2:
                server.stop()

        first = enhance_folder(url, out, store=server.root, connection=FAST, progress=stop_after_two)
        # retrieved ahead and stored behind the batch: whatever was under way when the server
        # went away failed, by name, with nothing half-done
        done = [r for r in first.results if r.status == "done"]
        not_retrieved = [r for r in first.failed if "cannot retrieve it" in r.error]
        not_stored = [r for r in first.failed if "but not stored to" in r.error]
        assert len(done) >= 1 and not_retrieved and not_stored
        assert len(done) + len(not_retrieved) + len(not_stored) == 6
        for r in done:
            assert r.details["stored"]["series_number"] == 1001 and Path(r.output).is_file()
        for r in not_retrieved:
            assert "after 2 attempts" in r.error and not Path(r.output).exists()
        for r in not_stored:
            assert "cannot connect" in r.error and Path(r.output).is_file()  # the enhancement is kept
        for r in first.failed:
            assert "\n" not in r.error and r.input in r.error
        assert spy["store"] == len(done) + len(not_stored)

        server.start()
        spy.update(retrieve=0, store=0)
        second = enhance_folder(url, out, store=server.root, connection=FAST)
        assert second.ok
        again = {r.input for r in not_retrieved}
        assert [r.status for r in second.results] == [
            "done" if r.input in again else "skipped" for r in first.results]
        assert spy == {"retrieve": len(not_retrieved), "store": len(not_retrieved) + len(not_stored)}
        derived = [ds for ds in server_instances(server, study) if ds.SeriesInstanceUID != series]
        assert len(derived) == 6 and {int(ds.SeriesNumber) for ds in derived} == {1001}
        assert len({ds.SeriesInstanceUID for ds in derived}) == 1
        stored = {ds.SOPInstanceUID for ds in derived}
        assert stored == {pydicom.dcmread(p).SOPInstanceUID for p in out.glob("*/*.dcm")}
        latest = {r["input"]: r for r in map(json.loads, (out / "manifest.jsonl").read_text().splitlines())}
        assert {r["stored"]["instance"] for r in latest.values()} == stored
    finally:
        server.stop()


def test_outputs_a_run_could_not_store_are_stored_by_the_rerun_without_enhancing_again(
        server, tmp_path, credentials, spy):
    from enhance.pipeline import enhance_folder

    source = make_study(tmp_path / "study", ct_slices=2, mr=False)
    upload(server, source)
    down = f"http://127.0.0.1:{orthanc.free_port()}/dicom-web"  # nothing listens there
    out = tmp_path / "out"
    first = enhance_folder(tmp_path / "study", out, store=down, connection=FAST)
    assert len(first.failed) == 2
    for r in first.failed:
        assert "but not stored to" in r.error and "cannot connect" in r.error
        assert Path(r.output).is_file()  # the enhancement is kept
    spy.update(retrieve=0, store=0)
    second = enhance_folder(tmp_path / "study", out, store=server.root, connection=FAST)
    assert second.ok and [r.status for r in second.results] == ["skipped", "skipped"]
    assert spy["store"] == 2
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert sum("stored" in r for r in records) == 2 and sum("store_error" in r for r in records) == 2
    study = source[0].StudyInstanceUID
    assert len(server_instances(server, study)) == 4
    spy.update(store=0)
    assert enhance_folder(tmp_path / "study", out, store=server.root, connection=FAST).ok
    assert spy["store"] == 0


def test_the_stores_of_a_rerun_wait_for_the_lock_and_refuse_a_planted_manifest_link(
        server, tmp_path, credentials, spy):
    """The rerun that stores what a first run could not: while another run holds the lock on
    OUT it stores nothing and says so in one line; with the manifest replaced by a link to a
    file outside OUT it stores nothing, names the link, and leaves that file as it was."""
    from enhance.batch import MANIFEST_NAME, OutputLock
    from enhance.errors import EnhanceError
    from enhance.pipeline import enhance_folder

    source = make_study(tmp_path / "study", ct_slices=1, mr=False)
    upload(server, source)
    down = f"http://127.0.0.1:{orthanc.free_port()}/dicom-web"  # nothing listens there
    out = tmp_path / "out"
    assert len(enhance_folder(tmp_path / "study", out, store=down, connection=FAST).failed) == 1
    spy.update(retrieve=0, store=0)
    with OutputLock(out):  # another run writing into OUT
        with pytest.raises(EnhanceError, match="another") as caught:
            enhance_folder(tmp_path / "study", out, store=server.root, connection=FAST)
    assert "\n" not in str(caught.value) and spy["store"] == 0
    outside = tmp_path / "elsewhere.jsonl"
    (out / MANIFEST_NAME).rename(outside)
    before = outside.read_bytes()
    (out / MANIFEST_NAME).symlink_to(outside)
    result = _run_cli(tmp_path / "study", out, "--store", server.root, "-q")
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert MANIFEST_NAME in result.output and "link" in result.output
    assert spy["store"] == 0 and outside.read_bytes() == before
    assert len(server_instances(server, source[0].StudyInstanceUID)) == 1  # the source only


def test_a_rerun_with_a_store_holds_the_lock_from_its_resume_to_the_end_of_its_batch(
        server, tmp_path, credentials, spy, monkeypatch):
    """No window between the stores of what a first run left unstored and the batch: when the
    batch starts, the lock taken before the resume is still held (another run is refused)."""
    from enhance import batch
    from enhance.batch import OutputLock
    from enhance.errors import EnhanceError
    from enhance.pipeline import enhance_folder

    source = make_study(tmp_path / "study", ct_slices=1, mr=False)
    down = f"http://127.0.0.1:{orthanc.free_port()}/dicom-web"  # nothing listens there
    out = tmp_path / "out"
    assert len(enhance_folder(tmp_path / "study", out, store=down, connection=FAST).failed) == 1
    spy.update(retrieve=0, store=0)
    seen, real = [], batch.run_batch

    def probing(files, out_dir, *args, **kwargs):
        try:
            OutputLock(out_dir).acquire().release()  # what another run would try
            seen.append("free")
        except EnhanceError:
            seen.append("held")
        seen.append(spy["store"])  # the resume's store happened before the batch
        return real(files, out_dir, *args, **kwargs)

    monkeypatch.setattr(batch, "run_batch", probing)
    result = enhance_folder(tmp_path / "study", out, store=server.root, connection=FAST)
    assert result.ok and seen == ["held", 1] and spy["store"] == 1
    assert not (out / ".enhance.lock").exists()  # released at the end
    with OutputLock(out):  # and free again for the next run
        pass


def test_a_deidentified_copy_is_stored_as_a_new_study_with_a_redacted_manifest(
        server, tmp_path, credentials, spy):
    from enhance.pipeline import enhance_folder

    source = make_study(tmp_path / "study", ct_slices=2, mr=False)
    out = tmp_path / "out"
    key = tmp_path / "deid-key.json"
    first = enhance_folder(tmp_path / "study", out, store=server.root, connection=FAST,
                           anonymize=True, deid_key=key)
    assert first.ok and spy["store"] == 2
    stored = [r["stored"] for r in map(json.loads, (out / "manifest.jsonl").read_text().splitlines())
              if r.get("stored")]
    assert len(stored) == 2 and len({s["study"] for s in stored}) == 1
    study = stored[0]["study"]
    assert study != source[0].StudyInstanceUID  # a new (de-identified) study
    derived = server_instances(server, study)
    assert len(derived) == 2
    for ds in derived:
        assert ds.SeriesDescription == "enhanced with dae-gaussian-sigma-20k"  # not the source's
        assert str(ds.PatientName) != str(source[0].PatientName)
    text = (out / "manifest.jsonl").read_text()
    assert source[0].SOPInstanceUID not in text and str(tmp_path / "study") not in text
    spy.update(store=0)
    assert enhance_folder(tmp_path / "study", out, store=server.root, connection=FAST,
                          anonymize=True, deid_key=key).ok
    assert spy["store"] == 0


def test_store_and_connection_are_run_options_checked_when_made(tmp_path):
    """No server needed: ``store`` and ``connection`` are fields of the one RunOptions, refused
    in one line before anything is read or written (the command line's too)."""
    from enhance.errors import EnhanceError
    from enhance.run_options import RunOptions
    from enhance.sources import Connection

    options = RunOptions(store="http://127.0.0.1:8042/dicom-web/", connection=FAST)
    assert options.store == "http://127.0.0.1:8042/dicom-web"
    assert options.connection == Connection(timeout=10, retries=1, backoff=0.05)
    assert options.replace(sigma=0.1).connection == options.connection
    assert RunOptions().store is None and RunOptions().connection is None
    refused = [
        (dict(store="ftp://host/dicom-web"), "not a DICOMweb service root"),
        (dict(store="http://host/dicom-web/studies/1.2"), "without /studies"),
        (dict(store="http://u:p@host/dicom-web"), "credentials do not belong in the URL"),
        (dict(store="http://host/dicom-web", output_format="png16"), "use --format keep"),
        (dict(store="http://host/dicom-web", engine="ray"), "local engine only"),
        (dict(connection={"timeout": 0}), "timeout must be a finite number > 0"),
        (dict(connection={"timeout": float("nan")}), "timeout must be a finite number > 0"),
        (dict(connection={"retries": -1}), "retries must be a whole number >= 0"),
        (dict(connection={"retries": 1.5}), "retries must be a whole number >= 0"),
        (dict(connection={"backoff": -1}), "backoff must be a finite number >= 0"),
        (dict(connection={"ca_bundle": str(tmp_path / "none.pem")}), "no such CA bundle file"),
        (dict(connection={"verify": False}), "unknown connection option verify"),
        (dict(connection="fast"), "connection must be a dict"),
    ]
    for values, message in refused:
        with pytest.raises(EnhanceError, match=re.escape(message)):
            RunOptions.from_dict(values)
    for args, message in [(("--store", "ftp://host/x"), "not a DICOMweb service root"),
                          (("--store", "http://host/dicom-web", "--format", "npy"), "use --format keep"),
                          (("--ca-bundle", str(tmp_path / "none.pem")), "no such CA bundle file")]:
        result = _run_cli(tmp_path / "in", tmp_path / "out", *args)
        assert result.exit_code != 0 and message in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_refusals_and_credentials_are_one_line(server, tmp_path, credentials, monkeypatch):
    from enhance.errors import EnhanceError
    from enhance.sources import dicomweb

    source = make_study(tmp_path / "study", ct_slices=1, mr=False)
    upload(server, source)
    url = f"{server.root}/studies/{source[0].StudyInstanceUID}"

    cases = [
        ((url, tmp_path / "a", "--store", server.root + "/", "--anonymize"), "does not belong in the PACS"),
        ((url, tmp_path / "a2", "--anonymize"), "retrieved instances are kept"),
        ((url.replace("http://", "http://user:pw@"), tmp_path / "b"), "credentials do not belong in the URL"),
        ((f"http://127.0.0.1:{server.port}/dicom-web/patients/1", tmp_path / "c"), "not a DICOMweb study"),
        ((url, tmp_path / "d", "--store", server.root, "--format", "png16"), "use --format keep"),
    ]
    for args, message in cases:
        result = _run_cli(*args)
        assert result.exit_code != 0 and message in result.output, result.output
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
        assert not Path(args[1]).exists()  # refused before anything was written

    monkeypatch.setenv(dicomweb.PASSWORD_VARIABLE, "wrong")
    result = _run_cli(url, tmp_path / "e")
    assert result.exit_code != 0 and "HTTP 401" in result.output and dicomweb.USER_VARIABLE in result.output
    assert len(result.output.strip().splitlines()) == 1

    # a netrc-style file instead of the environment
    monkeypatch.delenv(dicomweb.USER_VARIABLE)
    monkeypatch.delenv(dicomweb.PASSWORD_VARIABLE)
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login {orthanc.USER} password {orthanc.PASSWORD}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    found = dicomweb.Service(server.root).instances(source[0].StudyInstanceUID)
    assert [e["00080018"]["Value"][0] for e in found] == [source[0].SOPInstanceUID]
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    with pytest.raises(EnhanceError, match="HTTP 401"):
        dicomweb.Service(server.root, dicomweb.Connection(retries=0)).instances(source[0].StudyInstanceUID)


def test_https_trusts_a_given_ca_bundle(tmp_path, credentials):
    """Against a TLS server of this process (Debian's Orthanc 1.10 crashes on HTTPS requests
    with OpenSSL 3): the given bundle is trusted, and without it the certificate is refused in
    one line that says how to give it."""
    import http.server
    import ssl
    import subprocess
    import threading

    from enhance.errors import EnhanceError
    from enhance.sources.dicomweb import Connection, Service

    if shutil.which("openssl") is None:
        pytest.skip("no openssl to make a certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)

    class QIDO(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server name
            body = b"[]" if self.path.startswith("/dicom-web/studies/1.2.3.4/series") else b""
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "application/dicom+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), QIDO)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        root = f"https://127.0.0.1:{httpd.server_address[1]}/dicom-web"
        assert Service(root, Connection(ca_bundle=str(cert))).series_numbers("1.2.3.4") == {}
        with pytest.raises(EnhanceError, match="certificate is not trusted.*--ca-bundle"):
            Service(root, Connection(retries=0)).series_numbers("1.2.3.4")
    finally:
        httpd.shutdown()


def test_busy_servers_are_retried_with_backoff_and_silent_ones_time_out():
    """Against an HTTP server of this process: a 503 is retried after the backoff and the next
    answer taken; a server that never answers times out, is retried, then is one line."""
    import http.server
    import threading
    import time

    from enhance.errors import EnhanceError
    from enhance.sources.dicomweb import Connection, Service

    answers, seen = ["busy", "ok", "silent", "silent"], []

    class Flaky(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server name
            seen.append(time.monotonic())
            what = answers.pop(0)
            if what == "silent":
                time.sleep(1.5)
                return
            body = b"[]"
            self.send_response(503 if what == "busy" else 200)
            self.send_header("Content-Type", "application/dicom+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        service = Service(f"http://127.0.0.1:{httpd.server_address[1]}/dicom-web",
                          Connection(timeout=0.5, retries=1, backoff=0.3))
        assert service.series_numbers("1.2.3") == {}
        assert len(seen) == 2 and seen[1] - seen[0] >= 0.3  # waited the backoff, then retried
        with pytest.raises(EnhanceError, match=r"timed out after 0.5 s \(after 2 attempts\)"):
            service.series_numbers("1.2.3")
        assert len(seen) == 4
    finally:
        httpd.shutdown()


def test_readme_test_command_is_what_ci_runs():
    """The README's install-and-test command installs the test service and is .ci/run's."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"# 2\. .*?\n```", readme, re.S).group(0)
    block = [line for line in block.splitlines()[:-1] if not line.startswith("#")]
    ci = [line for line in (ROOT / ".ci/run").read_text().splitlines()
          if line.strip() and not line.startswith(("#", "set ", "cd "))]
    assert ci == block and len(block) == 1
    assert block[0].startswith("sh tests/services/install.sh && ") and "pytest" in block[0]
