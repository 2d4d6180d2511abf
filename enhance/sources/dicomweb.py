"""A DICOMweb service: QIDO-RS to list (``dicomweb-client``), WADO-RS to retrieve, STOW-RS to store.

:func:`parse_url` splits ``http(s)://HOST[:PORT]/.../studies/<Study>[/series/<Series>]`` into the
service root and the UIDs; :class:`Service` talks to one service root with the credentials of
:func:`credentials` (environment or a netrc-style file, never the command line), the system's CA
bundle or a given one, a timeout on every request and retries with exponential backoff
(:class:`Connection`). Instances travel as their Part 10 bytes (retrieved and stored as they are,
never decoded and re-encoded on the way). Every failure is an :class:`enhance.errors.EnhanceError` of one line naming
the URL and the cause.
"""

from __future__ import annotations

import os
import re
import ssl
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import EnhanceError, one_line
from ..names import check_number, check_whole

__all__ = ["Connection", "Service", "parse_url", "is_url", "same_service", "credentials",
           "USER_VARIABLE", "PASSWORD_VARIABLE", "TOKEN_VARIABLE"]

#: Environment variables holding the credentials of a DICOMweb service (HTTP basic, or a bearer
#: token); without them, the netrc-style file ``$NETRC`` (default ``~/.netrc``) is read.
USER_VARIABLE, PASSWORD_VARIABLE, TOKEN_VARIABLE = (
    "ENHANCE_DICOMWEB_USER", "ENHANCE_DICOMWEB_PASSWORD", "ENHANCE_DICOMWEB_TOKEN")

#: HTTP statuses worth a retry (the server busy or restarting).
RETRIABLE = (408, 429, 500, 502, 503, 504)

_UID = r"[0-9]+(?:\.[0-9]+)*"
_URL = re.compile(rf"^(?P<root>https?://[^?#]+?)/studies/(?P<study>{_UID})"
                  rf"(?:/series/(?P<series>{_UID}))?/?$")


@dataclass(frozen=True)
class Connection:
    """How to talk to a DICOMweb service.

    Parameters
    ----------
    ca_bundle : str or Path, optional
        A PEM file of the certificate authorities to trust for HTTPS (default:
        ``$REQUESTS_CA_BUNDLE``, else the system's: :func:`ca_bundle`).
    timeout : float
        Seconds to wait for a connection and for each read.
    retries : int
        Further attempts after a connection error, a timeout or a busy server (HTTP 408, 429,
        5xx), waiting ``backoff``, ``2 * backoff``, ``4 * backoff``... seconds between them.
    backoff : float
        Seconds before the first retry.
    """

    ca_bundle: str | None = None
    timeout: float = 30.0
    retries: int = 3
    backoff: float = 1.0

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "timeout", check_number("the DICOMweb timeout", self.timeout, low=0, low_open=True,
                                      what=" (seconds)"))
        set_(self, "retries", check_whole("DICOMweb retries", self.retries, low=0))
        set_(self, "backoff", check_number("the DICOMweb backoff", self.backoff, low=0, what=" (seconds)"))
        if self.ca_bundle is not None:
            if not Path(self.ca_bundle).is_file():
                raise EnhanceError(f"{self.ca_bundle}: no such CA bundle file")
            set_(self, "ca_bundle", str(self.ca_bundle))


def is_url(source):
    """Whether ``source`` is an HTTP(S) URL (then it must be a DICOMweb study or series)."""
    return str(source).lower().startswith(("http://", "https://"))


def _check_no_credentials(url):
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise EnhanceError(
            f"{parts.hostname}: credentials do not belong in the URL (they would show in the "
            f"process list and the manifest); set {USER_VARIABLE} and {PASSWORD_VARIABLE} (or "
            f"{TOKEN_VARIABLE}), or put them in a netrc file ($NETRC, default ~/.netrc)")


def parse_url(url):
    """``(root, study, series)`` of a DICOMweb study or series URL (``series`` None for a study).

    Raises
    ------
    EnhanceError
        Not such a URL, or one with credentials in it.
    """
    url = str(url)
    _check_no_credentials(url)
    match = _URL.match(url)
    if match is None:
        raise EnhanceError(
            f"{url}: not a DICOMweb study or series URL (expected "
            "http(s)://HOST[:PORT]/.../studies/<StudyInstanceUID>[/series/<SeriesInstanceUID>])")
    return match["root"], match["study"], match["series"]


def check_root(root):
    """A DICOMweb service root (``http(s)://HOST[:PORT]/PATH``), without a trailing slash."""
    root = str(root).rstrip("/")
    _check_no_credentials(root)
    parts = urlsplit(root)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise EnhanceError(f"{root}: not a DICOMweb service root (http(s)://HOST[:PORT]/PATH)")
    if "/studies" in parts.path:
        raise EnhanceError(f"{root}: give the service root, without /studies/...")
    return root


