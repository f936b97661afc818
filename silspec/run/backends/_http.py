"""Helpers the HTTP backends share: classify a status, parse ``Retry-After``, keep keys out.

One attempt per call; the executor owns retries. The classification is the contract the
executor relies on: 408/409/425/429/5xx are transient, other 4xx permanent.
"""

from __future__ import annotations

import email.utils
import time
from typing import Iterable, Mapping

from silspec.plan.redact import mask_url_credentials
from silspec.run.backends.base import BackendError, PermanentError, TransientError

TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})


def is_transient_status(status: int) -> bool:
    return status in TRANSIENT_STATUSES or status >= 500


def parse_retry_after(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` (OpenAI), or ``Retry-After`` in seconds or as an
    HTTP date; None when absent or unreadable. Never negative."""
    if not headers:
        return None
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis:
        try:
            return max(float(millis) / 1000.0, 0.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every secret (and any 8+ character tail of it) in ``text`` with ``***``; the
    credentials of any URL in ``text`` too."""
    text = mask_url_credentials(text) or ""
    for secret in secrets:
        if not secret:
            continue
        text = text.replace(secret, "***")
        if len(secret) >= 16:  # providers often echo a shortened key: "sk-abc...wxyz"
            text = text.replace(secret[-8:], "***").replace(secret[:8], "***")
    return text


def error_for_status(
    status: int,
    message: str,
    headers: Mapping[str, str] | None,
    *,
    secrets: Iterable[str | None] = (),
    what: str = "request",
) -> BackendError:
    """The backend error for an HTTP error status (message redacted)."""
    text = redact(f"{what} failed with HTTP {status}: {message}".strip(), secrets)
    if is_transient_status(status):
        return TransientError(text, retry_after=parse_retry_after(headers), status=status)
    return PermanentError(text, status=status)


def missing_key_error(variable: str | None, model_name: str) -> PermanentError:
    if not variable:
        return PermanentError(f"model {model_name!r} names no api_key variable")
    return PermanentError(
        f"environment variable {variable} is not set (the API key for model {model_name!r})"
    )
