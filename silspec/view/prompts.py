"""Prompt hash -> the rendered messages, by recompiling the run's bundled spec.

The store keeps a prompt hash per answer, not the prompt (a million answers would repeat a few
thousand prompts). The plan renders them again from the bundled spec and the recorded header,
one condition at a time and only when a page asks; a rendered prompt is trusted only when its
hash is the stored one, so the page never shows a prompt the model was not sent.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from attrs import evolve

from silspec.plan.compile import iter_requests
from silspec.view import rundir

# A condition of up to this many requests keeps every prompt once rendered; above it only the
# prompts asked for are kept (a 720,000-request condition would hold its whole plan in memory).
KEEP_ALL_UP_TO = 50_000


class PromptIndex:
    """Renders and caches prompts of one run directory (thread-safe)."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self._lock = threading.Lock()
        self._spec: Any = None
        self._header: Any = None
        self._failure: str | None = None
        self._by_hash: dict[str, list[dict[str, str]]] = {}
        self._complete: set[str] = set()  # conditions whose every prompt is cached

    def messages(self, condition: str, prompt_hash: str) -> tuple[list[dict[str, str]] | None, str]:
        """(messages, why not) for a stored answer's condition and prompt hash."""
        with self._lock:
            if prompt_hash in self._by_hash:
                return self._by_hash[prompt_hash], ""
            if not self._load():
                return None, self._failure or "the bundled spec could not be loaded"
            if condition not in self._header.conditions:
                return None, f"the latest plan of this run has no condition {condition!r}"
            if condition in self._complete:
                return None, "no request of the bundled plan renders this prompt (was the spec changed between runs?)"
            return self._render(condition, prompt_hash)

    def _load(self) -> bool:
        if self._spec is not None:
            return True
        if self._failure is not None:
            return False
        try:
            self._header = rundir.typed_plan_header(self.run_dir)
            self._spec = rundir.load_bundled_spec(self.run_dir)
        except Exception as error:  # noqa: BLE001 - shown on the page as the reason
            self._failure = f"the bundled spec could not be loaded: {error}"
            return False
        return True

    def _render(self, condition: str, prompt_hash: str) -> tuple[list[dict[str, str]] | None, str]:
        header = evolve(self._header, conditions={condition: self._header.conditions[condition]})
        keep_all = self._header.conditions[condition].n_requests <= KEEP_ALL_UP_TO
        found = None
        try:
            for request in iter_requests(self._spec, header):
                current = request.prompt_hash
                if keep_all or current == prompt_hash:
                    self._by_hash.setdefault(current, [{"role": m.role, "content": m.content}
                                                        for m in request.messages])
                if current == prompt_hash:
                    found = self._by_hash[current]
                    if not keep_all:
                        break
        except Exception as error:  # noqa: BLE001 - a plan that does not compile here
            return None, f"the bundled plan does not compile here: {error}"
        if keep_all:
            self._complete.add(condition)
        if found is None:
            return None, "no request of the bundled plan renders this prompt (was the spec changed between runs?)"
        return found, ""
