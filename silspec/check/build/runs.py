"""templates, parsers, models and conditions (with `extends`)."""

from __future__ import annotations

import os
import re
import warnings
from typing import Any

from attrs import evolve

from silspec.check import files, limits, schema, values as v
from silspec.check.build.common import assignments, blocks, build_each, named_values
from silspec.check.context import Context
from silspec.lang import ast
from silspec.lang.diagnostics import did_you_mean
from silspec.spec.finetune import config_hash
from silspec.spec.model import Backoff, Condition, Model, Parser, Template

# `api_key = env("PATH")` would send the PATH to a remote server as a bearer token
_KEY_VARIABLE = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|AUTH|CREDENTIAL", re.IGNORECASE)


# ---------------------------------------------------------------------------------- templates


def build_templates(ctx: Context) -> dict[str, Template]:
    out: dict[str, Template] = {}
    for nv in named_values(ctx.document.entries, "template"):
        t = template_from(ctx, nv.value, out, name=nv.name)
        if t is not None:
            out[nv.name] = evolve(t, name=nv.name, span=nv.name_span)
    return out


def template_from(ctx: Context, node: Any, known: dict[str, Template], name: str = "") -> Template | None:
    """A template from an inline string, ``file(...)``, a named template, or ``a + b``."""
    if isinstance(node, ast.String):
        return Template(name, node.value, span=node.span)
    if isinstance(node, ast.Call) and node.name == "file":
        raw = files.call_path(node)
        if raw is None:
            v.type_error(ctx, node, '`file("path")`', "template")
            return None
        ref = files.resolve(ctx, raw, node.args[0].span, what="template file")
        if ref is None:
            return None
        text = files.read_text(ctx, ref, node.args[0].span, what="template")
        return None if text is None else Template(name, text, file=ref, span=node.span)
    if isinstance(node, ast.Ref) and len(node.parts) == 1:
        t = known.get(node.parts[0])
        if t is None:
            ctx.undefined("template", node.parts[0], node.span, known)
        return t
    if isinstance(node, ast.Concat):
        parts = [template_from(ctx, p, known) for p in node.parts]
        if any(p is None for p in parts):
            return None
        return Template(name, "".join(p.source for p in parts), span=node.span)
    v.type_error(ctx, node, 'a template: "...", file("..."), a template name, or a + b', "template")
    return None


# ------------------------------------------------------------------------------------ parsers

EXTRACTS = ("first_integer", "integer_or_label", "regex", "label", "json")


