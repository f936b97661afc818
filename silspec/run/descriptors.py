"""Descriptor tables written by a model (the value-persona paper's §B.2): `silspec descriptors`.

For each (item, code) of a `descriptors` block's items, the model declared in the spec is asked,
through its backend (hf, openai, vllm, a plugin), for the one-sentence persona snippet of that
answer, with one of the paper's three generator instructions (Table 3, verbatim). The result is
a reviewable CSV (`item,code,label,text,note`) that the spec then names in `values = table(...)`,
and a sidecar `<table>.meta.json` with the model, its parameters, the instruction and the exact
prompt of every row, so the table is a data file like any other: `silspec freeze` hashes both
(the checker picks the sidecar up beside the table), and nothing regenerates it silently (an
existing table is never overwritten without ``force``).

A reply is taken as written (first non-empty line, surrounding quotes removed); a reply that
does not start with "You" (the paper's instruction) or is empty is kept and flagged in `note`,
and a request that fails is a row with no text and the error in `note`: the table is marked
incomplete and the command exits non-zero, never filling a gap.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import os
from typing import Any, Mapping, Sequence

from attrs import frozen

from silspec.plan.compile import plan_model
from silspec.plan.hashing import request_id
from silspec.plan.model import Message, Request
from silspec.plan.redact import url_secrets
from silspec.run.backends.base import BackendError, TransientError
from silspec.run.backends.registry import get_backend
from silspec.run.executor import Redactor
from silspec.spec.model import Item, Spec

# Table 3 of the paper, verbatim.
INSTRUCTIONS: dict[str, str] = {
    "composable": (
        "For every response option, craft a one-sentence persona snippet starting with “You.” Each snippet "
        "should nudge an LLM toward giving that specific answer while suppressing broader inferences the model "
        "might otherwise make. The snippets must be self-contained and composable—mixing and matching one per "
        "question should produce a coherent, accurate persona."
    ),
    "modular": (
        "For each possible response, provide a short sentence describing the person who gave that answer. The "
        "descriptions should be modular, such that one descriptor per question can be combined into a coherent "
        "role-play persona. Each descriptor should trigger the target response while hedging against broader "
        "associations the LLM might naturally infer. For example, opposition to homosexuality should not "
        "necessarily imply broader conservative views, and reporting that one has voted should not necessarily "
        "imply strong political engagement. Start each descriptor with “You.”"
    ),
    "no_hedge": (
        "For each possible response, provide a short sentence describing the person who gave that answer. The "
        "descriptions should be composable, such that one descriptor per question can be combined into a "
        "coherent role-play persona. Each descriptor should trigger the target response. Start each descriptor "
        "with “You.”"
    ),
}

# Ours (the paper does not print its user message): the question, its whole scale, the one
# response to describe, and the reply format.
USER_TEMPLATE = (
    "Question: {question}\n\nResponse options: {scale}\n\n"
    "Write the snippet for this response: {code} = {label}\n\nReply with that one sentence only."
)
COLUMNS = ("item", "code", "label", "text", "note")
RETRIES = 3


class DescriptorsError(Exception):
    """The command cannot start (unknown block or model, table exists, nothing to describe)."""


@frozen
class Row:
    item: str
    code: int
    label: str
    text: str
    note: str
    prompt: tuple[Message, ...]


def sidecar_path(table: str) -> str:
    """``data/x.csv`` -> ``data/x.meta.json``: where a table's provenance lives."""
    return os.path.splitext(table)[0] + ".meta.json"


def code_label(item: Item, code: int) -> str:
    label = item.scale.label(code)
    if label == str(code) or not label:
        if code == item.scale.codes[0] and item.scale.low_label:
            return item.scale.low_label
        if code == item.scale.codes[-1] and item.scale.high_label:
            return item.scale.high_label
    return label


def user_message(item: Item, code: int) -> str:
    scale = ", ".join(f"{c}={code_label(item, c)}" for c in item.scale.codes)
    return USER_TEMPLATE.format(question=item.text, scale=scale, code=code, label=code_label(item, code))


def build_requests(spec: Spec, descriptors: str, model: str, instruction: str) -> list[Request]:
    """One sampled request per (item, code) of the block's items, in item then code order."""
    block = spec.descriptors.get(descriptors)
    if block is None:
        raise DescriptorsError(f"the spec has no `descriptors {descriptors}` block"
                               + (f" (it has {', '.join(spec.descriptors)})" if spec.descriptors else ""))
    if not block.items:
        raise DescriptorsError(f"`descriptors {descriptors}` names no `items = survey.*`: "
                               "the question and scale of each item are what the model is shown")
    if model not in spec.models:
        raise DescriptorsError(f"the spec has no `model {model}` (it has {', '.join(spec.models) or 'none'})")
    system = INSTRUCTIONS.get(instruction)
    if system is None:
        raise DescriptorsError(f"unknown instruction {instruction!r}: one of {', '.join(INSTRUCTIONS)}")
    pm = plan_model(spec.models[model], spec)
    out = []
    for item_id in block.items:
        item = spec.item(item_id)
        for code in item.scale.codes:
            messages = (Message("system", system), Message("user", user_message(item, code)))
            rid = request_id(backend=pm.backend, model_id=pm.model_id, params=pm.params, answers="sampled",
                             option_codes=(), option_tokens=(), messages=messages, replicate=0,
                             seed=spec.study.seed, key=("descriptors", item.code, str(code)))
            out.append(Request(id=rid, condition=f"descriptors:{descriptors}", model=model, item=item_id,
                               persona=str(code), replicate=0, answers="sampled", messages=messages,
                               option_codes=(), option_tokens=(), seed=spec.study.seed))
    return out


