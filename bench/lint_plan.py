"""Lint and plan speed on two large generated specs, against a bare floor measured in the same run.

    .venv/bin/python bench/lint_plan.py [--quick] [--json-out]

Specs (written as .sil text into a temp dir; linted and planned through ``load_spec`` when the
loader exists, otherwise built as ``Spec`` objects directly, and the output says which):
- country-level: 65 countries x 259 items = 16,835 requests (``--quick``: 65 x 20)
- persona-level: 10 countries x 36 items x 2,000 personas = 720,000 requests (``--quick``: 10 x 36 x 100)

The floor: one bare sandboxed render of the whole KGSS prompt + canonical JSON of the id payload
+ sha256, per request, in a tight loop (no persona sampling, no caching, no Request objects).
silspec's plan rate is reported as a ratio to that floor. Targets: lint < 0.5 s, plan >= 50,000
requests/s. Peak memory is the growth of the process's max RSS while planning (streamed: the
requests are hashed and dropped, never held).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from silspec.plan.hashing import PlanHasher, canonical_json  # noqa: E402
from silspec.spec import model as m  # noqa: E402

COUNTRIES = [f"C{n:02d}" for n in range(65)]
PERSONA_PROMPT = """당신은 다음과 같은 특성을 가진 {{ country }} 사람입니다:

- 연령: {{ persona.age_group }}
- 성별: {{ persona.gender }}
- 교육수준: {{ persona.education }}

다음 질문에 {{ item.min }}-{{ item.max }} 중 하나로만 답변하세요.

질문: {{ item.text }}
척도: {{ item.scale_labels }}

답변:"""
COUNTRY_PROMPT = (
    "Imagine the average adult in {{ country }}. {{ item.text }}\n"
    "Options: {{ item.scale_labels }}\nAnswer with one of {{ item.options | join(', ') }}."
)
SYSTEM = "당신은 설문조사 응답자입니다. 질문에 숫자로만 답변하세요."


# ------------------------------------------------------------------------------ spec text


def sil_text(kind: str, n_items: int, n_countries: int, size: int) -> str:
    countries = ", ".join(f'"{c}"' for c in COUNTRIES[:n_countries])
    items = "\n".join(
        f'  item Q{i} {{\n    text = "Question {i}: 이 문장에 얼마나 동의하십니까?"\n'
        f"    scale = {'ten' if i % 3 == 0 else 'four'}\n  }}"
        for i in range(1, n_items + 1)
    )
    head = f"""silspec 1

study bench_{kind} {{
  title = "bench"
  seed = 7
  language = "ko"
}}

scale four {{
  1 = "매우 그렇다"
  2 = "다소 그렇다"
  3 = "별로 그렇지 않다"
  4 = "전혀 그렇지 않다"
}}

scale ten {{
  range = 1..10
  low = "전혀 아니다"
  high = "매우 그렇다"
}}

survey wvs {{
{items}
}}

parser first {{
  extract = first_integer
  valid = scale
}}

model gpt {{
  backend = openai
  name = "gpt-4o-mini"
  api_key = env("OPENAI_API_KEY")
  temperature = 0.7
  max_tokens = 5
}}

template system_ko = {canonical_json(SYSTEM)}
"""
    if kind == "country":
        return head + f"""
template country_prompt = {canonical_json(COUNTRY_PROMPT)}

condition by_country {{
  model = gpt
  countries = [{countries}]
  items = wvs.*
  prompt = country_prompt
  parser = first
  answers = option_probs
}}
"""
    return head + f"""
template persona_prompt = {canonical_json(PERSONA_PROMPT)}

persona people {{
  age_group = {{ "20대": 0.2, "30대": 0.2, "40대": 0.2, "50대": 0.2, "60대 이상": 0.2 }}
  gender = {{ "남성": 0.5, "여성": 0.5 }}
  education = by(age_group, {{
    "20대": {{ "고졸 이하": 0.2, "대졸": 0.7, "대학원 이상": 0.1 }},
    "30대": {{ "고졸 이하": 0.25, "대졸": 0.65, "대학원 이상": 0.1 }},
    "40대": {{ "고졸 이하": 0.3, "대졸": 0.6, "대학원 이상": 0.1 }},
    "50대": {{ "고졸 이하": 0.4, "대졸": 0.5, "대학원 이상": 0.1 }},
    "60대 이상": {{ "고졸 이하": 0.6, "대졸": 0.35, "대학원 이상": 0.05 }}
  }})
}}

