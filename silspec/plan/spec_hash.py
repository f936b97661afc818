"""The spec hash: one definition, used by plans, run manifests, ``freeze`` and ``verify``.

``spec_hash(spec)`` = sha256 of the canonical JSON of::

    {"format": "silspec-spec/1",
     "spec":   the checked Spec, unstructured (spans, absolute paths, the spec tree's
               location and the --set list removed: overridden values are already in it;
               the spec's own file name removed: renaming a spec keeps its lock; a model's
               transport settings removed: base_url, api_key_env, concurrency, delay_s, rpm,
               tpm, retries, backoff, timeout_s and the price options, the same things
               request ids leave out),
     "files":  {relative path: sha256} of every referenced file,
     "text":   sha256 of canonical_text, or null}

So formatting and comments never change it (the Spec has none), moving or renaming the spec
never changes it, a transport ``--set`` (concurrency, base URL) never changes it, and editing
a referenced data file or an answer-changing value (temperature) always does. External inputs
(microdata) contribute their env-var name and declared sha256, not their local path.
Fields marked ``omit_if_default`` (added to the Spec after locks existed) are left out while
they hold their default, so a spec that does not use them keeps its hash.
Maps with non-string keys (codes, conditioning tuples) are written as sorted
``[key, value]`` pairs so the JSON stays canonical.
"""

from __future__ import annotations

from typing import Any

import attrs

from silspec.plan.hashing import canonical_json, sha256_text
from silspec.spec.model import Model, Spec

_DROPPED_FIELDS = frozenset({"span", "absolute", "root", "overrides", "files"})
# The spec's own file name: renaming a spec keeps its lock (the lock records the path itself).
_DROPPED_SPEC_FIELDS = frozenset({"path"})
# How a model is reached, not what it answers: exactly what request ids leave out, so a run
# with `--set model.x.concurrency=5` still verifies against the lock.
TRANSPORT_MODEL_FIELDS = frozenset({
    "base_url", "api_key_env", "concurrency", "delay_s", "rpm", "tpm", "retries", "backoff", "timeout_s",
})
TRANSPORT_MODEL_OPTIONS = frozenset({"price_input_per_mtok", "price_output_per_mtok", "prefix_cache_mb"})  # + a cache size: changes speed, not answers


def spec_hash(spec: Spec, canonical_text: str | None = None) -> str:
    payload = {
        "format": "silspec-spec/1",
        "spec": canonical_spec(spec),
        "files": {ref.path: ref.sha256 for ref in sorted(spec.files, key=lambda r: r.path)},
        "text": None if canonical_text is None else sha256_text(canonical_text),
    }
    return sha256_text(canonical_json(payload))


def canonical_spec(spec: Spec) -> Any:
    """The Spec as plain JSON-able data, location-independent (see the module docstring)."""
    return _plain(spec)


def _default(field: Any) -> Any:
    default = field.default
    return default.factory() if isinstance(default, attrs.Factory) else default  # type: ignore[attr-defined]


def _plain(value: Any) -> Any:
    if attrs.has(type(value)):
        out = {}
        kind = type(value)
        for field in attrs.fields(kind):
            if field.name in _DROPPED_FIELDS:
                continue
            if kind is Spec and field.name in _DROPPED_SPEC_FIELDS:
                continue
            if kind is Model and field.name in TRANSPORT_MODEL_FIELDS:
                continue
            if field.name == "path" and type(value).__name__ == "ExternalRef":
                continue  # a machine-local path, not part of what the spec says
            item = getattr(value, field.name)
            if field.metadata.get("omit_if_default") and item == _default(field):
                continue  # a field added later: specs that do not use it keep their hash
            if kind is Model and field.name == "options":
                item = {k: val for k, val in item.items() if k not in TRANSPORT_MODEL_OPTIONS}
            out[field.name] = _plain(item)
        return out
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {k: _plain(v) for k, v in value.items()}
        pairs = [[_plain(k), _plain(v)] for k, v in value.items()]
        return sorted(pairs, key=lambda pair: canonical_json(pair[0]))
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v) for v in value), key=canonical_json)
    return value
