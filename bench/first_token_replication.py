"""A small, real replication of the first-token paper on a CPU (not in CI; minutes, not seconds).

SmolLM2-135M-Instruct is fine-tuned with the paper's recipe (first-token KL / n, LoRA r 8,
alpha 32, dropout 0.05, AdamW 1e-4, batch 16) on a bounded, seeded subset of C1 x Q1 from
specs/wvs_first_token_full.sil, then evaluated zero-shot (ZS) and fine-tuned (FT), each also in
the paper's [ctrl] setting, on three of Table 4's test sets restricted to bounded subsets:

    C1-Q3  trained countries, unseen questions
    C2-Q1  unseen (African) countries, trained questions
    C2-Q3  unseen countries and unseen questions

beside the paper's baselines (uniform, Avg_Culture, KNN over MiniLM embeddings, JSON zero-shot on
a bounded subset) and the paper's own Table 4 / Table 11 rows. Metrics: 1-JSD as the paper
computes it (1 - JS distance, natural log), the paper's EMD (`emd_values_paper`), the ordinal W1
on ordered scales, modal accuracy, and country diversity. Printed to stdout; the run's numbers
also go to --out/results.json.

    PYTHONPATH=. .venv/bin/python bench/first_token_replication.py [--train-countries 8 --train-items 12 ...]

The paper's numbers come from 7-32B models trained on all of C1 x Q1 (6,841 examples); these
come from a 135M model on a few hundred examples. They are printed beside each other so the
reader sees both, never as if one were the other.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
from attrs import evolve

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Before torch is first imported (train.openmp_waits_passive explains why: spinning OpenMP threads
# on a shared CPU made a training step 3-4x slower).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from silspec.analysis.diversity import mean_pairwise_similarity  # noqa: E402
from silspec.finetune import baselines  # noqa: E402
from silspec.finetune.examples import Example, build_examples  # noqa: E402
from silspec.finetune.scoring import score  # noqa: E402  (the same scoring as `silspec finetune --baselines`)
from silspec.spec.load import load_spec  # noqa: E402
from silspec.spec.model import Split  # noqa: E402

SPEC = ROOT / "specs" / "wvs_first_token_full.sil"
FINETUNE = "first_token_kl"

# Table 4 (1-JSD and EMD; C1-Q3, C2-Q1, C2-Q3 columns) and Table 11 (1-JSD), as printed.
PAPER_TABLE4 = {
    "Llama3-8B-Instruct ZS [ctrl]": ((0.574, 0.626, 0.563), (0.130, 0.147, 0.135)),
    "Llama3-8B-Instruct ZS": ((0.585, 0.650, 0.589), (0.130, 0.139, 0.126)),
    "Llama3-8B-Instruct FT [ctrl]": ((0.756, 0.826, 0.751), (0.077, 0.077, 0.082)),
    "Llama3-8B-Instruct FT": ((0.777, 0.881, 0.783), (0.073, 0.060, 0.080)),
    "Vicuna1.5-7B ZS": ((0.732, 0.754, 0.749), (0.095, 0.107, 0.096)),
    "Vicuna1.5-7B FT": ((0.766, 0.859, 0.767), (0.087, 0.071, 0.091)),
}
PAPER_TABLE11 = {
    "KNN": (0.381, 0.518, 0.371),
    "Avg_Culture": (0.360, 0.509, 0.348),
    "JSON-ZS (Llama3-8B-Instruct)": (0.735, 0.728, 0.747),
}
SETS = ("C1-Q3", "C2-Q1", "C2-Q3")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train-countries", type=int, default=6, help="C1 countries (with Q3 data) to train on")
    p.add_argument("--train-items", type=int, default=12, help="Q1 questions to train on")
    p.add_argument("--valid-items", type=int, default=4, help="Q2 questions for model selection (on --valid-countries countries)")
    p.add_argument("--test-items", type=int, default=6, help="Q3 questions in the unseen-question sets")
    p.add_argument("--test-countries", type=int, default=4, help="C2 countries in the unseen-country sets")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--valid-countries", type=int, default=2, help="of the training countries, for model selection")
    p.add_argument("--json-zs", type=int, default=6, help="examples per test set for JSON-ZS (generation is slow)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "first_token_replication")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    return p.parse_args(argv)


def pick(members, n, rng):
    members = list(members)
    return sorted(rng.sample(members, min(n, len(members))), key=members.index)


def examples_for(spec, ft, countries, items) -> list[Example]:
    """Examples (with benchmarks) of countries x items, rendered exactly as training renders them."""
    split = Split(tuple(countries), tuple(items))
    probe = evolve(ft, train=split, valid=split, test=None)
    return list(build_examples(spec, probe)["train"].examples)


def main(argv=None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    result = load_spec(str(SPEC))
    spec = result.spec
    if spec is None:
        print("\n".join(str(d) for d in result.diagnostics))
        return 1
    ft = spec.finetunes[FINETUNE]
    groups = spec.groups
    rng = random.Random(args.seed)
    train_countries = pick(groups["C1_Q3"], args.train_countries, rng)
    train_items = pick(groups["Q1"], args.train_items, rng)
    valid_items = pick(groups["Q2"], args.valid_items, rng)
    test_items = pick(groups["Q3"], args.test_items, rng)
    test_countries = pick(groups["C2"], args.test_countries, rng)
    design = {"train_countries": train_countries, "train_items": train_items, "valid_countries": train_countries[:args.valid_countries],
              "valid_items": valid_items, "test_items": test_items, "test_countries": test_countries}
    print("design:", json.dumps(design))

    bounded = evolve(ft, train=Split(tuple(train_countries), tuple(train_items)),
                     valid=Split(tuple(train_countries[:args.valid_countries]), tuple(valid_items)), test=None, epochs=args.epochs)
    bounded_spec = evolve(spec, finetunes={FINETUNE: bounded})
    sets = {
        "C1-Q3": examples_for(spec, ft, train_countries, test_items),
        "C2-Q1": examples_for(spec, ft, test_countries, train_items),
        "C2-Q3": examples_for(spec, ft, test_countries, test_items),
    }
    train_examples = examples_for(spec, ft, train_countries, train_items)
    print("examples:", {"train": len(train_examples), **{k: len(v) for k, v in sets.items()}})

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from silspec.finetune.train import FirstTokenScorer, _load_base, train_finetune

    # ---- train
    t_train = time.perf_counter()
    last = {"t": time.perf_counter()}

    def progress(event, payload):
        if event == "step":
            now = time.perf_counter()
            print(f"  step {payload['steps']}/{payload['total_steps']} loss {payload['loss']:.4f} "
                  f"({now - last['t']:.1f} s)", flush=True)
            last["t"] = now
        elif event in ("baseline", "epoch", "resumed"):
            print(f"  {event}: {payload}", flush=True)

    trained = train_finetune(bounded_spec, FINETUNE, out_dir=args.out, progress=progress)
    train_s = time.perf_counter() - t_train
    print(f"trained: best epoch {trained.best_epoch}, valid JS {trained.valid_js_before:.4f} -> "
          f"{trained.valid_js_after:.4f}, {trained.steps} steps, {train_s:.0f} s")

    # ---- predictions
    t_eval = time.perf_counter()
    torch_, tokenizer, lm, device = _load_base(spec, spec.models[ft.base], "cpu")
    lm.eval()
    scorer = FirstTokenScorer(torch_, tokenizer, device)

    def first_token(model, examples):
        from silspec.finetune.loss import option_probabilities

        out = {}
        ordered = scorer.by_length(examples)
        with torch_.inference_mode():
            for start in range(0, len(ordered), 16):
                chunk = ordered[start:start + 16]
                logits, mask = scorer.logits(model, chunk)
                probs = option_probabilities(logits, mask).double().cpu().numpy()
                for row, ex in zip(probs, chunk):
                    out[(ex.item, ex.country)] = tuple(row[: len(ex.target)])
        return [out[(ex.item, ex.country)] for ex in examples]

    all_countries = sorted(groups["C1"] + groups["C2"] + groups["C3"])

    def control(examples):
        """[ctrl]: each prompt names another country (seeded); the target stays the true one's."""
        drawn = baselines.control_countries(examples, all_countries, args.seed)
        return baselines.control_examples(spec, ft, examples, drawn)

    predictions: dict[str, dict[str, list]] = {name: {} for name in SETS}
    controls = {name: control(examples) for name, examples in sets.items()}
    for name, examples in sets.items():
        predictions[name]["ZS"] = first_token(lm, examples)
        predictions[name]["ZS [ctrl]"] = first_token(lm, controls[name])
    print(f"ZS and ZS [ctrl] scored ({time.perf_counter() - t_eval:.0f} s into evaluation)", flush=True)

    # JSON zero-shot on a bounded subset, with the base model (before the adapter is attached)
    json_stats = {}
    replies: list[str] = []
    for name, examples in sets.items():
        subset = set(range(len(examples))) if len(examples) <= args.json_zs else \
            set(random.Random(f"{args.seed}:json:{name}").sample(range(len(examples)), args.json_zs))
        preds, failed = [], 0
        for i, ex in enumerate(examples):
            if i not in subset:
                preds.append(None)
                continue
            shares, reply = json_zero_shot(torch_, tokenizer, lm, ex, spec)
            if len(replies) < 3:
                replies.append(reply)
            if shares is None:
                failed += 1
                shares = baselines.uniform(ex)
            preds.append(shares)
        predictions[name]["JSON-ZS"] = preds
        json_stats[name] = {"asked": len(subset), "unreadable_scored_uniform": failed}

    print(f"JSON-ZS generated: {json_stats} ({time.perf_counter() - t_eval:.0f} s); first replies: {replies}", flush=True)
    from peft import PeftModel

    ft_model = PeftModel.from_pretrained(lm, trained.adapter_dir).eval()
    for name, examples in sets.items():
        predictions[name]["FT"] = first_token(ft_model, examples)
        predictions[name]["FT [ctrl]"] = first_token(ft_model, controls[name])

    print(f"FT and FT [ctrl] scored ({time.perf_counter() - t_eval:.0f} s)", flush=True)
    avg = baselines.avg_culture(train_examples)
    knn_stats = {}
    for name, examples in sets.items():
        predictions[name]["uniform"] = [baselines.uniform(ex) for ex in examples]
        predictions[name]["Avg_Culture"] = [avg(ex) for ex in examples]
        found = baselines.knn(train_examples, examples)
        predictions[name]["KNN"] = list(found.predictions)
        knn_stats[name] = {"uniform_fallbacks": found.fallbacks}
    eval_s = time.perf_counter() - t_eval

    # ---- scores
    scales = {item.id: item.scale for item in spec.all_items()}
    table = {}
    for name, examples in sets.items():
        for method, preds in predictions[name].items():
            table.setdefault(method, {})[name] = score(examples, preds, scales)
    diversity = {name: diversity_of(sets[name], predictions[name]) for name in SETS}

    report(args, design, trained, table, diversity, json_stats, knn_stats, train_s, eval_s, time.perf_counter() - t0,
           {k: len(v) for k, v in sets.items()}, len(train_examples))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({
        "design": design, "table": table, "diversity": diversity, "json_zs": json_stats, "knn": knn_stats,
        "train_s": train_s, "eval_s": eval_s, "best_epoch": trained.best_epoch,
        "valid_js_before": trained.valid_js_before, "valid_js_after": trained.valid_js_after,
        "epochs": [[e.epoch, e.steps, e.train_loss, e.valid_js] for e in trained.epochs],
    }, indent=2, default=float), encoding="utf-8")
    return 0


