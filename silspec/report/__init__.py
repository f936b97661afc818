"""``Results`` → a report: Rich console, JSON, tidy CSV, Markdown (and manuscript blocks), HTML.

``report_run_dir`` / ``render_console`` (in ``silspec.report.render``) start from a run directory.
"""
