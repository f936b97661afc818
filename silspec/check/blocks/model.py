"""`model NAME { backend = ...  name = ... }`: endpoints, sampling parameters, keys, adapters."""

from __future__ import annotations

import os
import re
from typing import Any

from attrs import evolve

from silspec.check import files, schema, values as v
from silspec.check.blocks.common import assignments, blocks, build_each
from silspec.check.context import Context
from silspec.lang import ast
from silspec.spec.finetune import config_hash
from silspec.spec.model import Backoff, Model


# `api_key = env("PATH")` would send the PATH to a remote server as a bearer token
_KEY_VARIABLE = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|AUTH|CREDENTIAL", re.IGNORECASE)


# ------------------------------------------------------------------------------------- models

_INT_PARAMS = {"max_tokens", "max_completion_tokens", "seed", "top_logprobs"}


def build_models(ctx: Context) -> dict[str, Model]:
    return build_each(ctx, "model", _model)


def _model(ctx: Context, block: ast.Block) -> Model | None:
    a = assignments(block)
    name = block.name
    backend = v.as_name(ctx, a["backend"].value, "backend") if "backend" in a else None
    if "backend" not in a:
        ctx.error("SIL105", f"model `{name}` has no `backend`", block.name_span, "e.g. `backend = openai`")
    model_id = v.as_str(ctx, a["name"].value, "name") if "name" in a else None
    if "name" not in a:
        model_id = name
        if backend not in ("replay", "hf"):
            ctx.error("SIL105", f"model `{name}` has no `name` (the provider's model id)", block.name_span,
                      'e.g. `name = "gpt-5.2"`')
    params = model_params(ctx, a)
    api_key_env = None
    if "api_key" in a:
        node = a["api_key"].value
        if isinstance(node, (ast.String, ast.Concat, ast.Ref, ast.Number)):  # anything that could be a key
            # never echo the value: it may be a real key
            ctx.report("SIL801", "`api_key` is a literal value; keys never go into a spec", node.span,
                      'name an environment variable instead: `api_key = env("OPENAI_API_KEY")` (and rotate that key)')
        else:
            api_key_env = v.env_var(ctx, node, "api_key")
            if api_key_env is not None and not _KEY_VARIABLE.search(api_key_env):
                ctx.report("SIL801", f"`api_key` reads `{api_key_env}`, which does not name a key variable", node.span,
                          "the variable's value is sent to the server as a credential; name one that holds a key "
                          '(its name contains KEY, TOKEN, SECRET, PASSWORD or AUTH), e.g. env("OPENAI_API_KEY")')
                api_key_env = None
    base_url = v.as_str(ctx, a["base_url"].value, "base_url") if "base_url" in a else None
    path = external = None
    if "path" in a:
        node = a["path"].value
        if isinstance(node, ast.Call) and node.name == "file":
            path = files.resolve_call(ctx, node, what="model path")
        elif isinstance(node, ast.Call) and node.name == "env":
            var = v.env_var(ctx, node, "path")
            external = files.external(ctx, var, node.span) if var else None
        elif isinstance(node, ast.String):
            path = files.resolve(ctx, node.value, node.span, what="model path", must_exist=backend == "replay")
        else:
            v.type_error(ctx, node, '`file("...")`, a path string or `env("VAR")`', "path")
    package = v.as_str(ctx, a["package"].value, "package") if "package" in a else None
    if backend == "replay" and "path" not in a:
        ctx.error("SIL105", f"replay model `{name}` has no `path`", block.name_span,
                  'the recorded answers: `path = file("data/replay/x.csv")`')
    kw: dict[str, Any] = {}
    if "concurrency" in a:
        kw["concurrency"] = v.as_int(ctx, a["concurrency"].value, "concurrency", minimum=1) or 1
    if "delay" in a:
        kw["delay_s"] = v.as_duration(ctx, a["delay"].value, "delay") or 0.0
    if "timeout" in a:
        kw["timeout_s"] = v.as_duration(ctx, a["timeout"].value, "timeout", positive=True) or 60.0
    for key in ("rpm", "tpm"):
        if key in a:
            kw[key] = v.as_int(ctx, a[key].value, key, minimum=1)
    if "retries" in a:
        r = v.as_int(ctx, a["retries"].value, "retries", minimum=0)
        kw["retries"] = 3 if r is None else r
    if "backoff" in a:
        kw["backoff"] = _backoff(ctx, a["backoff"].value)
    options = {k: v.plain(a[k].value) for k in schema.MODEL_OPTIONS if k in a}
    for key in schema.MODEL_PRICES:
        if key in a:
            price = v.as_number(ctx, a[key].value, key)
            if price is not None and price < 0:
                ctx.error("SIL203", f"`{key}` must not be negative, got {price}", a[key].value.span,
                          "USD per million tokens, e.g. 1.75")
            elif price is not None:
                options[key] = price
    _adapter_options(ctx, a, name, backend, options)
    if backend is None:
        return None
    return Model(name, backend, model_id or name, params=params, base_url=base_url, api_key_env=api_key_env,
                 path=path, package=package, external=external, options=options, span=block.name_span, **kw)


