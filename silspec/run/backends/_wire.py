"""The HTTP transport the API backends share: one ``aiohttp`` session per backend, POST JSON, bytes back.

Why not the ``openai`` SDK: at concurrency 100 its per-request machinery (parameter transforms,
request building, response models, httpx's connection pool) was ~71 % of a run's CPU, and
silspec reads the reply's JSON itself anyway (every field type-checked). Why ``aiohttp`` and not
``httpx2`` (the client the SDK brings): measured side by side against the test server
(``bench/api_throughput.py --transports``, 600 requests, concurrency 100), a bare
``httpx2.AsyncClient`` loop used 1.2-1.4 ms of client CPU per request, an ``aiohttp`` loop
0.14-0.29 ms (C HTTP parser, a light connection pool) and ran 3.5-5.6x the requests per second.
See ``docs/design/api-transport.md``.

One attempt per call: the executor owns retries. A failure to get a response is a
``TransientError`` (timed out, connection failed) whose message never holds a key or a URL's
credentials; an HTTP error status is returned to the backend, which knows its error body.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any, Iterable, Mapping
from urllib.parse import unquote, urlsplit, urlunsplit

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from silspec.run.backends._http import redact
from silspec.run.backends.base import PermanentError, TransientError


# one encoder for every body: ``json.dumps`` with options builds a new encoder per call
_BODY_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def encode_json(body: Any) -> bytes:
    """A request body as compact UTF-8 JSON (what httpx's ``json=`` sends)."""
    return _BODY_ENCODER.encode(body).encode("utf-8")


class WireResponse:
    """Status, headers and the whole body of one response (read before the connection is reused)."""

    __slots__ = ("status", "headers", "content")

    def __init__(self, status: int, headers: Mapping[str, str], content: bytes):
        self.status = status
        self.headers = headers
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


class WireClient:
    """POST JSON to one endpoint family with a kept-alive connection pool.

    The ``aiohttp`` session is made on first use, inside the running event loop (a backend is
    built before the loop starts in tests and notebooks), and closed by ``aclose``. Credentials
    in the URL (``http://user:pass@host``) become HTTP basic auth and replace the bearer header,
    as httpx (the SDK's client) does. Environment proxies (``HTTP_PROXY``, ``NO_PROXY``, ...) are
    honoured as httpx honours them: read once per endpoint when the backend is built, not per
    request (aiohttp's ``trust_env`` looks them and ``~/.netrc`` up in a thread on every call).
    """

    def __init__(self, *, where: str, timeout_s: float, max_connections: int,
                 secrets: Iterable[str | None] = ()):
        self.where = where
        self.timeout_s = timeout_s
        self.max_connections = max(int(max_connections), 1)
        self._secrets = tuple(s for s in secrets if s)
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, tuple[URL, aiohttp.BasicAuth | None]] = {}
        self._ssl: ssl.SSLContext | bool = True  # aiohttp's default until an https endpoint is named
        self._loop: asyncio.AbstractEventLoop | None = None

    def endpoint(self, url: str) -> tuple[str, aiohttp.BasicAuth | None]:
        """(URL without credentials, basic auth from them or None); its proxy noted for ``post``."""
        bare, auth = _split_credentials(url)
        if bare.startswith("https:") and self._ssl is True:
            self._ssl = _ssl_context()
        try:
            self._proxies[bare] = get_env_proxy_for_url(URL(bare))
        except (LookupError, ValueError):
            pass  # no proxy for this host (none set, or NO_PROXY names it)
        return bare, auth

    def _open(self) -> aiohttp.ClientSession:
        self._loop = asyncio.get_running_loop()
        connector = aiohttp.TCPConnector(limit=self.max_connections, ttl_dns_cache=300, ssl=self._ssl)
        return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=self.timeout_s))

    async def post(self, url: str, body: bytes, headers: Mapping[str, str],
                   auth: aiohttp.BasicAuth | None = None) -> WireResponse:
        """One POST; its response, whatever the status. Transport failures are ``TransientError``."""
        session = self._session
        if session is None or session.closed or self._loop is not asyncio.get_running_loop():
            # (a backend used again under a new event loop: the old session died with its loop)
            session = self._session = self._open()
        proxy, proxy_auth = self._proxies.get(url, (None, None))
        try:
            async with session.post(url, data=body, headers=headers, auth=auth, proxy=proxy,
                                    proxy_auth=proxy_auth) as response:
                content = await response.read()
                return WireResponse(response.status, response.headers, content)
        except asyncio.TimeoutError:
            raise TransientError(f"{self.where}: timed out after {self.timeout_s:g} s") from None
        except (aiohttp.ClientError, OSError) as exc:
            detail = redact(f"{type(exc).__name__}: {exc}", self._secrets)
            raise TransientError(f"{self.where}: connection failed ({detail})") from None
        except ValueError as exc:  # aiohttp refuses a header or URL it cannot send
            detail = redact(f"{type(exc).__name__}: {exc}", self._secrets)
            raise PermanentError(f"{self.where}: the request cannot be sent ({detail})") from None

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed and self._loop is asyncio.get_running_loop():
            await session.close()


def _ssl_context() -> ssl.SSLContext | bool:
    """The certificate store the SDK's client used (httpcore2's: the system's, ``SSL_CERT_FILE`` /
    ``SSL_CERT_DIR``, truststore on Windows and macOS), else aiohttp's default."""
    try:
        from httpcore2 import default_ssl_context
    except ImportError:
        return True
    return default_ssl_context()


def _split_credentials(url: str) -> tuple[str, aiohttp.BasicAuth | None]:
    """(URL without credentials, basic auth from them or None)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    auth = aiohttp.BasicAuth(unquote(parts.username or ""), unquote(parts.password or ""))
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), auth
