"""`report { diversity = true }`: the console shows the model's and the survey's country
diversity side by side, and a report without it shows no such table."""

from __future__ import annotations

from rich.console import Console

from silspec.analysis.results import DiversityRow, Results, StudyHeader
from silspec.report.console import print_report


def _printed(results: Results) -> str:
    console = Console(record=True, width=160)
    print_report(results, console)
    return console.export_text()


def test_diversity_table_lists_model_beside_survey():
    rows = (DiversityRow("ft_africa", "wvs7.Q1", "with_defaults", 8, model=0.9, survey=0.7),
            DiversityRow("ft_africa", "wvs7.Q2", "with_defaults", 8, model=0.8, survey=0.6))
    text = _printed(Results(study=StudyHeader(name="s"), diversity=rows))
    assert "Country diversity" in text
    line = next(line for line in text.splitlines() if line.lstrip("│ ").startswith("ft_africa"))
    assert "0.850" in line and "0.650" in line and "0.200" in line


def test_no_diversity_table_unless_asked():
    assert "Country diversity" not in _printed(Results(study=StudyHeader(name="s")))


def test_diversity_rows_survive_the_json_round_trip():
    rows = (DiversityRow("a", "s.Q1", "with_defaults", 3, model=0.9, survey=0.8),)
    results = Results(study=StudyHeader(name="s"), diversity=rows)
    data = results.to_dict()
    assert data["diversity"][0]["survey"] == 0.8
    assert Results.from_dict(data) == results


def test_markdown_and_html_show_the_same_diversity_row():
    from silspec.report.export import to_markdown
    from silspec.report.html import to_html

    rows = (DiversityRow("ft_africa", "wvs7.Q1", "with_defaults", 8, model=0.9, survey=0.7),
            DiversityRow("ft_africa", "wvs7.Q2", "with_defaults", 8, model=0.8, survey=0.6))
    results = Results(study=StudyHeader(name="s"), diversity=rows)
    md = to_markdown(results)
    assert "## Country diversity" in md
    assert "| ft_africa | with_defaults | 2 | 0.850 | 0.650 | 0.200 |" in md
    page = to_html(results, plots=False)
    assert "<h2>Country diversity</h2>" in page and "0.650" in page
    assert "Country diversity" not in to_markdown(Results(study=StudyHeader(name="s")))
