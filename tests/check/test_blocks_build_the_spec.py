"""The builder: what a valid spec means, as the plan compiler and the analysis will read it."""

from __future__ import annotations

import pytest

from silspec.spec.load import load_spec, load_text

from .golden import ENV, FIXTURES


@pytest.fixture(scope="module")
def kgss():
    result = load_spec(str(FIXTURES / "valid" / "kgss_like.sil"), env=ENV)
    assert result.ok, result.diagnostics
    return result.spec


@pytest.fixture(scope="module")
def wvs():
    result = load_spec(str(FIXTURES / "valid" / "wvs_like.sil"), env=ENV)
    assert result.ok, result.diagnostics
    return result.spec


def test_study_scales_and_items(kgss):
    assert (kgss.study.name, kgss.study.seed, kgss.study.language) == ("kgss_like", 42, "ko")
    assert kgss.study.meta["authors"] == ["A. Author", "B. Author"]
    trust = kgss.scales["trust3"]
    assert trust.codes == (1, 2, 3) and trust.missing_codes == (-8,) and trust.midpoint == 2
    assert kgss.scales["proud4"].label(-8) == "don't know" and kgss.scales["proud4"].midpoint == 3
    item = kgss.item("kgss.CONFINAN")
    assert item.text.startswith("금융기관") and item.fields == {"topic": "trust"}
    assert kgss.item("kgss.KRPROUD").text == "How proud are you of being Korean?\n(one number)\n"


def test_benchmarks(kgss):
    item = kgss.item("kgss.CONFINAN")
    codebook = item.benchmark("codebook")
    assert codebook.values == (17.3, 65.4, 16.5) and codebook.unit == "percent"
    assert codebook.missing_share == 0.7 and codebook.n == 1230 and item.default_benchmark == "codebook"
    paper = item.benchmark("paper")
    assert paper.renormalise and paper.unit == "percent" and paper.total == pytest.approx(103.0)
    proud = kgss.item("kgss.KRPROUD")
    assert proud.benchmark("paper").values == (0.3, 0.5, 0.15, 0.05) and proud.benchmark("paper").unit == "proportion"
    assert proud.benchmark("codebook").values == (30.0, 50.0, 15.0, 5.0)


def test_personas_and_population(kgss):
    schema = kgss.personas["quota"]
    assert [a.name for a in schema.attributes] == ["age_group", "gender", "region", "job"]
    age, gender, region, job = schema.attributes
    assert age.kind == "counts" and age.table == {(): (40.0, 60.0)}
    assert gender.given == ("age_group",) and gender.table[("60s",)] == (0.4, 0.6)
    assert region.kind == "shares" and region.values == ("capital", "other")
    assert job.kind == "choices" and job.given == ("age_group", "gender") and job.table[("60s", "m")][job.values.index("retired")] == 1.0
    pop = kgss.populations["sample"]
    assert (pop.schema, pop.size, pop.sampling, pop.seed) == ("quota", 100, "quota", 7)


def test_models_conditions_and_inheritance(kgss):
    gpt = kgss.models["gpt52"]
    assert gpt.params == {"temperature": 0.7, "max_tokens": 10} and gpt.api_key_env == "OPENAI_API_KEY"
    assert gpt.backoff.max_s == 60.0 and gpt.timeout_s == 30.0 and gpt.concurrency == 20
    clova = kgss.models["clova"]
    assert clova.params["thinking"] == "medium" and clova.delay_s == 0.5 and clova.rpm == 60
    base, child = kgss.conditions["baseline"], kgss.conditions["indigenous"]
    assert base.items == ("kgss.CONFINAN", "kgss.KRPROUD") and base.population == "sample"
    assert child.model == "clova" and child.extends == "baseline"
    assert (child.items, child.parser, child.prompt.source) == (base.items, base.parser, base.prompt.source)
    assert base.system.source == "당신은 설문조사 응답자입니다.\n질문에 숫자로만 답변하세요."
    assert kgss.parsers["first_integer"].on_invalid == "midpoint" and kgss.parsers["first_integer"].refusal == ("cannot answer", "as an ai")


