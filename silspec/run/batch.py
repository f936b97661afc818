"""The OpenAI Batch API as a backend: JSONL files in, one stored answer per line out.

``batch = true`` on an ``openai`` model makes the runner (``batch_backend_factory``) use
``OpenAIBatchBackend`` for it instead of live calls. The executor hands it the model's whole
queue in one ``answer_batch`` call; it

1. reuses every batch already kept in the store (``batches`` table) that holds a pending
   request, so a killed ``silspec run`` polls the same batches instead of paying again (a batch
   is not reused for a request whose stored row is newer than the batch, which is what lets
   ``--retry-errors`` resubmit only the errors, nor when it *failed* validation: nothing of it
   ran, nothing was paid); a batch the provider accepted but the store never kept is found by
   the digest of its request ids in its metadata and adopted (``_adopt``);
2. writes the rest as JSONL (``custom_id`` = request id, the body the live backend would send),
   split at the provider's limits (requests and bytes per file), uploads each file
   (``/v1/files``, purpose ``batch``), creates a batch (``/v1/batches``) and keeps its id in the
   store the moment the provider returns it;
3. polls every batch until it ends (completed, failed, expired, cancelled), keeping each status
   in the store (``silspec run --status`` reads it);
4. downloads the output and error files and turns each line into what a live call would have
   given: a reply through ``parse_chat_completion`` (the same checks, the same ``ReplyError``
   reasons), a non-200 line or an ``error`` line as an error with its reason, and a request the
   batch never answered (expired, cancelled, failed, a line missing) as an error saying why.

Every result carries ``meta.batch_id``. Line failures are permanent for this invocation (the
executor does not retry them live at full price); ``--retry-errors`` puts them in a new batch.
What the engine does not do: answer option_probs for labels that share a prefix (that needs the
prompt-log-probability path, which the Batch API cannot express) — those are errors saying so.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import Counter
from typing import Any, Callable, ClassVar, Iterable, Mapping, Sequence

import attrs
from attrs import frozen

from silspec.plan.model import PlanModel, Request
from silspec.plan.redact import url_secrets
from silspec.run.backends._http import error_for_status, missing_key_error, redact
from silspec.run.backends.base import BackendAnswer, BackendError, PermanentError, ReplyError, TransientError
from silspec.run.backends.chat_completion import chat_request_body, parse_chat_completion
from silspec.run.backends.tokens import labels_need_full_strings

ENDPOINT = "/v1/chat/completions"
COMPLETION_WINDOW = "24h"
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
# OpenAI's documented limits per batch input file; the environment can lower them (tests).
MAX_REQUESTS_PER_FILE = 50_000
MAX_BYTES_PER_FILE = 200 * 1024 * 1024
DEFAULT_POLL_S = 30.0
ENV_MAX_REQUESTS = "SILSPEC_BATCH_MAX_REQUESTS"
ENV_MAX_BYTES = "SILSPEC_BATCH_MAX_BYTES"
ENV_POLL_S = "SILSPEC_BATCH_POLL_S"
LOCAL_PLACEHOLDER_KEY = "no-key"
ADOPT_SCAN = 1_000  # recent provider batches searched for one the store lost (see _adopt)
CALL_TRIES = 8  # tries of one files/batches call through connection trouble, 429 and 5xx
# Transport settings the Batch API makes moot: the provider queues the lines itself.
LIVE_ONLY_SETTINGS = ("rpm", "tpm", "delay_s")
# Line errors that say the batch ended before the line ran: the provider's verdict on the
# batch, not on the model, so they never stop the model.
NOT_RUN_CODES = frozenset({"batch_expired", "batch_cancelled"})


@frozen
class BatchLimits:
    max_requests: int = MAX_REQUESTS_PER_FILE
    max_bytes: int = MAX_BYTES_PER_FILE
    poll_s: float = DEFAULT_POLL_S

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "BatchLimits":
        return cls(
            max_requests=int(env.get(ENV_MAX_REQUESTS) or MAX_REQUESTS_PER_FILE),
            max_bytes=int(env.get(ENV_MAX_BYTES) or MAX_BYTES_PER_FILE),
            poll_s=float(env.get(ENV_POLL_S) or DEFAULT_POLL_S),
        )


def is_batch_model(model: PlanModel) -> bool:
    return model.options.get("batch") is True


def batch_backend_factory(inner: Callable[[str], Any], *, store: Any) -> Callable[[str], Any]:
    """The runner's hook: a backend factory that answers ``batch = true`` models through the
    Batch API (``OpenAIBatchBackend`` bound to the run's store) and every other model as before."""

    def factory_for(name: str) -> Any:
        def make(model: PlanModel, *, env: Mapping[str, str]) -> Any:
            batch = model.options.get("batch")
            if batch is None or batch is False:
                return inner(name)(model, env=env)
            if batch is not True:
                raise PermanentError(f"model {model.name!r}: batch must be true or false, got {batch!r}")
            if model.backend != "openai":
                raise PermanentError(f"model {model.name!r}: batch = true needs the openai backend"
                                     f" (the Batch API), not {model.backend!r}")
            return OpenAIBatchBackend(model, env=env, store=store)

        return make

    return factory_for


def executor_models(models: Mapping[str, PlanModel]) -> tuple[dict[str, PlanModel], list[str]]:
    """The models as the executor should pace them, and a note for each setting dropped: a batch
    model's rpm/tpm/delay would make the executor wait before handing over the whole queue."""
    out: dict[str, PlanModel] = {}
    notes: list[str] = []
    for name, model in models.items():
        if not is_batch_model(model):
            out[name] = model
            continue
        ignored = [key for key in LIVE_ONLY_SETTINGS if getattr(model, key)]
        if ignored:
            notes.append(f"model {name!r}: batch = true, so {', '.join(ignored)} do not apply"
                         " (the Batch API queues the requests itself)")
        out[name] = attrs.evolve(model, rpm=None, tpm=None, delay_s=0.0)
    return out, notes


# ------------------------------------------------------------------------------- files


def request_line(request: Request, model: PlanModel) -> bytes:
    """One JSONL line of a batch input file (newline included)."""
    line = {"custom_id": request.id, "method": "POST", "url": ENDPOINT, "body": chat_request_body(request, model)}
    return (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def split_files(lines: Sequence[tuple[str, bytes]], limits: BatchLimits) -> tuple[list[list[tuple[str, bytes]]], list[str]]:
    """(files, ids too large for any file): consecutive lines packed up to both limits."""
    files: list[list[tuple[str, bytes]]] = []
    too_large: list[str] = []
    current: list[tuple[str, bytes]] = []
    size = 0
    for request_id, line in lines:
        if len(line) > limits.max_bytes:
            too_large.append(request_id)
            continue
        if current and (len(current) >= limits.max_requests or size + len(line) > limits.max_bytes):
            files.append(current)
            current, size = [], 0
        current.append((request_id, line))
        size += len(line)
    if current:
        files.append(current)
    return files, too_large


def chunk_digest(request_ids: Iterable[str]) -> str:
    """A batch's content key (metadata ``silspec_ids``): sha256 of its request ids in file order."""
    return hashlib.sha256("\n".join(request_ids).encode("ascii")).hexdigest()[:48]


# ------------------------------------------------------------------------------ results


def read_result_lines(text: str, where: str) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """custom_id -> result line, and problems (lines that are not JSON or name no custom_id)."""
    results: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError as exc:
            problems.append(f"{where} line {number} is not JSON ({exc})")
            continue
        custom_id = line.get("custom_id") if isinstance(line, dict) else None
        if not isinstance(custom_id, str):
            problems.append(f"{where} line {number} has no custom_id")
            continue
        results[custom_id] = line
    return results, problems


def answer_of_line(line: dict[str, Any], request: Request, *, batch_id: str, where: str) -> BackendAnswer | BackendError:
    """What a live call would have given for this result line (the one outcome model)."""
    detail = {"batch_id": batch_id}
    error = line.get("error")
    if error:
        code = str(error.get("code") or "error") if isinstance(error, dict) else "error"
        message = str(error.get("message") or "") if isinstance(error, dict) else str(error)
        return ReplyError(f"{where}: batch line failed ({code}): {message}".rstrip(": "),
                          reason=f"batch {code}", counts_against_model=code not in NOT_RUN_CODES,
                          detail={**detail, "batch_error_code": code})
    response = line.get("response")
    if not isinstance(response, dict):
        return ReplyError(f"{where}: malformed batch line (no response and no error)", reason="malformed reply",
                          detail=detail)
    status = response.get("status_code")
    body = response.get("body")
    if status != 200:
        message = ""
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            message = str(body["error"].get("message") or "")
        status_int = status if isinstance(status, int) else None
        live = error_for_status(status_int or 0, message, None, what=where)
        return ReplyError(str(live), reason=f"HTTP {status}", status=status_int,
                          counts_against_model=not isinstance(live, TransientError), detail=detail)
    try:
        answer = parse_chat_completion(body, request, where=where)
    except ReplyError as exc:
        exc.detail.update(detail)
        return exc
    return attrs.evolve(answer, meta={**answer.meta, **detail})


def unanswered(request_id: str, batch: Mapping[str, Any], where: str) -> ReplyError:
    """The error for a request its batch never answered."""
    status = batch["status"]
    detail = {"batch_id": batch["batch_id"], "batch_status": status}
    if status == "failed":
        reasons = "; ".join(batch.get("errors") or []) or "no reason given"
        # One verdict on the whole file, not one per line: it must not stop the model halfway
        # through storing the other batches' answers (every line gets this error row instead).
        return ReplyError(f"{where}: the batch failed before running ({reasons})", reason="batch failed",
                          counts_against_model=False, detail=detail)
    if status in ("expired", "cancelled"):
        return ReplyError(f"{where}: the batch was {status} before this request ran", reason=f"batch {status}",
                          counts_against_model=False, detail=detail)
    return ReplyError(f"{where}: the batch ended ({status}) without a result line for this request",
                      reason="batch line missing", detail=detail)


# ------------------------------------------------------------------------------ backend


class OpenAIBatchBackend:
    name: ClassVar[str] = "openai"
    answer_modes: ClassVar[frozenset[str]] = frozenset({"sampled", "option_probs", "verbalised"})
    max_batch: ClassVar[int] = 1 << 40  # the whole queue in one call: the engine splits files itself
    call_timeout_s: ClassVar[None] = None  # a batch may take its 24 h window

    def __init__(self, model: PlanModel, *, env: Mapping[str, str], store: Any,
                 limits: BatchLimits | None = None, client: Any = None,
                 sleep: Callable[[float], Any] = asyncio.sleep):
        self.model = model
        self.store = store
        self.limits = limits or BatchLimits.from_env(env)
        self.on_status: Callable[[str | None], None] | None = None
        self._sleep = sleep
        self._where = f"model {model.name!r}"
        key = env.get(model.api_key_env) if model.api_key_env else LOCAL_PLACEHOLDER_KEY
        if not key:
            raise missing_key_error(model.api_key_env, model.name)
        self._secrets = (key, *url_secrets(model.base_url))
        if client is None:
            from openai import AsyncOpenAI

            client = AsyncOpenAI(api_key=key, base_url=model.base_url or env.get("OPENAI_BASE_URL") or None,
                                 max_retries=0, timeout=model.timeout_s)
        self._client = client

    # ---------------------------------------------------------------------- protocol

    async def answer(self, request: Request) -> BackendAnswer:
        """One request (a re-ask): a new batch of one, at batch price. Never a kept batch: the
        one that gave the answer being re-asked would give it again."""
        result = (await self._answer([request], reuse=False))[0]
        if isinstance(result, BaseException):
            raise result
        return result

    async def answer_batch(self, requests: Sequence[Request]) -> list[BackendAnswer | BackendError]:
        return await self._answer(requests, reuse=True)

    async def _answer(self, requests: Sequence[Request], *, reuse: bool) -> list[BackendAnswer | BackendError]:
        by_id = {r.id: r for r in requests}
        results: dict[str, BackendAnswer | BackendError] = {}
        for request in by_id.values():
            if request.answers == "option_probs" and labels_need_full_strings(request.option_tokens):
                results[request.id] = PermanentError(
                    f"{self._where}: option labels {list(request.option_tokens)} share a prefix; the Batch API"
                    " cannot score full option strings (use letter labels, or run without batch)")
        wanted = [rid for rid in by_id if rid not in results]
        assignment = self._reuse(wanted) if reuse else {}  # batch id -> request ids it will answer
        assigned = {rid for ids in assignment.values() for rid in ids}
        fresh = [rid for rid in wanted if rid not in assigned]
        if fresh:
            lines = [(rid, request_line(by_id[rid], self.model)) for rid in fresh]
            files, too_large = split_files(lines, self.limits)
            for rid in too_large:
                results[rid] = PermanentError(
                    f"{self._where}: the request is larger than a whole batch file ({self.limits.max_bytes} bytes)")
            for number, chunk in enumerate(files, start=1):
                self._status(f"uploading batch file {number} of {len(files)} ({len(chunk)} requests)")
                batch_id = await self._submit(chunk, adopt=reuse)
                assignment[batch_id] = [rid for rid, _ in chunk]
        ended = await self._poll(list(assignment))
        for batch_id, ids in assignment.items():
            for rid, result in (await self._collect(ended[batch_id], ids, by_id)).items():
                results[rid] = result
        self._status(None)
        return [results[r.id] for r in requests]

    async def aclose(self) -> None:
        await self._client.close()

    # ---------------------------------------------------------------------- steps

    def _reuse(self, wanted: Iterable[str]) -> dict[str, list[str]]:
        """Kept batches that still owe an answer to a wanted request.

        A batch owes request X an answer when it holds X, did not fail validation (nothing of it
        ran), and was created after X's stored row, if X has one: a batch created before it has
        already had its say on X (it gave that row, or an earlier one), so ``--retry-errors``
        submits X again instead of reading the same error back, while a retry batch killed
        before it ended is polled again.
        """
        wanted_set = set(wanted)
        stored_at = self.store.answer_times(wanted_set)
        assignment: dict[str, list[str]] = {}
        taken: set[str] = set()
        for batch in self.store.batches(self.model.name):
            if batch["status"] == "failed":
                continue
            created = batch["created_at"]
            ids = [rid for rid in batch["request_ids"]
                   if rid in wanted_set and rid not in taken and stored_at.get(rid, "") < created]
            if ids:
                assignment[batch["batch_id"]] = ids
                taken.update(ids)
        return assignment

    async def _submit(self, chunk: Sequence[tuple[str, bytes]], *, adopt: bool) -> str:
        data = b"".join(line for _, line in chunk)
        digest = chunk_digest(rid for rid, _ in chunk)
        adopted = await self._adopt(digest) if adopt else None
        if adopted is not None:
            self.store.record_batch(batch_id=adopted.id, model=self.model.name, input_file_id=adopted.input_file_id,
                                    request_ids=[rid for rid, _ in chunk], n_bytes=len(data), status=adopted.status)
            return adopted.id
        uploaded = await self._call(self._client.files.create, file=("silspec-batch.jsonl", data), purpose="batch")
        batch = await self._call(self._client.batches.create, input_file_id=uploaded.id, endpoint=ENDPOINT,
                                 completion_window=COMPLETION_WINDOW,
                                 metadata={"silspec_model": self.model.name, "silspec_ids": digest})
        # Kept at once: from here on the batch is paid for, and a killed run must find it.
        self.store.record_batch(batch_id=batch.id, model=self.model.name, input_file_id=uploaded.id,
                                request_ids=[rid for rid, _ in chunk], n_bytes=len(data), status=batch.status)
        return batch.id

    async def _adopt(self, digest: str) -> Any:
        """A batch the provider holds for exactly these requests but the store does not: a run
        killed between the provider accepting a batch and the store keeping its id. Found by the
        ``silspec_ids`` digest in its metadata among the provider's recent batches (newest first,
        at most ``ADOPT_SCAN`` of them); one that failed validation is not adopted."""
        seen = 0
        known = {b["batch_id"] for b in self.store.batches(self.model.name)}  # those are reused or spent
        try:
            async for batch in self._client.batches.list(limit=100):
                seen += 1
                metadata = batch.metadata or {}
                if metadata.get("silspec_ids") == digest and batch.status != "failed" and batch.id not in known:
                    return batch
                if seen >= ADOPT_SCAN:
                    break
        except Exception as exc:  # noqa: BLE001 - a provider without the list call: submit as usual
            self._status(f"batch API: could not list batches ({self._classify(exc)}); submitting")
        return None

    async def _poll(self, batch_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Every batch's final state, polling until all have ended; each answer from the provider
        is kept in the store as it comes (read once here: a batch row holds up to 50,000 ids)."""
        state = {b["batch_id"]: {k: v for k, v in b.items() if k != "request_ids"}
                 for b in self.store.batches(self.model.name) if b["batch_id"] in set(batch_ids)}
        while True:
            for batch_id in batch_ids:
                if state[batch_id]["status"] in TERMINAL:
                    continue
                batch = await self._call(self._client.batches.retrieve, batch_id)
                counts = batch.request_counts.model_dump() if batch.request_counts is not None else None
                errors = [f"{e.code}: {e.message}" + (f" (line {e.line})" if e.line else "")
                          for e in (batch.errors.data or [])] if batch.errors is not None else None
                self.store.update_batch(batch_id, status=batch.status, output_file_id=batch.output_file_id,
                                        error_file_id=batch.error_file_id, counts=counts, errors=errors)
                entry = state[batch_id]
                entry["status"] = batch.status
                for key, value in (("output_file_id", batch.output_file_id), ("error_file_id", batch.error_file_id),
                                   ("counts", counts), ("errors", errors)):
                    if value is not None:
                        entry[key] = value
            if all(state[b]["status"] in TERMINAL for b in batch_ids):
                return state
            self._status(self._progress_text([state[b] for b in batch_ids]))
            await self._sleep(self.limits.poll_s)

    @staticmethod
    def _progress_text(batches: Sequence[Mapping[str, Any]]) -> str:
        done = sum((b["counts"] or {}).get("completed", 0) + (b["counts"] or {}).get("failed", 0) for b in batches)
        total = sum(b["n_requests"] for b in batches)
        running = sum(1 for b in batches if b["status"] not in TERMINAL)
        return f"batch API: {running} of {len(batches)} batches running, {done:,} of {total:,} lines done"

    async def _collect(self, batch: Mapping[str, Any], ids: Sequence[str],
                       by_id: Mapping[str, Request]) -> dict[str, BackendAnswer | BackendError]:
        lines: dict[str, dict[str, Any]] = {}
        problems: list[str] = []
        for key in ("output_file_id", "error_file_id"):
            file_id = batch.get(key)
            if not file_id:
                continue
            content = await self._call(self._client.files.content, file_id)
            found, bad = read_result_lines(content.text, f"{batch['batch_id']} {key.split('_')[0]} file")
            lines.update(found)
            problems += bad
        out: dict[str, BackendAnswer | BackendError] = {}
        for rid in ids:
            line = lines.get(rid)
            if line is None:
                error = unanswered(rid, batch, self._where)
                if problems:  # the line may be among the unreadable ones: say so
                    error.detail["unreadable_lines"] = problems[:5]
                out[rid] = error
            else:
                out[rid] = answer_of_line(line, by_id[rid], batch_id=batch["batch_id"], where=self._where)
        return out

    async def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One API call; connection trouble and 429/5xx wait and try again (the batch is already
        paid for: giving up would lose it), anything else is raised as a backend error."""
        wait = 1.0
        for attempt in range(1, CALL_TRIES + 1):
            try:
                return await method(*args, **kwargs)
            except Exception as exc:  # classified below; never re-raised with the key in it
                error = self._classify(exc)
            if not isinstance(error, TransientError):
                raise error
            if attempt == CALL_TRIES:
                # Permanent for this invocation: the executor must not re-ask each request live;
                # the kept batches are polled again by the next run.
                raise PermanentError(f"{error} (gave up after {CALL_TRIES} tries; submitted batches stay in"
                                     " the store and the next run polls them)", status=error.status)
            self._status(f"batch API: {error}; trying again in {wait:.0f} s")
            await self._sleep(wait)
            wait = min(wait * 2, max(self.limits.poll_s, 1.0))
        raise AssertionError("unreachable")

    def _classify(self, exc: Exception) -> BackendError:
        import openai

        if isinstance(exc, openai.APIStatusError):
            body = getattr(exc, "body", None)
            inner = body.get("error", body) if isinstance(body, dict) else None
            message = str(inner.get("message")) if isinstance(inner, dict) and inner.get("message") else str(exc)
            return error_for_status(exc.status_code, message, exc.response.headers, secrets=self._secrets,
                                    what=f"{self._where} (batch API)")
        if isinstance(exc, (openai.APIConnectionError, openai.APITimeoutError)):
            return TransientError(redact(f"{self._where}: batch API connection failed ({exc})", self._secrets))
        return PermanentError(redact(f"{self._where}: batch API error ({type(exc).__name__}: {exc})", self._secrets))

    def _status(self, text: str | None) -> None:
        if self.on_status is not None:
            self.on_status(text)


# ------------------------------------------------------------------------------ status


@frozen
class BatchStatus:
    """One kept batch as ``silspec run --status`` shows it."""

    batch_id: str
    model: str
    requests: int
    status: str  # the provider's latest word (refreshed when it could be asked)
    completed: int | None
    failed: int | None
    created_at: str
    updated_at: str
    answers_stored: int  # of its requests, rows in the store that came from this batch
    errors: tuple[str, ...] = ()  # batch-level errors (a failed validation)
    note: str | None = None  # why the status could not be refreshed, when it could not


async def _refresh(kept: list[dict[str, Any]], models: Mapping[str, PlanModel],
                   env: Mapping[str, str]) -> dict[str, Any]:
    """batch id -> the provider's batch object or the error text, for batches still running."""
    from openai import AsyncOpenAI

    fresh: dict[str, Any] = {}
    clients: dict[str, Any] = {}
    try:
        for batch in kept:
            if batch["status"] in TERMINAL:
                continue
            model = models.get(batch["model"])
            if model is None:
                fresh[batch["batch_id"]] = f"model {batch['model']!r} is not in the run's latest plan"
                continue
            key = env.get(model.api_key_env) if model.api_key_env else LOCAL_PLACEHOLDER_KEY
            if not key:
                fresh[batch["batch_id"]] = f"{model.api_key_env} is not set: showing the stored status"
                continue
            client = clients.get(model.name)
            if client is None:
                client = clients[model.name] = AsyncOpenAI(
                    api_key=key, base_url=model.base_url or env.get("OPENAI_BASE_URL") or None,
                    max_retries=1, timeout=min(model.timeout_s, 30.0))
            try:
                fresh[batch["batch_id"]] = await client.batches.retrieve(batch["batch_id"])
            except Exception as exc:  # noqa: BLE001 - shown per batch; the stored status still stands
                secrets = (key, *url_secrets(model.base_url))
                fresh[batch["batch_id"]] = redact(f"could not ask the provider ({type(exc).__name__}: {exc})", secrets)
    finally:
        for client in clients.values():
            await client.close()
    return fresh


def batch_status(store: Any, *, models: Mapping[str, PlanModel] | None = None,
                 env: Mapping[str, str] | None = None) -> list[BatchStatus]:
    """Every batch kept in ``store``; with ``models`` and ``env``, running ones are refreshed
    from the provider (read only: the store is not written, a run may hold it)."""
    kept = store.batches()
    fresh = asyncio.run(_refresh(kept, models, env)) if models is not None and env is not None else {}
    from_batch = Counter(store.batch_ids_of_answers(
        [rid for batch in kept for rid in batch["request_ids"]]).values())
    out = []
    for batch in kept:
        counts = batch["counts"] or {}
        status, note, errors = batch["status"], None, tuple(batch["errors"] or ())
        live = fresh.get(batch["batch_id"])
        if isinstance(live, str):
            note = live
        elif live is not None:
            status = live.status
            if live.request_counts is not None:
                counts = live.request_counts.model_dump()
        out.append(BatchStatus(
            batch_id=batch["batch_id"], model=batch["model"], requests=batch["n_requests"], status=status,
            completed=counts.get("completed"), failed=counts.get("failed"), created_at=batch["created_at"],
            updated_at=batch["updated_at"], answers_stored=from_batch.get(batch["batch_id"], 0),
            errors=errors, note=note,
        ))
    return out
