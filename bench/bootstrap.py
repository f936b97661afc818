"""Bootstrap speed: 10,000 resamples x 6 items, vectorised vs a naive Python loop.

Prints the vectorised time (target: well under a second) and its speed-up over the textbook
loop (draw persona indices, histogram, compute JS) measured in the same run. The naive loop is
timed on fewer resamples and scaled, so the script itself stays quick.

    .venv/bin/python bench/bootstrap.py [--resamples 10000] [--personas 100]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from silspec.analysis.bootstrap import bootstrap_distribution_ci, js_statistic
from silspec.analysis.metrics import js_divergence

ITEMS = {  # the KGSS paper's benchmark shares (percent)
    "CONFINAN": [17.3, 65.4, 20.3],
    "CONLEGIS": [5.0, 27.5, 63.8],
    "KRPROUD": [18.5, 66.7, 13.8, 0.2],
    "NORTHWHO": [7.2, 20.7, 44.1, 26.2],
    "UNIFI": [9.8, 41.0, 37.1, 11.5],
    "PARTYLR": [3.6, 24.8, 37.2, 26.5, 4.5],
}


def naive(answers: np.ndarray, codes: np.ndarray, bench: list[float], resamples: int, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        drawn = answers[rng.integers(0, answers.size, answers.size)]
        counts = [int((drawn == code).sum()) for code in codes]
        values.append(js_divergence(counts, bench))
    low, high = np.quantile(values, [0.025, 0.975])
    return float(low), float(high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resamples", type=int, default=10_000)
    parser.add_argument("--personas", type=int, default=100)
    parser.add_argument("--naive-resamples", type=int, default=1_000)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    data = {}
    for name, bench in ITEMS.items():
        codes = np.arange(1, len(bench) + 1)
        answers = rng.choice(codes, size=args.personas, p=np.array(bench) / sum(bench))
        data[name] = (codes, answers, bench)

    bootstrap_distribution_ci(data["UNIFI"][1], None, data["UNIFI"][0], js_statistic(ITEMS["UNIFI"]), resamples=10)  # warm-up

    start = time.perf_counter()
    for name, (codes, answers, bench) in data.items():
        bootstrap_distribution_ci(answers, None, codes, js_statistic(bench), resamples=args.resamples, seed=1)
    vectorised = time.perf_counter() - start

    start = time.perf_counter()
    for name, (codes, answers, bench) in data.items():
        naive(answers, codes, bench, args.naive_resamples, seed=1)
    naive_scaled = (time.perf_counter() - start) * args.resamples / args.naive_resamples

    print(f"items: {len(data)}  personas: {args.personas}  resamples: {args.resamples:,}")
    print(f"vectorised:   {vectorised:8.3f} s")
    print(f"naive loop:   {naive_scaled:8.3f} s (timed on {args.naive_resamples:,} resamples, scaled)")
    print(f"speed-up:     {naive_scaled / vectorised:8.1f}x")


if __name__ == "__main__":
    main()