def clean_reply(text: str | None) -> tuple[str, str]:
    """(sentence, note): the first non-empty line without wrapping quotes; a note when it is
    empty or does not start with "You" as the instruction asks."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    sentence = lines[0].strip().strip('"“”\'') if lines else ""
    if not sentence:
        return "", "empty reply"
    if not sentence.startswith("You"):
        return sentence, "does not start with 'You'"
    return sentence, ""


async def _ask_all(backend: Any, requests: Sequence[Request]) -> list[tuple[str | None, str | None]]:
    """(text, error) per request, in order; transient failures retried a few times."""
    out: list[tuple[str | None, str | None]] = []
    try:
        for request in requests:
            out.append(await _ask(backend, request))
    finally:
        await backend.aclose()
    return out


async def _ask(backend: Any, request: Request) -> tuple[str | None, str | None]:
    error = "no answer"
    for attempt in range(RETRIES + 1):
        try:
            answer = await backend.answer(request)
            return answer.text, None
        except TransientError as exc:
            error = f"{type(exc).__name__}: {exc}"
            if attempt < RETRIES:
                await asyncio.sleep(min(0.1 * 2.0 ** attempt, 2.0))
        except BackendError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a backend bug: recorded on the row, as the executor records it
            return None, f"{type(exc).__name__}: {exc}"
    return None, error


def generate(spec: Spec, *, descriptors: str, model: str, instruction: str, out: str,
             force: bool = False, env: Mapping[str, str] | None = None) -> list[Row]:
    """Ask the model for every (item, code), write the table and its sidecar; the rows."""
    table_path = out if os.path.isabs(out) else os.path.join(spec.root, out)
    for path in (table_path, sidecar_path(table_path)):
        if os.path.exists(path) and not force:
            raise DescriptorsError(f"{os.path.relpath(path, spec.root)} exists: descriptor tables are never "
                                   "regenerated silently; pass --force to overwrite it (re-freeze the spec after)")
    requests = build_requests(spec, descriptors, model, instruction)
    pm = plan_model(spec.models[model], spec)
    factory = get_backend(pm.backend)
    if "sampled" not in getattr(factory, "answer_modes", ("sampled",)):
        raise DescriptorsError(f"backend {pm.backend!r} cannot generate text (answer mode `sampled`)")
    env = dict(os.environ if env is None else env)
    backend = factory(pm, env=env)
    replies = asyncio.run(_ask_all(backend, requests))
    # errors go into a shared table and its sidecar: no key, whatever raised them (backends
    # already mask what they build; a backend bug's message is masked here too)
    redact = Redactor([env.get(pm.api_key_env, "") if pm.api_key_env else "", *url_secrets(pm.base_url)])
    rows = []
    for request, (text, error) in zip(requests, replies):
        item = spec.item(request.item)
        code = int(request.persona)
        sentence, note = ("", f"error: {redact(error)}") if error else clean_reply(text)
        rows.append(Row(item.code, code, code_label(item, code), sentence, note, request.messages))
    _write(spec, table_path, rows, descriptors=descriptors, model=model, instruction=instruction, pm=pm)
    return rows


def _write(spec: Spec, table_path: str, rows: list[Row], *, descriptors: str, model: str, instruction: str, pm) -> None:
    os.makedirs(os.path.dirname(table_path) or ".", exist_ok=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows([r.item, r.code, r.label, r.text, r.note] for r in rows)
    _atomic(table_path, buffer.getvalue())
    from silspec import __version__
    from silspec.spec.hashing import sha256_file

    meta = {
        "generator": "silspec descriptors",
        "silspec_version": __version__,
        "created_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "spec": spec.path,
        "descriptors": descriptors,
        "model": {"name": model, "backend": pm.backend, "model_id": pm.model_id, "params": dict(pm.params)},
        "instruction": {"variant": instruction, "text": INSTRUCTIONS[instruction]},
        "user_template": USER_TEMPLATE,
        "seed": spec.study.seed,
        "table": os.path.basename(table_path),
        "table_sha256": sha256_file(table_path),
        "rows": len(rows),
        "flagged": sum(1 for r in rows if r.note and not r.note.startswith("error")),
        "errors": [{"item": r.item, "code": r.code, "error": r.note} for r in rows if r.note.startswith("error")],
        "prompts": [{"item": r.item, "code": r.code, "messages": [{"role": m.role, "content": m.content} for m in r.prompt]}
                    for r in rows],
    }
    _atomic(sidecar_path(table_path), json.dumps(meta, indent=1, ensure_ascii=False) + "\n")


def _atomic(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    os.replace(tmp, path)