def _adapter_options(ctx: Context, a: dict, name: str, backend: str | None, options: dict[str, Any]) -> None:
    """``adapter = finetune.NAME`` (+ ``adapter_dir``) -> ``options["adapter"]``; the config hash
    is filled in by ``link_adapters`` once the finetune blocks are built."""
    if "adapter" in a:
        node = a["adapter"].value
        if isinstance(node, ast.Ref) and len(node.parts) == 2 and node.parts[0] == "finetune":
            options["adapter"] = {"finetune": node.parts[1]}
            if backend is not None and backend != "hf":
                ctx.report("SIL810", f"model `{name}`: `adapter` needs `backend = hf`, not `{backend}`", node.span,
                          "only the local transformers backend can load a LoRA adapter")
        else:
            v.type_error(ctx, node, "`finetune.NAME` (a finetune block of this spec)", "adapter")
    if "adapter_dir" in a:
        node = a["adapter_dir"].value
        raw = v.as_str(ctx, node, "adapter_dir")
        if "adapter" not in a:
            ctx.error("SIL105", f"model `{name}` has `adapter_dir` but no `adapter`", node.span,
                      "name the fine-tuning run: `adapter = finetune.NAME`")
        elif raw is not None:
            root = os.path.realpath(ctx.root)
            base = raw if os.path.isabs(raw) else os.path.join(root, raw)
            real = os.path.realpath(base)
            if not files._inside(real, root):
                ctx.report("SIL702", f"adapter folder `{raw}` is outside the spec tree ({root})", node.span,
                          "trained adapters are read from inside the project (default runs/<study>/finetune/NAME/adapter)")
            elif "adapter" in options:
                options["adapter"]["dir"] = os.path.relpath(real, root).replace(os.sep, "/")


def link_adapters(ctx: Context, models: dict[str, Model], finetunes: dict, study_seed: int) -> dict[str, Model]:
    """Resolve each model's ``adapter = finetune.NAME``: the finetune must exist (SIL301, did you
    mean), must not itself start from an adapter model (SIL811), and its config hash goes into
    ``options["adapter"]`` so that retraining with another config changes request ids."""
    declared = {b.name for b in blocks(ctx.document.entries, "finetune") if b.name}
    out = dict(models)
    for name, model in models.items():
        adapter = model.options.get("adapter")
        if not isinstance(adapter, dict):
            continue
        span = ctx.span("model", name, "adapter")
        ft_name = adapter["finetune"]
        finetune = finetunes.get(ft_name)
        if finetune is None:
            if ft_name not in declared:  # a declared but broken block has its own errors
                ctx.undefined("finetune", ft_name, span, sorted(declared))
            continue
        base = models.get(finetune.base)
        if base is None:
            continue
        if isinstance(base.options.get("adapter"), dict):
            ctx.report("SIL811", f"finetune `{ft_name}` starts from model `{base.name}`, which itself loads an adapter",
                      ctx.span("finetune", ft_name, "base") or span, "train from the plain base model")
            continue
        if (base.model_id, base.path, base.package, base.external) != (model.model_id, model.path, model.package, model.external):
            ctx.report("SIL812", f"model `{name}` loads the adapter of `{ft_name}`, which was trained on `{base.name}` "
                                  f"({base.model_id}), on other weights ({model.model_id})", span,
                        "repeat the base model's `name`, `path`/`package` in the adapter model")
        linked = {**adapter, "config_hash": config_hash(finetune, base, study_seed)}
        out[name] = evolve(model, options={**model.options, "adapter": linked})
    return out


def model_params(ctx: Context, a: dict) -> dict[str, Any]:
    """The answer-changing parameters among ``a`` (a model block or a condition's ``params``)."""
    params: dict[str, Any] = {}
    for key in schema.MODEL_PARAMS:
        if key not in a:
            continue
        node = a[key].value
        if key in _INT_PARAMS:
            val = v.as_int(ctx, node, key, minimum=0)
        elif key in ("thinking", "reasoning_effort"):
            val = v.as_str(ctx, node, key) if not isinstance(node, ast.Ref) else node.dotted
        else:
            val = v.as_number(ctx, node, key)
        if val is not None:
            params[key] = val
    t = params.get("temperature")
    if t is not None and not 0 <= t <= 2:
        ctx.error("SIL203", f"temperature {t} is outside 0..2", a["temperature"].value.span)
    p = params.get("top_p")
    if p is not None and not 0 < p <= 1:
        ctx.error("SIL203", f"top_p {p} is outside (0, 1]", a["top_p"].value.span)
    return params


def _backoff(ctx: Context, node: Any) -> Backoff:
    if isinstance(node, ast.Call) and node.name == "exponential":
        base = node.kwarg("base")
        mx = node.kwarg("max")
        jitter = node.kwarg("jitter")
        return Backoff(
            base=float(v.as_number(ctx, base, "base") or 2.0) if base is not None else 2.0,
            max_s=float(v.as_duration(ctx, mx, "max") or 60.0) if mx is not None else 60.0,
            jitter=bool(v.as_bool(ctx, jitter, "jitter")) if jitter is not None else True,
        )
    if isinstance(node, ast.Ref) and node.parts == ("exponential",):
        return Backoff()
    v.type_error(ctx, node, "`exponential(base = 2, max = 60s)`", "backoff")
    return Backoff()
