"""The HTML page is self-contained and escaped."""

import base64
import re

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