population sample {{
  persona = people
  size = {size}
  sampling = stratified
}}

condition by_persona {{
  model = gpt
  population = sample
  countries = [{countries}]
  items = wvs.*
  system = system_ko
  prompt = persona_prompt
  parser = first
  answers = sampled
}}
"""


# --------------------------------------------------------------- the same specs, in Python


def spec_objects(kind: str, n_items: int, n_countries: int, size: int, root: str) -> m.Spec:
    four = m.Scale("four", tuple(m.Category(c, l) for c, l in
                                 enumerate(("매우 그렇다", "다소 그렇다", "별로 그렇지 않다", "전혀 그렇지 않다"), 1)))
    ten = m.Scale("ten", tuple(m.Category(c, str(c)) for c in range(1, 11)), low_label="전혀 아니다",
                  high_label="매우 그렇다")
    items = tuple(
        m.Item(id=f"wvs.Q{i}", code=f"Q{i}", survey="wvs",
               text=f"Question {i}: 이 문장에 얼마나 동의하십니까?", scale=ten if i % 3 == 0 else four)
        for i in range(1, n_items + 1)
    )
    common = dict(
        path=f"bench_{kind}.sil", root=root, study=m.Study(f"bench_{kind}", "bench", 7, "ko"),
        scales={"four": four, "ten": ten}, surveys={"wvs": m.Survey("wvs", items)},
        parsers={"first": m.Parser("first")},
        models={"gpt": m.Model("gpt", "openai", "gpt-4o-mini",
                               params={"temperature": 0.7, "max_tokens": 5}, api_key_env="OPENAI_API_KEY")},
    )
    countries = tuple(COUNTRIES[:n_countries])
    item_ids = tuple(i.id for i in items)
    if kind == "country":
        condition = m.Condition("by_country", "gpt", item_ids, "first", m.Template("country_prompt", COUNTRY_PROMPT),
                                countries=countries, answers="option_probs")
        return m.Spec(**common, conditions={"by_country": condition})
    ages = ("20대", "30대", "40대", "50대", "60대 이상")
    edu = ("고졸 이하", "대졸", "대학원 이상")
    shares = {"20대": (0.2, 0.7, 0.1), "30대": (0.25, 0.65, 0.1), "40대": (0.3, 0.6, 0.1),
              "50대": (0.4, 0.5, 0.1), "60대 이상": (0.6, 0.35, 0.05)}
    schema = m.PersonaSchema("people", (
        m.Attribute("age_group", ages, table={(): (0.2,) * 5}),
        m.Attribute("gender", ("남성", "여성"), table={(): (0.5, 0.5)}),
        m.Attribute("education", edu, given=("age_group",), table={(a,): s for a, s in shares.items()}),
    ))
    condition = m.Condition("by_persona", "gpt", item_ids, "first", m.Template("persona_prompt", PERSONA_PROMPT),
                            system=m.Template("system_ko", SYSTEM), population="sample", countries=countries)
    return m.Spec(**common, personas={"people": schema},
                  populations={"sample": m.Population("sample", "stratified", size=size, schema="people")},
                  conditions={"by_persona": condition})


# ------------------------------------------------------------------------------ measuring


def load(kind, n_items, n_countries, size, folder):
    """(spec, lint seconds or None, how it was built)."""
    path = Path(folder) / f"bench_{kind}.sil"
    path.write_text(sil_text(kind, n_items, n_countries, size), encoding="utf-8")
    try:
        from silspec.spec.load import load_spec
    except ModuleNotFoundError:
        return spec_objects(kind, n_items, n_countries, size, folder), None, "Spec objects (no loader yet)"
    load_spec(path)  # warm imports: lint time is measured in-process after imports
    start = time.perf_counter()
    result = load_spec(path)
    if result.ok:  # `silspec lint` also renders every template for every item (plan's renderer)
        from silspec.plan.render_check import render_diagnostics

        render_diagnostics(result.spec)
    seconds = time.perf_counter() - start
    if not result.ok:
        messages = "; ".join(d.message for d in result.diagnostics if d.severity == "error")[:300]
        print(f"  ! generated {kind} spec does not lint clean ({messages}); using Spec objects")
        return spec_objects(kind, n_items, n_countries, size, folder), seconds, "Spec objects (lint failed)"
    return result.spec, seconds, ".sil text via load_spec"


def plan_rate(spec):
    from silspec.plan import compile_header, iter_requests

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu_start = time.process_time()
    start = time.perf_counter()
    header = compile_header(spec)
    header_s = time.perf_counter() - start
    hasher = PlanHasher()
    count = 0
    for request in iter_requests(spec, header):
        hasher.add(request.id)
        count += 1
    digest = hasher.hexdigest()
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    rss_growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    return count, seconds, cpu_seconds, header_s, rss_growth_mb, digest, header


def json_rate(spec, header, folder):
    from silspec.plan import iter_requests, write_plan_json

    start = time.perf_counter()
    with open(Path(folder) / "plan.json", "w", encoding="utf-8") as fp:
        write_plan_json((header, iter_requests(spec, header)), fp)
    return time.perf_counter() - start, os.path.getsize(Path(folder) / "plan.json")


def floor_rate(n: int) -> float:
    """Bare sandboxed render of the full prompt + canonical JSON + sha256, per request."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    template = env.from_string(PERSONA_PROMPT)
    items = [{"text": f"Question {i}: 이 문장에 얼마나 동의하십니까?", "min": 1, "max": 4,
              "scale_labels": "1=매우 그렇다, 2=다소 그렇다, 3=별로 그렇지 않다, 4=전혀 그렇지 않다",
              "options": ["1", "2", "3", "4"]} for i in range(36)]
    personas = [{"age_group": "30대", "gender": "여성", "education": "대졸", "id": f"P{i:04d}"}
                for i in range(100)]
    cpu_start = time.process_time()
    start = time.perf_counter()
    for k in range(n):
        item = items[k % 36]
        user = template.render(persona=personas[k % 100], item=item, country="KOR")
        payload = {"backend": "openai", "model": "gpt-4o-mini", "params": {"temperature": 0.7},
                   "answers": "sampled", "codes": [1, 2, 3, 4], "tokens": item["options"],
                   "messages": [["system", SYSTEM], ["user", user]], "replicate": 0, "seed": None}
        hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()
    return n / (time.perf_counter() - start), n / (time.process_time() - cpu_start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small versions of both specs")
    parser.add_argument("--json-out", action="store_true", help="also time writing the JSON plan")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    shapes = {
        "country": (20, 65, 0) if args.quick else (259, 65, 0),
        "persona": (36, 10, 100) if args.quick else (36, 10, 2000),
    }
    floor, floor_cpu = floor_rate(5_000 if args.quick else 30_000)
    print(f"bare floor (sandboxed render + canonical JSON + sha256): {floor:,.0f} requests/s "
          f"wall, {floor_cpu:,.0f} per CPU-second")
    with tempfile.TemporaryDirectory() as folder:
        for kind, (n_items, n_countries, size) in shapes.items():
            spec, lint_s, built = load(kind, n_items, n_countries, size, folder)
            count, seconds, cpu_seconds, header_s, rss_mb, digest, header = plan_rate(spec)
            rate = count / seconds
            print(f"\n{kind}-level: {count:,} requests ({built})")
            print(f"  lint + renders  {'n/a' if lint_s is None else f'{lint_s:.3f} s'}   (target < 0.5 s)")
            print(f"  plan            {seconds:.2f} s (header {header_s:.2f} s)  "
                  f"{rate:,.0f} requests/s   (target >= 50,000)")
            print(f"  plan (CPU time) {count / cpu_seconds:,.0f} requests per CPU-second "
                  "(robust when other jobs share the cores)")
            print(f"  ratio to floor  {rate / floor:.2f}x wall, {count / cpu_seconds / floor_cpu:.2f}x CPU")
            print(f"  peak RSS growth {rss_mb:.1f} MB while planning (requests streamed, ids hashed as they pass)")
            print(f"  plan hash       {digest[:16]}...")
            if args.json_out:
                write_s, size_bytes = json_rate(spec, header, folder)
                print(f"  plan + JSON     {write_s:.2f} s  {count / write_s:,.0f} requests/s  "
                      f"{size_bytes / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
