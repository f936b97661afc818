"""Request ids and plan hashes, over the canonical JSON of ``silspec.spec.hashing``.

``canonical_json``, ``sha256_text`` and ``sha256_file`` live in ``silspec.spec.hashing`` (the
checker hashes files and finetune configs below the plan) and are re-exported here.
"""

from __future__ import annotations

import hashlib
from json.encoder import encode_basestring as encode_string  # = json.dumps(str, ensure_ascii=False)
from typing import Any, Iterable

from silspec.spec.hashing import canonical_json, sha256_file, sha256_text  # noqa: F401  (re-exported)


def messages_hash(messages: Iterable[Any]) -> str:
    """Hash of the rendered prompt alone (role + content of each message).

    The canonical JSON of ``[[role, content], ...]`` is assembled from its strings (the bytes
    ``canonical_json`` gives, a test holds them equal): the runner hashes every stored answer's
    prompt, and ``json.dumps`` with ``sort_keys`` builds an encoder per call.
    """
    pairs = [(m.role, m.content) for m in messages]
    if all(type(role) is str and type(content) is str for role, content in pairs):
        text = "[" + ",".join("[" + encode_string(role) + "," + encode_string(content) + "]"
                              for role, content in pairs) + "]"
        return sha256_text(text)
    return sha256_text(canonical_json([list(pair) for pair in pairs]))


def request_id(
    *,
    backend: str,
    model_id: str,
    params: dict[str, Any],
    answers: str,
    option_codes: Iterable[int],
    option_tokens: Iterable[str],
    messages: Iterable[Any],
    replicate: int,
    seed: int | None,
    key: Iterable[str | None] = (),
) -> str:
    """What changes the answer, and nothing else (not base URL, concurrency, parser, ...).

    ``key`` = (condition, item, persona): two personas whose prompts render identically are
    still two independent draws, and each answer belongs to one condition, so the request's
    coordinates are part of its identity. Transport settings still never are.
    """
    payload = {
        "key": list(key),
        "backend": backend,
        "model": model_id,
        "params": params,
        "answers": answers,
        "codes": list(option_codes),
        "tokens": list(option_tokens),
        "messages": [[m.role, m.content] for m in messages],
        "replicate": replicate,
        "seed": seed,
    }
    return sha256_text(canonical_json(payload))


def plan_hash(request_ids: Iterable[str]) -> str:
    hasher = PlanHasher()
    for rid in request_ids:
        hasher.add(rid)
    return hasher.hexdigest()


class PlanHasher:
    """``plan_hash`` one id at a time, for streams that must not keep every id."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()

    def add(self, request_id: str) -> None:
        self._digest.update(request_id.encode("ascii") + b"\n")

    def hexdigest(self) -> str:
        return self._digest.hexdigest()
