"""Canonical JSON and content hashes, defined once for specs, plans, stores and lock files.

Canonical JSON: UTF-8, keys sorted, no whitespace, ``ensure_ascii=False`` (Korean stays
readable and hashes the same everywhere), floats as Python's shortest repr. A leaf below the
checker (file hashes, finetune config hashes) and the plan (request ids, plan hashes), which
re-exports these from ``silspec.plan.hashing``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