def test_analysis(kgss):
    a = kgss.analysis
    assert a.benchmark == "codebook" and [m.name for m in a.metrics] == ["js", "ks", "chi2", "wasserstein"]
    assert a.metrics[0].options == {"log": "e"} and a.bootstrap.resamples == 1000 and a.bootstrap.seed == 1
    (cmp,) = a.comparisons
    assert (cmp.a, cmp.b, cmp.metrics, cmp.without) == ("baseline", "indigenous", ("js", "wasserstein"), ("KRPROUD",))
    assert a.report == {"compliance": True, "per_item": True, "plots": False}
    assert [f.path for f in kgss.files] == ["tests/fixtures/sil/valid/data/benchmarks.csv",
                                            "tests/fixtures/sil/valid/data/quotas.csv",
                                            "tests/fixtures/sil/valid/templates/persona.j2"]
    assert all(len(f.sha256) == 64 for f in kgss.files)


def test_wvs_like(wvs):
    assert wvs.scales["justifiable10"].codes == tuple(range(1, 11)) and wvs.scales["justifiable10"].low_label == "Never justifiable"
    assert not wvs.scales["party"].ordered
    roleplay = wvs.conditions["roleplay"]
    assert roleplay.countries == ("JPN", "COL") and roleplay.answers == "option_probs"
    assert wvs.conditions["roleplay_letters"].option_labels == "letters"
    assert wvs.parsers["digits"].extract == "regex" and wvs.parsers["digits"].reask == 2
    assert wvs.calibrations["tilt"].fit == "leave_one_out" and wvs.calibrations["fixed_t"].temperature == 1.5
    ft = wvs.finetunes["first_token_kl"]
    assert ft.train.countries == ("JPN", "COL") and ft.valid.countries == ("KOR",) and ft.learning_rate == 1e-4
    assert wvs.descriptors["ingle"].sentences["Q6"][4].startswith("Religion plays")
    assert wvs.analysis.calibrations[0].calibration == "tilt" and wvs.analysis.comparisons[0].by == "country"


HEAD = 'silspec 1\nstudy s { seed = 1 }\nscale s3 { 1 = "a"  2 = "b"  3 = "c" }\n'


@pytest.mark.parametrize(
    "body, code",
    [
        ('survey v { item Q { text = "q"  scale = s3  benchmark paper { values = [20, 50, 30]  unit = proportion } } }', "SIL402"),
        ('survey v { item Q { text = "q"  scale = s3  benchmark = { 1: 0.5, 2: 0.5, 7: 0.0 } } }', "SIL405"),
        ('survey v { item Q { text = "q"  scale = s3  benchmark = [-0.2, 0.7, 0.5] } }', "SIL408"),
        ('persona p { a = counts({ "x": 3 })  b = by(a, { "y": { "m": 1.0 } }) }', "SIL503"),
        ('persona p { a = counts({ "x": 3, "y": 4 }) }\npopulation q { persona = p  size = 10  sampling = quota }', "SIL504"),
        ('scale e { missing = [-1] }', "SIL411"),
        ('calibration c { method = tilt  temperature = 1 }', "SIL202"),
        ('model m { backend = openai  name = "x"  temperature = 3 }', "SIL203"),
        ('model m { backend = openai  name = "x"  delay = "slow" }', "SIL201"),
        ('study t { seed = 2 }', "SIL106"),
        ('analysis { metric jsd {} }', "SIL904"),
        ('parser p { extract = regex("(") }', "SIL203"),
    ],
)
def test_more_rules(body, code, tmp_path):
    (tmp_path / "silspec.toml").write_text("")
    result = load_text(HEAD + body + "\n", str(tmp_path / "x.sil"), env={})
    assert code in [d.code for d in result.diagnostics], result.diagnostics
