"""A small synthetic WVS-7-like respondent file: real column names and codes, no real answers.

WVS microdata cannot ship, so the value-persona tests build their own: a few countries, each
with a latent "traditional vs secular" position ``t`` per respondent (country mean + noise); the
ten Inglehart-Welzel items and two target questions depend on ``t``, so a respondent's value
answers carry information about their target answers (value personas *can* differ from country
role-play). Demographics (Q260 sex, Q262 age, Q275 education, Q288 income, H_URBRURAL) are drawn
independently. WVS missing codes appear as in the real file: -1 don't know, -2 no answer, -4 not
asked, -5 missing. ``W_WEIGHT`` varies within a country (with a few weight-0 rows in one).

``benchmark_rows`` gives the human shares of the target questions computed from the same rows
(valid answers only, W_WEIGHT-weighted), in the `country,item,code,value` layout of
``data/wvs7/value_personas_benchmarks.csv``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

COUNTRIES = {"JPN": -1.0, "JOR": 1.2, "COL": 0.4}  # latent mean: + traditional, - secular
VALUE_ITEMS = ("Q164", "Y003", "Q184", "Q254", "Q45", "Y002", "Q46", "Q182", "Q209", "Q57")
TARGETS = {"Q6": (1, 4), "Q185": (1, 10)}  # Religion important (1 very .. 4 not at all); divorce justifiable
DEMOGRAPHICS = ("Q260", "Q262", "Q275", "Q288", "H_URBRURAL")
COLUMNS = ("D_INTERVIEW", "B_COUNTRY_ALPHA", "W_WEIGHT", *VALUE_ITEMS, *DEMOGRAPHICS, *TARGETS)


def _scaled(t: np.ndarray, noise: np.ndarray, low: int, high: int, sign: float) -> np.ndarray:
    """A code on low..high that rises with ``sign * t``."""
    mid = (low + high) / 2
    spread = (high - low) / 4
    return np.clip(np.rint(mid + sign * spread * t + noise * spread * 0.6), low, high).astype(int)


def build_rows(n_per_country: int = 40, seed: int = 0,
               countries: dict[str, float] | None = None) -> list[dict[str, object]]:
    """Respondent rows as dicts (ints; weights floats); ``countries`` maps ISO3 -> latent mean."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    serial = 0
    for country, mean in (countries or COUNTRIES).items():
        t = mean + rng.normal(0, 0.8, n_per_country)
        noise = lambda: rng.normal(0, 1, n_per_country)  # noqa: E731
        items = {
            "Q164": _scaled(t, noise(), 1, 10, +1),  # God important: high = traditional
            "Y003": _scaled(t, noise(), -2, 2, +1),  # autonomy: obedience/faith (+) vs independence (-)
            "Q184": _scaled(t, noise(), 1, 10, -1),  # abortion justifiable: high = secular
            "Q254": _scaled(t, noise(), 1, 4, -1),  # national pride 1 very proud .. 4 not at all
            "Q45": _scaled(t, noise(), 1, 3, -1),  # respect for authority 1 good .. 3 bad
            "Y002": _scaled(t, noise(), 1, 3, -1),  # 1 materialist .. 3 post-materialist
            "Q46": _scaled(t, noise(), 1, 4, +1),  # happy 1 very .. 4 not at all
            "Q182": _scaled(t, noise(), 1, 10, -1),  # homosexuality justifiable
            "Q209": _scaled(t, noise(), 1, 3, +1),  # petition 1 have done .. 3 never
            "Q57": _scaled(t, noise(), 1, 2, +1),  # 1 most can be trusted, 2 need to be careful
            "Q6": _scaled(t, noise(), 1, 4, -1),  # religion: 1 very important (traditional)
            "Q185": _scaled(t, noise(), 1, 10, -1),  # divorce justifiable (secular high)
        }
        sex = rng.integers(1, 3, n_per_country)
        age = rng.integers(18, 86, n_per_country)
        education = rng.integers(0, 9, n_per_country)
        income = rng.integers(1, 11, n_per_country)
        urban = rng.integers(1, 3, n_per_country)
        weights = np.round(rng.uniform(0.5, 1.5, n_per_country), 4)
        if country == "COL":
            weights[:2] = 0.0  # never drawn, counted
        for i in range(n_per_country):
            serial += 1
            row: dict[str, object] = {
                "D_INTERVIEW": 100000 + serial,
                "B_COUNTRY_ALPHA": country,
                "W_WEIGHT": float(weights[i]),
                **{name: int(values[i]) for name, values in items.items()},
                "Q260": int(sex[i]), "Q262": int(age[i]), "Q275": int(education[i]),
                "Q288": int(income[i]), "H_URBRURAL": int(urban[i]),
            }
            rows.append(row)
    # WVS missing codes, at fixed places so tests can count them
    rows[0]["Q164"] = -1  # don't know
    rows[1]["Q184"] = -2  # no answer
    rows[2]["Y003"] = -5  # missing (Y003 is substantive on -2..2)
    rows[3]["Q262"] = -2  # age not given
    rows[4]["Q288"] = -1  # income don't know
    rows[5]["Q57"] = -4  # not asked
    return rows