def build_parsers(ctx: Context) -> dict[str, Parser]:
    out = {}
    for block in blocks(ctx.document.entries, "parser"):
        a = assignments(block)
        extract, pattern = "first_integer", None
        if "extract" in a:
            node = a["extract"].value
            if isinstance(node, ast.Call) and node.name in ("regex", "json"):
                extract = node.name
                pattern = v.as_str(ctx, node.args[0], "extract") if len(node.args) == 1 else None
                if pattern is None and len(node.args) != 1:
                    ctx.error("SIL201", f"`{node.name}(...)` takes one string", node.span)
                if extract == "regex" and pattern is not None:
                    try:
                        with warnings.catch_warnings():  # Python's FutureWarnings about a stranger's regex
                            warnings.simplefilter("ignore")
                            re.compile(pattern)
                    except (re.error, RecursionError, OverflowError) as exc:
                        ctx.error("SIL203", f"invalid regular expression: {exc}", node.args[0].span)
            else:
                extract = v.as_enum(ctx, node, EXTRACTS, "extract") or "first_integer"
                if extract in ("regex", "json"):
                    ctx.error("SIL201", f"`{extract}` needs an argument", node.span,
                              'regex("([0-9]+)") or json("answer")')
        valid: Any = "scale"
        if "valid" in a:
            node = a["valid"].value
            if isinstance(node, ast.Ref) and node.parts == ("scale",):
                valid = "scale"
            else:
                valid = v.as_int_list(ctx, node, "valid") or "scale"
        refusal = v.as_str_list(ctx, a["refusal"].value, "refusal") if "refusal" in a else ()
        on_invalid, reask = "none", 0
        if "on_invalid" in a:
            node = a["on_invalid"].value
            if isinstance(node, ast.Call) and node.name == "reask":
                on_invalid = "reask"
                reask = (v.as_int(ctx, node.args[0], "reask", minimum=1) or 1) if len(node.args) == 1 else 0
                if len(node.args) != 1:
                    ctx.error("SIL201", "`reask(N)` takes the number of re-asks", node.span)
            else:
                on_invalid = v.as_enum(ctx, node, ("none", "midpoint", "drop", "reask"), "on_invalid") or "none"
                if on_invalid == "reask":
                    reask = 1
        on_error = v.as_enum(ctx, a["on_error"].value, ("none", "midpoint", "drop"), "on_error") if "on_error" in a else "none"
        out[block.name] = Parser(block.name, extract, pattern, valid, tuple(refusal or ()), on_invalid, reask, on_error or "none")
    return out


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
            ctx.error("SIL801", "`api_key` is a literal value; keys never go into a spec", node.span,
                      'name an environment variable instead: `api_key = env("OPENAI_API_KEY")` (and rotate that key)')
        else:
            api_key_env = v.env_var(ctx, node, "api_key")
            if api_key_env is not None and not _KEY_VARIABLE.search(api_key_env):
                ctx.error("SIL801", f"`api_key` reads `{api_key_env}`, which does not name a key variable", node.span,
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
                ctx.error("SIL810", f"model `{name}`: `adapter` needs `backend = hf`, not `{backend}`", node.span,
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
                ctx.error("SIL702", f"adapter folder `{raw}` is outside the spec tree ({root})", node.span,
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
            ctx.error("SIL811", f"finetune `{ft_name}` starts from model `{base.name}`, which itself loads an adapter",
                      ctx.span("finetune", ft_name, "base") or span, "train from the plain base model")
            continue
        if (base.model_id, base.path, base.package, base.external) != (model.model_id, model.path, model.package, model.external):
            ctx.warning("SIL812", f"model `{name}` loads the adapter of `{ft_name}`, which was trained on `{base.name}` "
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


# --------------------------------------------------------------------------------- conditions

ANSWER_MODES = ("sampled", "option_probs", "verbalised")


def effective_conditions(ctx: Context) -> dict[str, tuple[ast.Block, dict[str | int, ast.Assignment]]]:
    """Condition blocks with inherited keys merged in (parent first, child wins).

    A condition whose ``extends`` is undefined or cyclic is reported once (SIL301/SIL302) and
    left out, rather than producing a cascade of "missing key" errors."""
    by_name = {b.name: b for b in blocks(ctx.document.entries, "condition") if b.name}
    merged: dict[str, dict] = {}
    broken: set[str] = set()

    def resolve(name: str, trail: tuple[str, ...]) -> dict:
        if name in merged:
            return merged[name]
        block = by_name[name]
        own = assignments(block)
        if block.extends is None:
            merged[name] = own
            return own
        if block.extends in trail or block.extends == name:
            cycle = " -> ".join(trail + (name, block.extends))
            ctx.error("SIL302", f"`extends` cycle: {cycle}", block.extends_span, "a condition cannot inherit from itself")
            broken.add(name)
            merged[name] = own
            return own
        if block.extends not in by_name:
            ctx.undefined("condition", block.extends, block.extends_span, by_name)
            broken.add(name)
            merged[name] = own
            return own
        parent = resolve(block.extends, trail + (name,))
        if block.extends in broken:
            broken.add(name)
        result = {**parent, **own}
        merged[name] = result
        return result

    resolved = {name: (block, resolve(name, ())) for name, block in by_name.items()}
    return {name: pair for name, pair in resolved.items() if name not in broken}


def build_conditions(ctx: Context, spec_parts: dict[str, Any]) -> dict[str, Condition]:
    out = {}
    templates = spec_parts["templates"]
    by_name = {b.name: b for b in blocks(ctx.document.entries, "condition") if b.name}
    for name, (block, a) in effective_conditions(ctx).items():
        cond = _condition(ctx, name, block, a, spec_parts, templates)
        if cond is not None:
            item_params = _item_params(ctx, cond, _lineage(block, by_name))
            if item_params:
                cond = evolve(cond, item_params=item_params)
            out[name] = cond
    return out


def _lineage(block: ast.Block, by_name: dict[str, ast.Block]) -> list[ast.Block]:
    """The condition and its ancestors, root first (``extends`` is known to be acyclic here)."""
    chain = [block]
    while chain[-1].extends is not None and chain[-1].extends in by_name and len(chain) <= len(by_name):
        chain.append(by_name[chain[-1].extends])
    return chain[::-1]


def _item_params(ctx: Context, cond: Condition, lineage: list[ast.Block]) -> dict[str, dict[str, Any]]:
    """``params ITEM { key = value }`` blocks, inherited key by key (child wins).

    An item named in the condition's own block must be one of its items (SIL301 with "did you
    mean"); an inherited block for an item the child no longer asks is simply unused."""
    by_code: dict[str, list[str]] = {}
    for item_id in cond.items:
        by_code.setdefault(item_id.rpartition(".")[2], []).append(item_id)
    merged: dict[str, dict[str, Any]] = {}
    for block in lineage:
        own = block is lineage[-1]
        for sub in block.blocks("params"):
            if sub.name is None:
                continue
            code = str(sub.name)
            ids = by_code.get(code)
            if ids is None:
                if own:
                    ctx.error("SIL301", f"`params {code}`: `{code}` is not an item of condition `{cond.name}`",
                              sub.name_span, did_you_mean(code, sorted(by_code)) or f"its items: {', '.join(by_code)}")
                continue
            params = model_params(ctx, assignments(sub))
            for item_id in ids:
                merged.setdefault(item_id, {}).update(params)
    return {k: merged[k] for k in cond.items if merged.get(k)}


def _ref(ctx: Context, a: dict, key: str, kind: str, known: dict, block: ast.Block, required: bool = True) -> str | None:
    if key not in a:
        if required:
            ctx.error("SIL105", f"condition `{block.name}` has no `{key}`", block.name_span, f"name a {kind}: `{key} = NAME`")
        return None
    name = v.as_name(ctx, a[key].value, key)
    if name is not None and name not in known:
        ctx.undefined(kind, name, a[key].value.span, known)
        return None
    return name


def _condition(ctx: Context, name: str, block: ast.Block, a: dict, parts: dict, templates: dict) -> Condition | None:
    model = _ref(ctx, a, "model", "model", parts["models"], block)
    parser = _ref(ctx, a, "parser", "parser", parts["parsers"], block)
    population = _ref(ctx, a, "population", "population", parts["populations"], block, required=False)
    countries: tuple[str, ...] = ()
    if "countries" in a:
        countries = _names_or_group(ctx, a["countries"].value, parts["groups"], "countries") or ()
    items = _items(ctx, a, parts["surveys"], parts["groups"], block)
    prompt = template_from(ctx, a["prompt"].value, templates) if "prompt" in a else None
    if "prompt" not in a:
        ctx.error("SIL105", f"condition `{name}` has no `prompt`", block.name_span, "the user message template: `prompt = NAME`")
    system = template_from(ctx, a["system"].value, templates) if "system" in a else None
    answers = v.as_enum(ctx, a["answers"].value, ANSWER_MODES, "answers") if "answers" in a else "sampled"
    samples = v.as_int(ctx, a["samples"].value, "samples", minimum=1, maximum=limits.MAX_SAMPLES) if "samples" in a else 1
    order = v.as_enum(ctx, a["option_order"].value, ("fixed", "shuffled", "reversed"), "option_order") if "option_order" in a else "fixed"
    labels = v.as_enum(ctx, a["option_labels"].value, ("auto", "codes", "letters"), "option_labels") if "option_labels" in a else "auto"
    benchmark = v.as_name(ctx, a["benchmark"].value, "benchmark") if "benchmark" in a else None
    if population is None and not countries and "population" not in a:
        ctx.error("SIL105", f"condition `{name}` has neither `population` nor `countries`", block.name_span,
                  "say who answers: `population = NAME` (personas) or `countries = [...]` (country-level)")
    if None in (model, parser, prompt) or items is None:
        return None
    return Condition(
        name=name, model=model, items=items, parser=parser, prompt=prompt, system=system, population=population,
        countries=countries, answers=answers or "sampled", samples=samples or 1, option_order=order or "fixed",
        option_labels=labels or "auto", benchmark=benchmark, extends=block.extends, span=block.name_span,
    )


def _names_or_group(ctx: Context, node: Any, groups: dict, key: str) -> tuple[str, ...] | None:
    if isinstance(node, ast.Call) and node.name == "group" and len(node.args) == 1:
        g = v.as_name(ctx, node.args[0], key)
        if g is not None and g not in groups:
            ctx.undefined("group", g, node.args[0].span, groups)
            return None
        return groups.get(g)
    if isinstance(node, ast.Ref) and len(node.parts) == 1 and node.parts[0] in groups:
        return groups[node.parts[0]]
    return v.as_str_list(ctx, node, key)


def _items(ctx: Context, a: dict, surveys: dict, groups: dict, block: ast.Block) -> tuple[str, ...] | None:
    if "items" not in a:
        ctx.error("SIL105", f"condition `{block.name}` has no `items`", block.name_span, "e.g. `items = kgss2023.*`")
        return None
    node = a["items"].value
    refs = node.elements if isinstance(node, ast.ListExpr) else (node,)
    out: list[str] = []
    for ref in refs:
        if isinstance(ref, ast.Call) and ref.name == "group":
            names = _names_or_group(ctx, ref, groups, "items") or ()
            refs_ = [tuple(n.split(".")) for n in names]
        elif isinstance(ref, ast.Ref):
            refs_ = [ref.parts]
        elif isinstance(ref, ast.String):
            refs_ = [tuple(ref.value.split("."))]
        else:
            v.type_error(ctx, ref, "`survey.*` or `survey.ITEM`", "items")
            return None
        for parts in refs_:
            if len(parts) != 2:
                ctx.error("SIL201", f"`{'.'.join(parts)}` is not an item reference", ref.span,
                          "write `survey.ITEM` or `survey.*`")
                continue
            survey_name, code = parts
            survey = surveys.get(survey_name)
            if survey is None:
                ctx.undefined("survey", survey_name, ref.span, surveys)
                continue
            codes = [i.code for i in survey.items]
            if code == "*":
                out.extend(f"{survey_name}.{c}" for c in codes)
            elif code in codes:
                out.append(f"{survey_name}.{code}")
            else:
                ctx.undefined(f"item of survey `{survey_name}`", code, ref.span, codes)
    if not out and not ctx.has_errors:
        ctx.error("SIL105", f"condition `{block.name}` asks no items", node.span)
    return tuple(dict.fromkeys(out))
