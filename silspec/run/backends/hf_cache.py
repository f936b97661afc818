"""A bounded LRU of prompt-prefix key/value states for the ``hf`` backend.

Persona prompts share long prefixes across items (system prompt + persona paragraph), but the
executor hands requests in plan order (condition → item → persona): the items of one persona
arrive in different batches, one item apart. So a prefix's key/value state is kept between
batches, keyed by its exact token ids, and a later prompt that starts with those ids only
encodes the rest. Keys are token ids, never text, so a reused state is exactly the state of
the prompt's own first tokens (attention is causal: a token's keys and values depend only on
the tokens before it).

Bounded by bytes: the least recently used prefixes are dropped first; a prefix larger than
the whole budget is never stored. Size it to hold every persona of a condition (about
``layers × 2 × kv_heads × head_dim × dtype bytes`` per token: 46 KB per token for SmolLM2-135M
in float32), else plan order cycles through more prefixes than fit and the LRU keeps none.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from typing import Any, Sequence

DEFAULT_MAX_MB = 512
MIN_PREFIX_TOKENS = 8  # shorter prefixes save less than storing and assembling them costs


class PrefixKVCache:
    """token-id prefix → key/value tensor ``[layers, 2, kv_heads, length, head_dim]``."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max(0, int(max_bytes))
        self._entries: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self._lengths: Counter[int] = Counter()  # stored prefix lengths, for longest-match lookup
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.stored = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, ids: Sequence[int]) -> tuple[int, Any] | None:
        """(length, state) of the longest stored prefix of ``ids`` shorter than ``ids`` (at
        least one token is left to encode, whose logits are read); None when none is stored."""
        for length in sorted(self._lengths, reverse=True):
            if length >= len(ids):
                continue
            key = tuple(ids[:length])
            state = self._entries.get(key)
            if state is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return length, state
        self.misses += 1
        return None

    def __contains__(self, ids: Sequence[int]) -> bool:
        return tuple(ids) in self._entries

    def store(self, ids: Sequence[int], state: Any) -> bool:
        """Keep ``state`` (the key/value state of exactly ``ids``), evicting the least recently
        used prefixes to stay within ``max_bytes``; False when it cannot fit at all."""
        key = tuple(ids)
        if key in self._entries:
            self._entries.move_to_end(key)
            return True
        size = int(state.element_size() * state.nelement())
        if len(key) < MIN_PREFIX_TOKENS or size > self.max_bytes:
            return False
        while self._entries and self.bytes + size > self.max_bytes:
            old_key, old_state = self._entries.popitem(last=False)
            self._forget(old_key, old_state)
            self.evicted += 1
        self._entries[key] = state
        self._lengths[len(key)] += 1
        self.bytes += size
        self.stored += 1
        return True

    def _forget(self, key: tuple[int, ...], state: Any) -> None:
        self.bytes -= int(state.element_size() * state.nelement())
        self._lengths[len(key)] -= 1
        if not self._lengths[len(key)]:
            del self._lengths[len(key)]

    def clear(self) -> None:
        """Drop every state and zero the counters."""
        self._entries.clear()
        self._lengths.clear()
        self.bytes = self.hits = self.misses = self.stored = self.evicted = 0

    def stats(self) -> dict[str, int]:
        return {"entries": len(self._entries), "bytes": self.bytes, "hits": self.hits,
                "misses": self.misses, "stored": self.stored, "evicted": self.evicted}