def write_csv(path: Path, rows: list[dict[str, object]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    return path


def frame(rows: list[dict[str, object]]):
    import pandas as pd

    df = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in COLUMNS:
        if column not in ("B_COUNTRY_ALPHA", "W_WEIGHT"):
            df[column] = df[column].astype("float64")  # SPSS/Stata numerics, as WVS ships them
    return df


def write_sav(path: Path, rows: list[dict[str, object]]) -> Path:
    """An SPSS file, with the WVS negatives declared as user-missing values (as WVS does)."""
    import pyreadstat

    missing = {c: [{"lo": -5, "hi": -1}] for c in (*VALUE_ITEMS, *DEMOGRAPHICS, *TARGETS) if c != "Y003"}
    missing["Y003"] = [-5.0]
    pyreadstat.write_sav(frame(rows), str(path), missing_ranges=missing)
    return path


def write_dta(path: Path, rows: list[dict[str, object]]) -> Path:
    import pyreadstat

    pyreadstat.write_dta(frame(rows), str(path))
    return path


def benchmark_rows(rows: list[dict[str, object]]) -> list[tuple[str, str, int, float]]:
    """(country, item, code, percent of valid answers, W_WEIGHT-weighted) per target question."""
    out = []
    for country in COUNTRIES:
        members = [r for r in rows if r["B_COUNTRY_ALPHA"] == country]
        for item, (low, high) in TARGETS.items():
            totals = {code: 0.0 for code in range(low, high + 1)}
            counts = dict.fromkeys(totals, 0)
            for r in members:
                code = int(r[item])  # type: ignore[arg-type]
                if code in totals:
                    counts[code] += 1
                    try:  # a test may break a weight on purpose; the benchmark stays defined
                        totals[code] += max(0.0, float(r["W_WEIGHT"]))  # type: ignore[arg-type]
                    except ValueError:
                        pass
            total = sum(totals.values())
            if total <= 0:
                totals, total = {c: float(n) for c, n in counts.items()}, float(sum(counts.values()))
            for code, weight in totals.items():
                out.append((country, item, code, round(100 * weight / total, 3)))
    return out


def write_benchmarks(path: Path, rows: list[dict[str, object]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["country", "item", "code", "value"])
        writer.writerows(benchmark_rows(rows))
    return path


SMALL_COUNTRIES = ("COL", "JOR", "JPN")


def small_study(root: Path, *, fmt: str = "csv", size: int = 4, n_per_country: int = 40,
                rows: list[dict[str, object]] | None = None,
                countries: tuple[str, ...] = SMALL_COUNTRIES) -> tuple[Path, Path]:
    """A small copy of ``specs/wvs_value_personas.sil`` in ``root``: every condition, three
    countries, two target questions (Q6, Q185), ``size`` personas per country; the synthetic
    respondents written as ``fmt`` (csv | sav | dta) and their own shares of Q6/Q185 in place
    of the WVS benchmarks. Returns (spec path, microdata path) - set ``WVS_MICRODATA`` to the latter."""
    import shutil

    repo = Path(__file__).resolve().parents[2]
    (root / "specs").mkdir(parents=True, exist_ok=True)
    shutil.copytree(repo / "data" / "wvs7", root / "data" / "wvs7", dirs_exist_ok=True)
    shutil.copy(repo / "silspec.toml", root / "silspec.toml")
    text = (repo / "specs" / "wvs_value_personas.sil").read_text(encoding="utf-8")
    replacements = {
        'countries = ["COL", "GBR", "JOR", "JPN", "PRI", "TWN"]': "countries = [" + ", ".join(f'"{c}"' for c in countries) + "]",
        "items = wvs7.*": "items = [wvs7.Q6, wvs7.Q185]",
        "size = 200": f"size = {size}",
    }
    for old, new in replacements.items():
        assert old in text, f"the shipped spec no longer says {old!r}: update tests/helpers/wvs_synthetic.py"
        text = text.replace(old, new)
    spec = root / "specs" / "wvs_value_personas.sil"
    spec.write_text(text, encoding="utf-8")
    rows = rows if rows is not None else build_rows(n_per_country)
    synthetic = {(c, i, str(code)): value for c, i, code, value in benchmark_rows(rows)}
    bench = root / "data" / "wvs7" / "value_personas_benchmarks.csv"
    with open(bench, newline="", encoding="utf-8") as handle:
        table = list(csv.reader(handle))
    for line in table[1:]:
        key = (line[0], line[1], line[2])
        if key in synthetic:
            line[3] = str(synthetic[key])
    with open(bench, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(table)
    writer = {"csv": write_csv, "sav": write_sav, "dta": write_dta}[fmt]
    data = writer(root / f"respondents.{fmt}", rows)
    return spec, data
