"""The HTML page is self-contained and escaped."""

import base64
from html.parser import HTMLParser
import re

import pytest

from silspec.report.html import markdown_table_to_html, to_html

from small_results import small_results


def test_self_contained_with_one_png_per_item():
    page = to_html(small_results())
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 3
    assert base64.b64decode(images[0]).startswith(b"\x89PNG")
    assert "http://" not in page and "https://" not in page
    assert "A &lt;small&gt; study" in page and "<small>" not in page
    assert 'class="warn-high"' in page


def test_markdown_table_cells_are_escaped():
    html = markdown_table_to_html("| a | b |\n| --- | --- |\n| <x> | 1 \\| 2 |\n")
    assert "<td>&lt;x&gt;</td><td>1 | 2</td>" in html


def test_item_plot_legend_sits_outside_the_axes_and_bars_carry_error_bars():
    import matplotlib.pyplot as plt

    from silspec.report.html import _rows_by_item, item_figure

    results = small_results()
    item, rows = next(iter(_rows_by_item(results).items()))
    assert all(len(row.share_intervals) == len(row.codes) for row in rows)
    figure = item_figure(item, rows)
    try:
        figure.canvas.draw()
        renderer = figure.canvas.get_renderer()
        (axes,) = figure.axes
        legend = figure.legends[0].get_window_extent(renderer)
        assert legend.y0 >= axes.get_window_extent(renderer).y1  # above the plot, covering no bar
        with_errors = [c for c in axes.containers if getattr(c, "errorbar", None) is not None]
        assert len(with_errors) == len(rows)  # every condition, not the benchmark
        low, high = rows[0].share_intervals[1]
        segments = with_errors[0].errorbar.lines[2][0].get_segments()
        assert segments[1][:, 1] == pytest.approx([low * 100, high * 100])
    finally:
        plt.close(figure)


def test_page_explains_the_error_bars():
    page = to_html(small_results())
    assert "Error bars: 95% bootstrap percentile interval" in page and "200 resamples" in page


class _Outline(HTMLParser):
    """The page's structure as a reader meets it: sections, details, figures, in document order."""

    def __init__(self):
        super().__init__()
        self.order: list[str] = []
        self.details: list[dict] = []
        self._summary_of = None
        self.captions: list[str] = []
        self._in_caption = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.order.append(attrs.get("id", "?"))
        elif tag == "h2":
            self.order.append("h2")
        elif tag == "details":
            self.details.append({"open": "open" in attrs, "kind": attrs.get("data-kind"), "summary": ""})
        elif tag == "summary" and self.details:
            self._summary_of = self.details[-1]
        elif tag == "figcaption":
            self._in_caption = True
            self.captions.append("")

    def handle_endtag(self, tag):
        if tag == "summary":
            self._summary_of = None
        elif tag == "figcaption":
            self._in_caption = False

    def handle_data(self, data):
        if self._summary_of is not None:
            self._summary_of["summary"] += data
        if self._in_caption:
            self.captions[-1] += data


def test_summary_first_then_warnings_grouped_by_kind_and_folded():
    results = small_results()
    outline = _Outline()
    outline.feed(to_html(results))
    assert outline.order[:2] == ["summary", "h2"]  # the summary section, with its title
    assert outline.order.index("summary") < outline.order.index("warnings") < outline.order.index("h2", 3)
    kinds = list(dict.fromkeys(w.kind for w in results.warnings))
    assert [d["kind"] for d in outline.details] == kinds  # one group per kind, loud first
    assert not any(d["open"] for d in outline.details)
    defaults = next(d for d in outline.details if d["kind"] == "defaults")
    count = sum(w.kind == "defaults" for w in results.warnings)
    assert defaults["summary"] == f"defaults: {count} (high)"


def test_summary_holds_the_headline_metrics_and_compliance():
    results = small_results()
    page = to_html(results)
    summary = page.split('<section id="summary">', 1)[1].split("</section>", 1)[0]
    js_b = [r.values["js"] for r in results.item_metrics("b") if "js" in r.values]
    assert f"<td>{sum(js_b) / len(js_b):.3f}</td>" in summary
    compliance_b = [c for c in results.compliance if c.condition == "b"]
    defaulted = sum(c.defaulted for c in compliance_b) / sum(c.n for c in compliance_b)
    assert f'<td class="loud">{defaulted * 100:.0f} %</td>' in summary  # over 10 %: loud
    from silspec.report.format import comparison_title, improvement_text

    (comparison,) = [c for c in results.comparisons if c.variant == "with_defaults"]
    assert f"{comparison_title(comparison)}: " in summary and improvement_text(comparison.improvement_of_means) in summary


def test_figures_carry_answer_labels_and_axis_titles():
    import matplotlib.pyplot as plt

    from silspec.report.html import _labels_by_item, _rows_by_item, item_figure

    results = small_results()
    outline = _Outline()
    outline.feed(to_html(results))
    assert outline.captions[0] == "Q1: 1 = l1, 2 = l2, 3 = l3, 4 = l4"
    item, rows = next(iter(_rows_by_item(results).items()))
    figure = item_figure(item, rows, _labels_by_item(results)[(rows[0].item, None)])
    try:
        (axes,) = figure.axes
        assert [t.get_text() for t in axes.get_xticklabels()] == ["1\nl1", "2\nl2", "3\nl3", "4\nl4"]
        assert axes.get_xlabel() == "answer (code and label)" and axes.get_ylabel() == "share of answers (%)"
        assert all(t.get_fontsize() >= 8 for t in figure.legends[0].get_texts())
    finally:
        plt.close(figure)


def test_long_labels_wrap_on_two_lines_at_most():
    from silspec.report.html import tick_labels

    (label,) = tick_labels([1], ["strongly agree with the statement as written"])
    assert label.split("\n")[0] == "1" and len(label.split("\n")) == 3 and label.endswith("…")


def test_a_group_of_several_severities_counts_each():
    from silspec.analysis.results import Warning
    from silspec.report.html import warnings_html

    page = warnings_html([Warning("benchmark_renormalised", "high", "over 100"),
                          Warning("benchmark_renormalised", "info", "short, dropped"),
                          Warning("benchmark_renormalised", "info", "short, dropped too")])
    assert '<details class="warn-group high"' in page
    assert "<summary>benchmark renormalised: 3 (1 high, 2 info)</summary>" in page
