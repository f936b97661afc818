"""The spec hash: one definition, used by plans, run manifests, ``freeze`` and ``verify``.

``spec_hash(spec)`` = sha256 of the canonical JSON of::

    {"format": "silspec-spec/1",
     "spec":   the checked Spec, unstructured (spans, absolute paths, the spec tree's
               location and the --set list removed: overridden values are already in it),
     "files":  {relative path: sha256} of every referenced file,
     "text":   sha256 of canonical_text, or null}

So formatting and comments never change it (the Spec has none), moving the project folder
never changes it, and editing a referenced data file always does. External inputs
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
from silspec.spec.model import Spec

_DROPPED_FIELDS = frozenset({"span", "absolute", "root", "overrides", "files"})


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
        for field in attrs.fields(type(value)):
            if field.name in _DROPPED_FIELDS:
                continue
            if field.name == "path" and type(value).__name__ == "ExternalRef":
                continue  # a machine-local path, not part of what the spec says
            item = getattr(value, field.name)
            if field.metadata.get("omit_if_default") and item == _default(field):
                continue  # a field added later: specs that do not use it keep their hash
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