def json_zero_shot(torch, tokenizer, lm, example, spec):
    from silspec.run.backends.hf import render_messages
    from silspec.plan.model import Message

    user = example.messages[-1].content
    country = spec.study.countries.get(example.country, example.country) if spec.study.countries else example.country
    prompt = baselines.json_prompt(user, country, example.option_tokens)
    messages = tuple(m for m in example.messages[:-1]) + (Message("user", prompt),)
    text, special = render_messages(tokenizer, messages)
    ids = tokenizer(text, add_special_tokens=special, return_tensors="pt")
    with torch.inference_mode():
        out = lm.generate(**ids, max_new_tokens=60, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    reply = tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    return baselines.parse_json_distribution(reply, example), reply


def diversity_of(examples, preds_by_method):
    """Mean over items of mean pairwise 1 - JS distance between countries: survey, ZS, FT."""
    by_item = {}
    for i, ex in enumerate(examples):
        by_item.setdefault(ex.item, []).append(i)
    out = {}
    for label, rows in (("survey", [ex.target for ex in examples]), ("ZS", preds_by_method["ZS"]),
                        ("FT", preds_by_method["FT"])):
        values = [mean_pairwise_similarity([rows[i] for i in idx]) for idx in by_item.values() if len(idx) >= 2]
        out[label] = float(np.mean(values)) if values else math.nan
    return out


def report(args, design, trained, table, diversity, json_stats, knn_stats, train_s, eval_s, total_s, sizes, n_train):
    f = lambda x: "  –  " if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"  # noqa: E731
    print()
    print(f"First-token replication on CPU: SmolLM2-135M-Instruct, {n_train} training examples "
          f"({len(design['train_countries'])} C1 countries x {len(design['train_items'])} Q1 questions), "
          f"{args.epochs} epoch(s), best epoch {trained.best_epoch}")
    print(f"test sets (examples): {sizes}; train {train_s:.0f} s, evaluation {eval_s:.0f} s, total {total_s:.0f} s")
    header = f"{'method':34} " + " ".join(f"{s:>7}" for s in SETS) + " |" + " ".join(f"{s:>7}" for s in SETS)
    print()
    print("1-JSD (paper's form, higher better) | EMD as the paper computes it (lower better)")
    print(header)
    for method in ("ZS [ctrl]", "ZS", "FT [ctrl]", "FT", "uniform", "Avg_Culture", "KNN", "JSON-ZS"):
        row = table[method]
        print(f"{'SmolLM2-135M ' + method:34} " + " ".join(f"{f(row[s]['1-JSD']):>7}" for s in SETS) + " |"
              + " ".join(f"{f(row[s]['EMD_paper']):>7}" for s in SETS))
    for name, (js, emd) in PAPER_TABLE4.items():
        print(f"{'paper ' + name:34} " + " ".join(f"{v:>7.3f}" for v in js) + " |" + " ".join(f"{v:>7.3f}" for v in emd))
    for name, js in PAPER_TABLE11.items():
        print(f"{'paper ' + name:34} " + " ".join(f"{v:>7.3f}" for v in js) + " |")
    print()
    print("ordinal W1 (ordered scales only; not in the paper) | modal accuracy (ties broken at random), SmolLM2-135M")
    print(f"{'method':34} " + " ".join(f"{s:>7}" for s in SETS) + " |" + " ".join(f"{s:>7}" for s in SETS))
    for method in ("ZS [ctrl]", "ZS", "FT [ctrl]", "FT", "uniform", "Avg_Culture", "KNN", "JSON-ZS"):
        row = table[method]
        print(f"{method:34} " + " ".join(f"{f(row[s]['W1_ordinal']):>7}" for s in SETS) + " |"
              + " ".join(f"{f(row[s]['modal_acc']):>7}" for s in SETS))
    print()
    print("country diversity: mean 1 - JS distance between countries on the same question (lower = more diverse)")
    for s in SETS:
        d = diversity[s]
        print(f"  {s}: survey {f(d['survey'])}  ZS {f(d['ZS'])}  FT {f(d['FT'])}")
    print(f"JSON-ZS (only on the examples asked; unreadable replies scored as uniform): {json_stats}")
    print(f"KNN: {knn_stats} (no training example with the same option count: uniform)")


if __name__ == "__main__":
    sys.exit(main())
