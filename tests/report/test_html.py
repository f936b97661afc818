"""The HTML page is self-contained and escaped."""

import base64
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
