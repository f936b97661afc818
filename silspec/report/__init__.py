"""``Results`` → a report: Rich console, JSON, tidy CSV, Markdown (and manuscript blocks), HTML.

From a run directory: ``load`` (reload the bundled spec, read the current plan's answers,
analyse) and ``output`` (``write_report``, ``print_run_report``: the report in a format, to a
file or stdout).
"""
