"""Every diagnostic code silspec emits: its severity, a title, a default hint, a docs anchor.

One table that tests, docs and emitters agree on. ``Diagnostic`` refuses a code that is not
here, or a severity the code does not allow, so a new finding cannot ship without an entry;
``tests/lang/test_codes.py`` holds every entry to a golden fixture (or a named test) and to a
heading in ``docs/diagnostics.md``. A leaf: it imports nothing from silspec but the severity type.

``severity`` is the code's usual severity; ``also`` lists the others an emitter may choose
(``SIL105`` is a warning for a missing ``study.seed``, an error for any other missing key).
``hint`` is the fallback the checker shows when the emitter has nothing more specific to say.
Emitters take the severity from here (``ctx.report``, ``lang.diagnostics.diagnostic``) unless
the code takes several (``ctx.error`` / ``ctx.warning`` / ``ctx.info`` then choose).
"""

from __future__ import annotations

from attrs import frozen

from silspec.lang.span import Severity

DOCS_PAGE = "docs/diagnostics.md"


@frozen
class Code:
    code: str
    severity: Severity
    title: str
    hint: str | None = None
    also: tuple[Severity, ...] = ()

    @property
    def anchor(self) -> str:
        """``docs/diagnostics.md#sil101``: the heading that explains this code."""
        return f"{DOCS_PAGE}#{self.code.lower()}"

    def allows(self, severity: str) -> bool:
        return severity == self.severity or severity in self.also


def _c(code: str, severity: Severity, title: str, hint: str | None = None, also: tuple[Severity, ...] = ()) -> Code:
    return Code(code, severity, title, hint, also)


