"""The runner's setup error, shared by the runner and the run directory (``rundir``)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence


class RunSetupError(Exception):
    """The run could not start: the spec does not load, the plan cannot compile, bad options.

    ``diagnostics``/``sources`` carry the loader's findings so the CLI can render them.
    ``exit_code`` is what ``silspec run`` returns: 1 for a spec with errors (as ``silspec plan``
    does), 2 for usage and setup errors (a missing file, a busy run folder).
    """

    def __init__(self, message: str, *, diagnostics: Sequence[Any] = (), sources: Mapping[str, str] | None = None,
                 exit_code: int = 2):
        super().__init__(message)
        self.diagnostics = tuple(diagnostics)
        self.sources = dict(sources or {})
        self.exit_code = exit_code