def same_service(a, b):
    """Whether two service roots name the same service (scheme, host and port, path)."""
    def key(url):
        parts = urlsplit(str(url).rstrip("/"))
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
        return parts.scheme.lower(), (parts.hostname or "").lower(), port, parts.path
    return key(a) == key(b)


def credentials(root):
    """What authenticates requests to ``root``: ``("token", TOKEN)``, ``("basic", (user,
    password))`` or None, from :data:`TOKEN_VARIABLE`, :data:`USER_VARIABLE` and
    :data:`PASSWORD_VARIABLE`, else the entry for the host in the netrc-style file ``$NETRC``
    (default ``~/.netrc``).

    Raises
    ------
    EnhanceError
        A user without a password, or an unreadable netrc file.
    """
    import netrc

    token = os.environ.get(TOKEN_VARIABLE)
    if token:
        return "token", token
    user, password = os.environ.get(USER_VARIABLE), os.environ.get(PASSWORD_VARIABLE)
    if user or password:
        if not (user and password):
            raise EnhanceError(f"set both {USER_VARIABLE} and {PASSWORD_VARIABLE}, or neither")
        return "basic", (user, password)
    path = Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    if not path.is_file():
        return None
    try:
        entry = netrc.netrc(path).authenticators(urlsplit(root).hostname or "")
    except (OSError, netrc.NetrcParseError) as error:
        raise EnhanceError(f"{path}: cannot read the netrc file ({error})") from None
    if entry is None:
        return None
    login, _, password = entry
    return "basic", (login, password or "")


def ca_bundle(given=None):
    """The CA bundle HTTPS trusts: ``given``, else ``$REQUESTS_CA_BUNDLE`` or ``$CURL_CA_BUNDLE``,
    else the system's (:func:`ssl.get_default_verify_paths`), else certifi's (True)."""
    for candidate in (given, os.environ.get("REQUESTS_CA_BUNDLE"), os.environ.get("CURL_CA_BUNDLE"),
                      ssl.get_default_verify_paths().cafile):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    return True


def _session(verify):
    """A requests session whose every request verifies with ``verify`` (requests would let
    ``$REQUESTS_CA_BUNDLE`` override a session's own bundle)."""
    import requests

    class Session(requests.Session):
        def request(self, method, url, **kwargs):
            kwargs.setdefault("verify", verify)
            return super().request(method, url, **kwargs)

    return Session()


