#!/bin/sh
# What the tests need beyond pip: Orthanc and its DICOMweb plugin (Debian/Ubuntu packages
# orthanc, orthanc-dicomweb) for tests/test_pacs.py, which starts its own server on a free
# loopback port. Idempotent and quiet: apt-get runs only when Orthanc or the plugin is missing.
# The packaged service is stopped and disabled (nothing stays on port 8042).
set -e
plugin_found() {
    for f in /usr/share/orthanc/plugins/libOrthancDicomWeb.so /usr/lib/orthanc/libOrthancDicomWeb.so*; do
        [ -e "$f" ] && return 0
    done
    return 1
}
if { command -v Orthanc >/dev/null 2>&1 || [ -x /usr/sbin/Orthanc ]; } && plugin_found; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "tests/services/install.sh: no apt-get here; install Orthanc and its DICOMweb plugin" \
         "(tests/test_pacs.py skips without them, and fails with CI=true)" >&2
    exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends orthanc orthanc-dicomweb >/dev/null
# the tests start their own server: the package's service must not keep running
if command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now orthanc >/dev/null 2>&1 || true
fi
$SUDO invoke-rc.d orthanc stop >/dev/null 2>&1 || true
$SUDO update-rc.d orthanc disable >/dev/null 2>&1 || true