_ALL = (
    # ------------------------------------------------------------------ SIL0xx: reading and syntax
    _c("SIL000", "error", "internal error (a bug), reported instead of a traceback"),
    _c("SIL001", "error", "syntax: unexpected token"),
    _c("SIL002", "error", "syntax: unexpected character, an unknown unit after a number, or a non-ASCII name"),
    _c("SIL003", "error", "syntax: unexpected end of file"),
    _c("SIL004", "error", "missing `silspec 1` header"),
    _c("SIL005", "error", "unsupported language version"),
    _c("SIL006", "error", "unknown escape in a string"),
    _c("SIL007", "error", "the spec nests too deeply"),
    _c("SIL008", "error", "spec file missing, unreadable, not a regular file, too long, or not UTF-8"),
    # ------------------------------------------------------------------ SIL1xx: structure
    _c("SIL101", "error", "unknown block, or an entry in the wrong place", "see docs/language.md for the blocks of a spec"),
    _c("SIL102", "error", "unknown key"),
    _c("SIL103", "error", "duplicate block name"),
    _c("SIL104", "error", "duplicate key"),
    _c("SIL105", "error", "a required key or block is missing",
       "add the missing key or block (docs/language.md lists what each block needs)", also=("warning",)),
    _c("SIL106", "error", "no study block, or more than one study or analysis block"),
    _c("SIL107", "error", "a block name is required, or forbidden"),
    _c("SIL108", "error", "`extends` on a block that is not a condition"),
    # ------------------------------------------------------------------ SIL2xx: types and values
    _c("SIL201", "error", "type error", "see docs/language.md for the type of this key"),
    _c("SIL202", "error", "value not one of the allowed words", "see docs/language.md for the allowed values"),
    _c("SIL203", "error", "value out of range (including the size bounds)",
       "change the value to one inside the allowed range", also=("warning",)),
    _c("SIL204", "error", "a unit where a plain number is expected, or a missing unit"),
    _c("SIL205", "error", "the design would plan over 100,000,000 requests"),
    # ------------------------------------------------------------------ SIL3xx: references
    _c("SIL301", "error", "undefined reference"),
    _c("SIL302", "error", "`extends` cycle"),
    _c("SIL303", "warning", "a condition lists a country code missing from the study's `countries`"),
    # ------------------------------------------------------------------ SIL4xx: scales and benchmarks
    _c("SIL401", "error", "benchmark length does not match the scale"),
    _c("SIL402", "error", "benchmark shares over 100 %"),
    _c("SIL403", "warning", "benchmark short of 100 % with a declared missing share: renormalised"),
    _c("SIL404", "error", "benchmark shares short of 100 %"),
    _c("SIL405", "error", "benchmark codes that the scale does not have"),
    _c("SIL406", "warning", "`benchmark_labels` differ from the labels shown to the model"),
    _c("SIL407", "error", "no table rows match a benchmark or attribute filter", also=("warning",)),
    _c("SIL408", "error", "negative benchmark shares", "shares cannot be negative"),
    _c("SIL409", "error", "a named benchmark is missing on an item, or an item has several defaults", also=("warning",)),
    _c("SIL410", "info", "a benchmark is renormalised as declared"),
    _c("SIL411", "error", "a scale without substantive codes"),
    _c("SIL412", "warning", "an item without a benchmark"),
    _c("SIL413", "warning", "condition x country x item cells with no benchmark under the analysis' name"),
    _c("SIL414", "error", "a benchmark table gives one code twice under the same filter values"),
    _c("SIL415", "info", "a benchmark whose declared `missing` share closes the gap: renormalised as declared"),
    # ------------------------------------------------------------------ SIL42x: microdata populations
    _c("SIL420", "error", "a microdata file (CSV, SPSS .sav, Stata .dta) that cannot be read",
       "silspec reads CSV, SPSS .sav/.zsav and Stata .dta"),
    _c("SIL421", "error", "a column the population names is not in its microdata file"),
    _c("SIL422", "error", "a microdata column of the wrong type (a weight or answer code that is text)"),
    _c("SIL424", "info", "what sampling a row population dropped or could not describe (missing answers, weight-0 rows)"),
    _c("SIL425", "warning", "a descriptor table row with no text (a failed generation, or left blank)"),
    # ------------------------------------------------------------------ SIL44x: curves and ablations
    _c("SIL440", "error", "`curve` over a condition without personas", "draw the curve over a condition with a population"),
    _c("SIL442", "error", "`curve` sizes not positive and increasing", "e.g. `sizes = [1, 2, 5, 10, 20, 50]`"),
    _c("SIL443", "warning", "`curve` sizes above the population's size"),
    _c("SIL445", "error", "`ablation` over a condition without descriptor personas",
       "ablate a condition whose population has `descriptors = ...`"),
    _c("SIL446", "error", "`ablation` item that is not a descriptor item"),
    _c("SIL447", "error", "`ablation` over more than 10 items without `permutations`",
       "ablate at most 10 items exactly (2^k subsets), or sample orders with `permutations = N`"),
    _c("SIL448", "info", "the size of an ablation (subset conditions × requests)"),
    _c("SIL450", "error", "`ablation` with fewer than 2 items, or one twice"),
    _c("SIL451", "error", "an ablation's generated condition name is taken"),
    # SIL46x: subgroup and joint analyses (`subgroups ATTR { ... }`, `joint NAME { ... }` in `analysis`)
    _c("SIL460", "error", "`subgroups` groups by an attribute the population does not have"),
    _c("SIL461", "warning", "subgroup benchmark groups the population never produces"),
    _c("SIL462", "warning", "population groups without a subgroup benchmark row"),
    _c("SIL463", "error", "`subgroups` or `joint` names an unknown item", "name items as `survey.ITEM`"),
    _c("SIL464", "error", "a subgroup benchmark table is malformed (columns, codes, values, duplicates)"),
    _c("SIL465", "error", "`joint` needs exactly two different items"),
    _c("SIL466", "error", "a joint benchmark table is malformed (columns, cells, values)"),
    _c("SIL467", "warning", "`subgroups`/`joint` items that no condition asks (together, with personas)"),
    _c("SIL468", "info", "a `joint` pair without a benchmark cross-tabulation: association shown, no distance"),
    _c("SIL469", "info", "`replicates` over personas that do not change between replicates"),
    _c("SIL470", "warning", "subgroup or joint shares (percent or proportion) that do not sum to 100 %: renormalised"),
    _c("SIL480", "error", "a `unit = count` benchmark value that is not a whole number"),
    _c("SIL481", "error", "a percentage in a `unit = count` benchmark"),
    _c("SIL482", "error", "a count benchmark's declared `n` differs from its counts plus `missing`"),
    _c("SIL483", "error", "a benchmark list mixing percentages and plain numbers"),
    # ------------------------------------------------------------------ SIL5xx: personas and populations
    _c("SIL501", "error", "attribute shares do not sum to 1", "give at least one value with a positive share"),
    _c("SIL502", "error", "a conditioning attribute is undefined or declared later"),
    _c("SIL503", "error", "a conditional attribute table is incomplete"),
    _c("SIL504", "error", "quota counts do not add up to the population size", also=("warning",)),
    _c("SIL505", "error", "an attribute table gives one value twice under the same conditioning values"),
    # ------------------------------------------------------------------ SIL6xx: templates
    _c("SIL601", "error", "template variable undefined"),
    _c("SIL602", "error", "template syntax error"),
    _c("SIL603", "error", "template reaches Python internals, or the sandbox refuses it"),
    _c("SIL604", "error", "template fails to render", "render the template by hand with a sample persona to see what fails"),
    _c("SIL605", "warning", "a template shows `country_name` but the study names no country for some codes"),
    _c("SIL606", "error", "a template exceeds a resource limit"),
    # ------------------------------------------------------------------ SIL7xx: files
    _c("SIL701", "error", "file missing", "check the path"),
    _c("SIL702", "error", "file outside the spec tree"),
    _c("SIL703", "warning", "external input not provided"),
    _c("SIL704", "error", "unreadable table or template, malformed CSV, or missing column",
       "fix the table file (UTF-8 CSV with a header row)"),
    # ------------------------------------------------------------------ SIL8xx: models and answers
    _c("SIL801", "error", "literal `api_key`, or `api_key = env(VAR)` whose name does not look like a key"),
    _c("SIL802", "error", "unknown backend"),
    _c("SIL803", "error", "answer mode the backend cannot serve"),
    _c("SIL804", "error", "option tokens collide"),
    _c("SIL805", "info", "the scale-midpoint default is in use for invalid answers"),
    _c("SIL806", "warning", "`on_error = midpoint` invents answers for failed requests"),
    _c("SIL808", "warning", "`samples > 1` with option probabilities repeats identical calls"),
    _c("SIL809", "warning", "`answers = verbalised` with too few tokens for the stated distribution"),
    _c("SIL810", "error", "`adapter` on a model whose backend is not `hf`"),
    _c("SIL811", "error", "a finetune whose `base` model itself loads an adapter"),
    _c("SIL812", "warning", "an adapter model's weights differ from its finetune's `base`"),
    _c("SIL820", "error", "an `option_probs` prompt does not show the option labels it scores"),
    _c("SIL821", "error", "option labels sharing a prefix through `openai` without `prompt_logprobs = true`"),
    _c("SIL822", "error", "`prompt_logprobs` not true/false, or on a backend other than `openai`"),
    _c("SIL823", "error", "`option_order = shuffled` or `reversed`, but the prompt lists the options in scale order"),
    _c("SIL830", "error", "a finetune split that declares `unseen` countries or items shares them with the train split"),
    # ------------------------------------------------------------------ SIL9xx: analysis, overrides, locks
    _c("SIL901", "error", "ordinal metric on an unordered scale"),
    _c("SIL902", "error", "`compare` or `calibrate` names the same condition twice", "compare two different conditions"),
    _c("SIL903", "error", "a metric used but not declared"),
    _c("SIL904", "error", "unknown metric"),
    _c("SIL905", "warning", "train and test splits share countries and items"),
    _c("SIL906", "info", "no analysis block"),
    _c("SIL907", "warning", "`bootstrap` with fewer than 200 resamples"),
    _c("SIL908", "warning", "`compare` over conditions asking different items or countries"),
    _c("SIL909", "error", "`compare` over several countries without `by country`"),
    _c("SIL910", "error", "a metric setting nothing reads"),
    _c("SIL920", "error", "a pilot criterion out of range"),
    _c("SIL921", "warning", "a pilot too small for its bootstrap interval to decide"),
    _c("SIL922", "warning", "a pilot not smaller than a condition's population"),
    _c("SIL930", "error", "`batch` not true/false"),
    _c("SIL931", "error", "`batch = true` on a backend without a batch API"),
    _c("SIL932", "error", "`batch = true` for option labels that need full-string scoring"),
    _c("SIL933", "warning", "`batch = true` with `rpm`, `tpm` or `delay`, which do not apply"),
    _c("SIL951", "error", "bad `--set` key"),
    _c("SIL952", "error", "bad `--set` value"),
    _c("SIL960", "warning", "the spec no longer matches its lock (an error with `--frozen`)", also=("error",)),
    _c("SIL961", "error", "`--frozen` and no lock file beside the spec"),
    _c("SIL962", "warning", "the lock file cannot be read", also=("error",)),
    _c("SIL963", "warning", "the plan cannot be compiled to compare with the lock", also=("error",)),
    _c("SIL970", "error", "`lint --check-env`: an API key variable is not set"),
    _c("SIL971", "error", "`lint --check-env`: a model's base URL does not accept a connection"),
    _c("SIL972", "error", "`lint --check-env`: a model's weights package is not installed"),
)

CODES: dict[str, Code] = {c.code: c for c in _ALL}


def lookup(code: str) -> Code:
    """The registry entry of ``code``; a KeyError naming the registry for an unknown one."""
    try:
        return CODES[code]
    except KeyError:
        raise KeyError(f"diagnostic code {code!r} is not registered in silspec/lang/codes.py") from None


def default_hint(code: str) -> str | None:
    entry = CODES.get(code)
    return entry.hint if entry else None