class Service:
    """One DICOMweb service root, with :class:`Connection`'s credentials, timeout and retries.

    Parameters
    ----------
    root : str
        The service root (``http://localhost:8042/dicom-web``).
    connection : Connection, optional
    """

    def __init__(self, root, connection=None):
        try:
            import requests
            from dicomweb_client.api import DICOMwebClient
        except ImportError:
            raise EnhanceError("DICOMweb needs dicomweb-client: pip install 'enhance[pacs]'") from None
        self.root = check_root(root)
        self.connection = connection or Connection()
        session = _session(ca_bundle(self.connection.ca_bundle))
        auth = credentials(self.root)
        headers = None
        if auth is not None and auth[0] == "token":
            headers = {"Authorization": f"Bearer {auth[1]}"}
        elif auth is not None:
            session.auth = auth[1]
        timeout = self.connection.timeout
        self._timeout = (timeout, timeout)
        self._session = session
        self._client = DICOMwebClient(self.root, session=session, headers=headers,
                                      timeout=self._timeout)
        self._client.set_http_retry_params(retry=False)  # retried here, connection errors too
        self._requests = requests

    # -- one request, retried -------------------------------------------------------------

    def _call(self, what, url, request):
        """``request()`` with retries and backoff; a failure is one :class:`EnhanceError` line."""
        requests = self._requests
        attempts = self.connection.retries + 1
        for attempt in range(attempts):
            try:
                return request()
            except requests.exceptions.SSLError as error:
                raise EnhanceError(
                    f"{url}: cannot {what}: the server's certificate is not trusted "
                    f"({_short(error)}); give its CA bundle with --ca-bundle") from None
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as error:
                cause = ("timed out after " f"{self.connection.timeout:g} s"
                         if isinstance(error, requests.exceptions.Timeout) else
                         f"cannot connect ({_short(error)})")
            except requests.exceptions.HTTPError as error:
                status = error.response.status_code if error.response is not None else None
                cause = f"HTTP {status} {getattr(error.response, 'reason', '') or ''}".strip()
                if status in (401, 403):
                    raise EnhanceError(
                        f"{url}: cannot {what}: {cause} (credentials: {USER_VARIABLE} and "
                        f"{PASSWORD_VARIABLE}, {TOKEN_VARIABLE}, or a netrc entry for "
                        f"{urlsplit(url).hostname})") from None
                if status not in RETRIABLE:
                    raise EnhanceError(f"{url}: cannot {what}: {cause}") from None
            except ValueError as error:  # a malformed answer (dicomweb-client's parsing)
                raise EnhanceError(f"{url}: cannot {what}: {one_line(error)}") from None
            if attempt + 1 < attempts:
                time.sleep(self.connection.backoff * 2 ** attempt)
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        raise EnhanceError(f"{url}: cannot {what}: {cause}{tries}")

    # -- QIDO-RS, WADO-RS, STOW-RS -------------------------------------------------------

    def instances(self, study, series=None, *, fields=()):
        """QIDO-RS: the DICOM JSON attributes of the instances of a study (or one series)."""
        url = f"{self.root}/studies/{study}" + (f"/series/{series}" if series else "")
        return self._call(
            "list its instances", url,
            lambda: self._client.search_for_instances(
                study_instance_uid=study, series_instance_uid=series, fields=list(fields),
                get_remaining=True) or [])

    def series_numbers(self, study):
        """QIDO-RS: ``{SeriesInstanceUID: SeriesNumber or None}`` of a study's series."""
        found = self._call(
            "list its series", f"{self.root}/studies/{study}",
            lambda: self._client.search_for_series(study_instance_uid=study,
                                                   fields=["SeriesNumber"], get_remaining=True))
        numbers = {}
        for entry in found or []:
            uid, number = value(entry, "0020000E"), value(entry, "00200011")
            try:
                numbers[uid] = None if number is None else int(number)
            except (TypeError, ValueError):
                numbers[uid] = None
        return numbers

    def retrieve(self, study, series, instance):
        """WADO-RS: one instance's Part 10 bytes, in the transfer syntax the server holds it in
        (kept as they came: no decoding and re-encoding)."""
        url = f"{self.root}/studies/{study}/series/{series}/instances/{instance}"
        accept = 'multipart/related; type="application/dicom"; transfer-syntax=*'

        def get():
            answer = self._session.get(url, headers={"Accept": accept}, timeout=self._timeout)
            answer.raise_for_status()
            return answer

        answer = self._call("retrieve it", url, get)
        parts = multipart_parts(answer.headers.get("Content-Type", ""), answer.content)
        if len(parts) != 1:
            raise EnhanceError(f"{url}: cannot retrieve it: {len(parts)} parts in the answer, not 1")
        return parts[0]

    def store(self, data, *, study, instance):
        """STOW-RS: store one instance (its Part 10 ``data``) into ``study``.

        Raises
        ------
        EnhanceError
            The request failed, or the server's answer lists the instance as failed.
        """
        url = f"{self.root}/studies/{study}"
        boundary = f"enhance-{uuid.uuid4().hex}"
        body = (f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data
                + f"\r\n--{boundary}--\r\n".encode())
        headers = {"Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
                   "Accept": "application/dicom+json"}

        def post():
            answer = self._session.post(url, data=body, headers=headers, timeout=self._timeout)
            answer.raise_for_status()
            return answer

        answer = self._call("store into it", url, post)
        try:
            result = answer.json() if answer.content else {}
        except ValueError:
            result = {}
        failed = (result.get("00081198") or {}).get("Value") or [] if isinstance(result, dict) else []
        if failed:
            reason = value(failed[0], "00081197")
            raise EnhanceError(f"{url}: the server refused instance {instance} (failure reason {reason})")


def multipart_parts(content_type, body):
    """The bodies of a ``multipart/related`` message (the whole body when it is a single
    ``application/dicom``, as some servers send one instance)."""
    if content_type.lower().startswith("application/dicom"):
        return [body]
    match = re.search(r'boundary="?([^";,\s]+)"?', content_type)
    if match is None:
        raise EnhanceError(f"an answer of type {content_type or 'unknown'!r}, not multipart/related")
    delimiter = b"\r\n--" + match.group(1).encode()
    parts = []
    for chunk in (b"\r\n" + body).split(delimiter)[1:]:
        if chunk.startswith(b"--"):  # the close delimiter
            break
        _, separator, data = chunk.partition(b"\r\n\r\n")
        if separator:
            parts.append(data)
    return parts


def value(entry, tag):
    """The first value of ``tag`` (``'0020000E'``) in a DICOM JSON object, or None."""
    values = (entry.get(tag) or {}).get("Value") or [None]
    return values[0]


def _short(error):
    """The root cause of a requests error, without its nested reprs."""
    text = one_line(error)
    for pattern in (r"\[Errno -?\d+\] ([^'\")]+)", r"(Connection refused)", r"(Read timed out)",
                    r"(certificate verify failed[^'\")]*)"):
        match = re.search(pattern, text)
        if match:
            return match.group(1).strip()
    return text[:200]
