"""How a first-token prediction is scored against a survey target, one function for every caller
(``silspec finetune --baselines`` and bench/first_token_replication.py), so a baseline and a
fine-tuned model are never measured with two codes that could drift apart.

Per example, then the mean over the examples that have a prediction:

- ``1-JSD``: 1 − JS *distance* (natural log, ``scipy.spatial.distance.jensenshannon``), the
  first-token paper's "1−JSD" (higher is better);
- ``JS``: JS *divergence* (natural log), what training's "valid JS" reports
  (``FirstTokenScorer.mean_js``: ``js_divergence_rows``), so a baseline can be set beside it;
- ``EMD_paper``: the paper's "EMD" (``emd_values_paper``; not an ordinal distance);
- ``W1_ordinal``: silspec's ordinal Wasserstein-1 over the codes, on ordered scales only
  (``n_ordinal`` says over how many examples);
- ``modal_acc``: modal accuracy with ties broken at random (``expected_modal_hit``).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from silspec.analysis.metrics import emd_values_paper, js_distance, js_divergence_rows, wasserstein_ordinal
from silspec.finetune.examples import Example

METRICS = ("1-JSD", "JS", "EMD_paper", "W1_ordinal", "modal_acc")


def expected_modal_hit(p: Any, q: Any) -> float:
    """Modal accuracy with ties broken at random: the share of the prediction's tied modes that are
    modes of the survey. silspec's `accuracy` metric counts any shared mode as a hit, so a flat
    prediction (uniform, Avg_Culture on unknown questions, JSON-ZS scored as uniform) would score 1
    everywhere; here it scores 1/k on a k-option question with one survey mode."""
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    p_modes = np.isclose(p, p.max(), rtol=0, atol=1e-12)
    q_modes = np.isclose(q, q.max(), rtol=0, atol=1e-12)
    return float((p_modes & q_modes).sum() / p_modes.sum())


def score(examples: Sequence[Example], preds: Sequence[Sequence[float] | None], scales: Mapping[str, Any]) -> dict[str, Any]:
    """Means over the examples that have a prediction (None = not asked): see the module doc."""
    one_minus, js, emd, w1, mode, n = [], [], [], [], [], 0
    for ex, pred in zip(examples, preds, strict=True):
        if pred is None:
            continue
        n += 1
        p, q = np.asarray(pred, dtype=float), np.asarray(ex.target, dtype=float)
        one_minus.append(1.0 - js_distance(p, q))
        js.append(float(js_divergence_rows(p, q)[0]))
        emd.append(emd_values_paper(p, q))
        scale = scales[ex.item]
        if scale.ordered:
            w1.append(wasserstein_ordinal(p, q, codes=ex.option_codes if list(ex.option_codes) == sorted(ex.option_codes) else None))
        mode.append(expected_modal_hit(p, q))
    mean = lambda xs: float(np.mean(xs)) if xs else math.nan  # noqa: E731
    return {"n": n, "1-JSD": mean(one_minus), "JS": mean(js), "EMD_paper": mean(emd), "W1_ordinal": mean(w1),
            "n_ordinal": len(w1), "modal_acc": mean(mode)}
