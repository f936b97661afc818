"""Full-string option probabilities through an OpenAI-compatible server's *prompt* log-probabilities.

A server that reads first tokens only cannot tell "1" from "10". vLLM can score text it is given:
with ``prompt_logprobs = 0`` it returns the log-probability of every prompt token, and with
``continue_final_message`` it leaves a final assistant message open, so the prompt ends right
after the option and the one generated token's ``top_logprobs`` are the next-token distribution
there. For one request with options o_1..o_n this module sends n + 1 calls:

- the plain generation prompt (``add_generation_prompt``), for the prompt's own tokens;
- per option, the same messages plus ``{"role": "assistant", "content": o}``, left open.

The option's tokens are the option call's prompt tokens past the plain prompt's (the two must
agree on that prefix, token by token, or the request fails with the reason). Its probability is
exp(sum of their log-probabilities) times the end-of-answer mass: the ``top_logprobs`` of the
next token that do not continue the label (``tokens.continues_label``: not a letter or digit),
the same end rule as the ``hf`` backend, read from the top k the server returns (a lower bound,
as first-token ``top_logprobs`` are). Only the bare label is scored (``"10"``, not ``" 10"``).
Turned on per model by ``prompt_logprobs = true``; lint SIL821 asks for it where it is needed.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, Awaitable, Callable, Sequence

from silspec.plan.model import Request
from silspec.run.backends.base import BackendAnswer, PermanentError, TransientError
from silspec.run.backends.tokens import continues_label

Create = Callable[..., Awaitable[Any]]
OPTION_RULE = "full_string_prompt_logprobs"


def option_call(kwargs: dict[str, Any], option: str | None) -> dict[str, Any]:
    """The keyword arguments of one call: the plain prompt (``option`` None) or the prompt with
    the option as an open assistant message; both ask for the prompt's log-probabilities."""
    call = dict(kwargs)
    extra = dict(call.get("extra_body") or {})
    extra["prompt_logprobs"] = 0
    if option is not None:
        call["messages"] = [*kwargs["messages"], {"role": "assistant", "content": option}]
        extra.update(add_generation_prompt=False, continue_final_message=True)
    call["extra_body"] = extra
    return call


def prompt_tokens_of(completion: Any, what: str) -> list[tuple[str, float]]:
    """(decoded token, log-probability) of each prompt token after the first (vLLM's format:
    a list of None or ``{token_id: {"logprob", "rank", "decoded_token"}}``, one entry each)."""
    raw = getattr(completion, "prompt_logprobs", None)
    if raw is None:
        extra = getattr(completion, "model_extra", None) or {}
        raw = extra.get("prompt_logprobs")
    if not isinstance(raw, list) or not raw:
        raise PermanentError(
            f"{what}: the endpoint returned no prompt log-probabilities; `prompt_logprobs = true` needs a "
            "server that returns them (vLLM)"
        )
    tokens = []
    for position, entry in enumerate(raw[1:], start=1):
        if not isinstance(entry, dict) or len(entry) != 1:
            raise TransientError(
                f"{what}: prompt log-probabilities at position {position} are not one token's "
                f"(got {type(entry).__name__} with {len(entry) if isinstance(entry, dict) else 0} entries)"
            )
        (value,) = entry.values()
        if not isinstance(value, dict) or not isinstance(value.get("logprob"), (int, float)):
            raise TransientError(f"{what}: malformed prompt log-probability at position {position}: {value!r}")
        tokens.append((str(value.get("decoded_token", "")), float(value["logprob"])))
    return tokens


def end_mass(completion: Any) -> float:
    """Probability that the answer ends here: next-token candidates that do not continue the label."""
    content = getattr(getattr(completion.choices[0], "logprobs", None), "content", None) or []
    if not content:
        return 0.0
    first = content[0]
    candidates = [(t.token, t.logprob) for t in (first.top_logprobs or [])] or [(first.token, first.logprob)]
    return math.fsum(math.exp(logprob) for token, logprob in candidates if not continues_label(token))


async def score_options(create: Create, kwargs: dict[str, Any], request: Request, where: str) -> BackendAnswer:
    """n + 1 calls (see the module docstring) -> one ``BackendAnswer`` with full-string option
    probabilities. ``create`` is the client's ``chat.completions.create``; its errors propagate."""
    options: Sequence[str] = [token.strip() for token in request.option_tokens]
    calls = [option_call(kwargs, None)] + [option_call(kwargs, option) for option in options]
    completions = await asyncio.gather(*(create(**call) for call in calls))
    base, per_option = completions[0], completions[1:]
    prefix = prompt_tokens_of(base, where)
    masses = []
    for option, completion in zip(options, per_option):
        tokens = prompt_tokens_of(completion, where)
        if len(tokens) <= len(prefix) or [t for t, _ in tokens[: len(prefix)]] != [t for t, _ in prefix]:
            raise PermanentError(
                f"{where}: the prompt with option {option!r} appended is not the plain prompt followed by the "
                "option's tokens (the chat template renders an open assistant message differently from its "
                "generation prompt), so the option cannot be scored from prompt log-probabilities"
            )
        option_logprob = math.fsum(logprob for _, logprob in tokens[len(prefix):])
        masses.append(math.exp(option_logprob) * end_mass(completion))
    valid_mass = math.fsum(masses)
    meta: dict[str, Any] = {
        "option_rule": OPTION_RULE,
        "calls": len(calls),
        "finish_reason": base.choices[0].finish_reason,
    }
    option_probs = None
    if valid_mass > 0:
        option_probs = {code: mass / valid_mass for code, mass in zip(request.option_codes, masses)}
    else:
        meta["note"] = "no probability on any option string"
    usages = [getattr(c, "usage", None) for c in completions]
    return BackendAnswer(
        text=base.choices[0].message.content,
        option_probs=option_probs,
        valid_mass=min(valid_mass, 1.0),
        provider_model=getattr(base, "model", None),
        system_fingerprint=getattr(base, "system_fingerprint", None),
        prompt_tokens=sum(int(getattr(u, "prompt_tokens", 0) or 0) for u in usages),
        completion_tokens=sum(int(getattr(u, "completion_tokens", 0) or 0) for u in usages),
        meta=meta,
    )
