"""A throw-away Orthanc with its DICOMweb plugin, for tests/test_pacs.py and benchmarks/pacs_roundtrip.py.

Its own configuration and storage folder, HTTP on a free loopback port (``RemoteAccessAllowed``
false), the DICOM server off (its port a free one all the same), HTTP basic authentication with
one user; started as a child process and stopped by :meth:`Orthanc.stop`. Installed by
``tests/services/install.sh`` (Debian packages ``orthanc`` and ``orthanc-dicomweb``).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path

#: Where the Debian package puts the DICOMweb plugin (ORTHANC_DICOMWEB_PLUGIN overrides).
PLUGIN_PATTERNS = ("/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
                   "/usr/lib/orthanc/libOrthancDicomWeb.so*",
                   "/usr/local/share/orthanc/plugins/libOrthancDicomWeb.so")

USER, PASSWORD = "enhance", "test-secret"


def executable():
    """The Orthanc server's path (``$ORTHANC`` if set), or None."""
    if "ORTHANC" in os.environ:  # where it is installed elsewhere
        return os.environ["ORTHANC"] if os.access(os.environ["ORTHANC"], os.X_OK) else None
    return shutil.which("Orthanc") or next(
        (p for p in ("/usr/sbin/Orthanc", "/usr/local/sbin/Orthanc") if os.access(p, os.X_OK)), None)


def plugin():
    """The DICOMweb plugin's path, or None."""
    if "ORTHANC_DICOMWEB_PLUGIN" in os.environ:
        return os.environ["ORTHANC_DICOMWEB_PLUGIN"] if os.path.isfile(os.environ["ORTHANC_DICOMWEB_PLUGIN"]) else None
    for pattern in PLUGIN_PATTERNS:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


def missing():
    """Why no Orthanc can be started here ('' when one can)."""
    if executable() is None:
        return "Orthanc is not installed (sh tests/services/install.sh)"
    if plugin() is None:
        return "Orthanc's DICOMweb plugin is not installed (sh tests/services/install.sh)"
    return ""


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Orthanc:
    """One Orthanc server whose storage lives in ``folder`` (kept across :meth:`stop` and
    :meth:`start`, so that a restarted server has the same studies)."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process = None
        self.log = self.folder / "orthanc.log"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"  # (Debian's Orthanc 1.10 crashes on HTTPS requests)

    @property
    def root(self):
        """The DICOMweb service root."""
        return f"{self.url}/dicom-web"

    def _config(self):
        storage = self.folder / "storage"
        config = {
            "Name": "enhance-test", "StorageDirectory": str(storage), "IndexDirectory": str(storage),
            "Plugins": [plugin()], "HttpPort": self.port, "RemoteAccessAllowed": False,
            "DicomServerEnabled": False, "DicomPort": free_port(),
            "AuthenticationEnabled": True, "RegisteredUsers": {USER: PASSWORD},
            "StorageCompression": False, "ConcurrentJobs": 1, "SaveJobs": False,
            "HttpCompressionEnabled": False, "OrthancExplorerEnabled": False,
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        }
        path = self.folder / "orthanc.json"
        path.write_text(json.dumps(config, indent=1))
        return path

    def _ready(self):
        request = urllib.request.Request(f"{self.url}/system")
        token = b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=2) as answer:
                return answer.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def start(self, *, timeout=60):
        """Start the server and wait until it answers; RuntimeError with its log if it does not."""
        config = self._config()
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([executable(), str(config)], stdout=log,
                                            stderr=subprocess.STDOUT, cwd=self.folder)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self._ready():
                return self
            time.sleep(0.1)
        self.stop()
        tail = self.log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"Orthanc did not start on port {self.port}:\n{tail}")

    def stop(self):
        """Stop the server (its storage stays)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
