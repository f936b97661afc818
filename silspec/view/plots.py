"""The distributions beside their benchmark: the report's own numbers, for the page's plots.

Why the analysis rather than a GROUP BY: the share of each code is what the report computes
(policy fills, dropped answers, option probabilities, superseded plans), and the viewer must
not show another number. The analysis reads every answer, so it runs when the plots are asked
for, and its result is cached until the store holds other rows (``queries.data_version``).
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

from silspec.report.load import analyse_run
from silspec.view import queries, rundir

PREFERRED_VARIANT = "with_defaults"  # what `silspec report` shows first


class PlotCache:
    """Per run directory: the last analysis and the store version it was computed on."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self._lock = threading.Lock()
        self._version: tuple[int, int] | None = None
        self._payload: dict[str, Any] | None = None

    def payload(self) -> dict[str, Any]:
        with self._lock:
            version = queries.data_version(rundir.store_path(self.run_dir))
            if version != self._version or self._payload is None:
                self._payload = distributions(self.run_dir)
                self._version = version
            return self._payload


def distributions(run_dir: Path) -> dict[str, Any]:
    """One plot per condition x item (x country): codes, answer labels, simulated and benchmark shares."""
    try:
        results = analyse_run(run_dir)
    except Exception as error:  # noqa: BLE001 - the page says why there are no plots
        return {"plots": [], "error": str(error), "warnings": []}
    header_items = rundir.plan_header(run_dir).get("items") or {}
    variants = {row.variant for row in results.items}
    variant = PREFERRED_VARIANT if PREFERRED_VARIANT in variants else (sorted(variants) or [""])[0]
    plots = []
    for row in results.items:
        if row.variant != variant:
            continue
        labels = _labels(header_items.get(row.item) or {}, row.codes)
        plots.append({
            "condition": row.condition,
            "item": row.item,
            "code": row.code,
            "country": row.country,
            "text": (header_items.get(row.item) or {}).get("text", ""),
            "n": row.n,
            "codes": list(row.codes),
            "labels": labels,
            "simulated": _finite(row.probs),
            "benchmark": _finite(row.benchmark_probs),
            "benchmark_name": row.benchmark,
            "intervals": [list(pair) for pair in row.share_intervals],
            "metrics": {k: v for k, v in row.values.items() if _is_finite(v)},
        })
    return {
        "plots": plots,
        "variant": variant,
        "error": None,
        "warnings": [{"kind": w.kind, "severity": w.severity, "message": w.message} for w in results.warnings],
    }


def _labels(item: dict[str, Any], codes: tuple[int, ...]) -> list[str]:
    by_code = dict(zip(item.get("codes") or (), item.get("labels") or ()))
    return [str(by_code.get(code) or "") for code in codes]


def _is_finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _finite(values: Any) -> list[float | None] | None:
    if values is None:
        return None
    return [float(v) if _is_finite(v) else None for v in values]
