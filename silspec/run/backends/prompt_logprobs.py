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
from silspec.run.backends.base import BackendAnswer, PermanentError, ReplyError, TransientError
from silspec.run.backends.tokens import continues_label

Post = Callable[[dict[str, Any]], Awaitable[Any]]
OPTION_RULE = "full_string_prompt_logprobs"


def option_call(body: dict[str, Any], option: str | None) -> dict[str, Any]:
    """The JSON body of one call: the plain prompt (``option`` None) or the prompt with the option
    as an open assistant message; both ask for the prompt's log-probabilities."""
    call = dict(body)
    call["prompt_logprobs"] = 0
    if option is not None:
        call["messages"] = [*body["messages"], {"role": "assistant", "content": option}]
        call.update(add_generation_prompt=False, continue_final_message=True)
    return call


def prompt_tokens_of(completion: Any, what: str) -> list[tuple[str, float]]:
    """(decoded token, log-probability) of each prompt token after the first (vLLM's format:
    a list of None or ``{token_id: {"logprob", "rank", "decoded_token"}}``, one entry each)."""
    raw = completion.get("prompt_logprobs") if isinstance(completion, dict) else None
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


def first_choice(completion: Any, what: str) -> dict[str, Any]:
    """``choices[0]`` of a decoded reply, or a ``ReplyError`` naming what is wrong."""
    choices = completion.get("choices") if isinstance(completion, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ReplyError(f"{what}: malformed reply (no choices[0] object)", reason="malformed reply")
    return choices[0]


def end_mass(completion: Any, what: str = "reply") -> float:
    """Probability that the answer ends here: next-token candidates that do not continue the label."""
    logprobs = first_choice(completion, what).get("logprobs")
    content = (logprobs.get("content") if isinstance(logprobs, dict) else None) or []
    if not content:
        return 0.0
    first = content[0]
    entries = (first.get("top_logprobs") if isinstance(first, dict) else None) or [first]
    candidates = []
    for entry in entries:
        token = entry.get("token") if isinstance(entry, dict) else None
        logprob = entry.get("logprob") if isinstance(entry, dict) else None
        if not isinstance(token, str) or isinstance(logprob, bool) or not isinstance(logprob, (int, float)):
            raise ReplyError(f"{what}: malformed reply (a top_logprobs entry is not a token and a number)",
                             reason="malformed reply")
        candidates.append((token, float(logprob)))
    return math.fsum(math.exp(logprob) for token, logprob in candidates if not continues_label(token))


async def score_options(post: Post, body: dict[str, Any], request: Request, where: str) -> BackendAnswer:
    """n + 1 calls (see the module docstring) -> one ``BackendAnswer`` with full-string option
    probabilities. ``post`` sends one JSON body and returns the decoded reply; its errors propagate."""
    options: Sequence[str] = [token.strip() for token in request.option_tokens]
    calls = [option_call(body, None)] + [option_call(body, option) for option in options]
    completions = await asyncio.gather(*(post(call) for call in calls))
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
        masses.append(math.exp(option_logprob) * end_mass(completion, where))
    valid_mass = math.fsum(masses)
    choice = first_choice(base, where)
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    meta: dict[str, Any] = {
        "option_rule": OPTION_RULE,
        "calls": len(calls),
        "finish_reason": _str_or_none(choice.get("finish_reason")),
    }
    option_probs = None
    if valid_mass > 0:
        option_probs = {code: mass / valid_mass for code, mass in zip(request.option_codes, masses)}
    else:
        meta["note"] = "no probability on any option string"
    usages = [c.get("usage") if isinstance(c.get("usage"), dict) else {} for c in completions]
    return BackendAnswer(
        text=_str_or_none(message.get("content")),
        option_probs=option_probs,
        valid_mass=min(valid_mass, 1.0),
        provider_model=_str_or_none(base.get("model")),
        system_fingerprint=_str_or_none(base.get("system_fingerprint")),
        prompt_tokens=sum(_count(u.get("prompt_tokens")) for u in usages),
        completion_tokens=sum(_count(u.get("completion_tokens")) for u in usages),
        meta=meta,
    )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
