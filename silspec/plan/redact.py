"""Credentials written into a URL (``http://user:secret@host/v1``) are masked wherever a URL is
stored or shown, like API keys: plan JSON, ``plan_header.json``, run manifests, progress,
errors and reports all see ``http://***@host/v1``.

Why here (plan): the plan's serialisation is the first place a model's ``base_url`` is written
out, and everything downstream (run, report, cli) may import from plan. Masking never changes a
plan hash or a request id: ``base_url`` is transport, left out of both.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MASK = "***"
# scheme://userinfo@ where userinfo has no '/', '@' or whitespace (RFC 3986 userinfo).
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s'\"]+)@")


def mask_url_credentials(text: str | None) -> str | None:
    """``text`` with the user and password of every URL in it replaced by ``***``."""
    if not text or "@" not in text:
        return text
    return _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)


def url_secrets(url: str | None) -> tuple[str, ...]:
    """The secret parts of ``url`` (password, ``user:password``, user) for redacting free text
    (an error message that quotes the host with its credentials in another form)."""
    if not url or "@" not in url:
        return ()
    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:
        return ()
    found = []
    if password:
        found.append(password)
        if user:
            found.append(f"{user}:{password}")
    if user:
        found.append(user)
    return tuple(s for s in found if len(s) >= 4)
