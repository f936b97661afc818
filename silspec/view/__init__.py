"""`silspec view`: a local, offline web page that browses the answers of one or more runs.

Modules: ``rundir`` (what the viewer reads of a run directory), ``queries`` (read-only SQL on
the store, paged), ``prompts`` (prompt hash -> rendered messages, by recompiling the bundled
spec), ``plots`` (distributions beside the benchmark, from the analysis), ``server`` (the
standard library HTTP server and its JSON endpoints). ``assets/`` holds the page.
"""
