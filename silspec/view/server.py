"""The viewer's HTTP server: one HTML page, its two assets and a few JSON endpoints.

Why the standard library's ``ThreadingHTTPServer``: the viewer is a local, single-user tool
that serves a handful of small JSON answers; the standard library is maintained with Python,
adds no dependency to install or audit, and works offline. Every request opens its own
read-only store connection, so threads never share one.

Endpoints (all GET; ``run`` is the run's index in the command line, 0 first):

- ``/api/runs``                      the runs, their study, conditions and persona attributes
- ``/api/facets?run=``               counts per condition, item and outcome
- ``/api/answers?run=&condition=&item=&outcome=&persona=&attr.NAME=&limit=&offset=``  one page
- ``/api/answer?run=&id=``           one answer, its attempts and its rendered prompt
- ``/api/distributions?run=``        per condition x item: shares, benchmark, answer labels
- ``/api/answers.csv?run=&...``      every answer the filters match, as CSV (streamed): the columns and
                                     cells of ``silspec report --answers``
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import mimetypes
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import parse_qs, urlsplit

from silspec.report import answers_table
from silspec.view import queries, rundir
from silspec.view.plots import PlotCache
from silspec.view.prompts import PromptIndex

ASSETS = ("index.html", "app.js", "app.css")
MAX_ATTRIBUTE_VALUES = 200  # a free-text attribute is not offered as a drop-down


class ViewRun:
    """One run directory as the page sees it: its store, prompts and plots, cached."""

    def __init__(self, index: int, run_dir: Path):
        self.index = index
        self.run_dir = run_dir
        self.store = rundir.store_path(run_dir)
        self.prompts = PromptIndex(run_dir)
        self.plots = PlotCache(run_dir)
        self._header: dict[str, Any] | None = None
        self._stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def header(self) -> dict[str, Any]:
        """The plan header, read again only when a later run rewrote it (a run in progress)."""
        with self._lock:
            stamp = rundir.plan_header_stamp(self.run_dir)
            if self._header is None or stamp != self._stamp:
                self._header = rundir.plan_header(self.run_dir)
                self._stamp = stamp
            return self._header

    def describe(self) -> dict[str, Any]:
        header = self.header()
        attributes: dict[str, set[str]] = {}
        for persona in (header.get("personas") or {}).values():
            for key, value in ((persona or {}).get("attributes") or {}).items():
                attributes.setdefault(key, set()).add(str(value))
        return {
            "index": self.index,
            "path": str(self.run_dir),
            "name": self.run_dir.name,
            "study": header.get("study", ""),
            "conditions": {name: {"model": c.get("model"), "answers": c.get("answers")}
                           for name, c in (header.get("conditions") or {}).items()},
            "items": {iid: {"code": i.get("code"), "text": i.get("text"), "codes": i.get("codes"),
                            "labels": i.get("labels")} for iid, i in (header.get("items") or {}).items()},
            "attributes": {k: sorted(v) for k, v in sorted(attributes.items()) if len(v) <= MAX_ATTRIBUTE_VALUES},
        }


class ViewServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], runs: Sequence[ViewRun]):
        super().__init__(address, ViewHandler)
        self.runs = list(runs)


class BadRequest(Exception):
    pass


class ExportError(Exception):
    """The answer table of a run cannot be built (its bundled spec is unreadable)."""


class ViewHandler(BaseHTTPRequestHandler):
    server: ViewServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: the terminal shows the URL only
        pass

    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        routes: dict[str, Callable[[dict[str, str]], Any]] = {
            "/api/runs": self._runs,
            "/api/facets": self._facets,
            "/api/answers": self._answers,
            "/api/answer": self._answer,
            "/api/distributions": self._distributions,
        }
        try:
            if url.path in ("/", "/index.html"):
                return self._asset("index.html")
            if url.path == "/favicon.ico":
                return self._send(b"", "image/x-icon", HTTPStatus.NO_CONTENT)
            if url.path.startswith("/assets/"):
                return self._asset(url.path.removeprefix("/assets/"))
            if url.path == "/api/answers.csv":
                return self._export(query)
            route = routes.get(url.path)
            if route is None:
                return self._json({"error": f"no such page: {url.path}"}, HTTPStatus.NOT_FOUND)
            return self._json(route(query))
        except BadRequest as error:
            return self._json({"error": str(error)}, HTTPStatus.BAD_REQUEST)
        except ExportError as error:
            return self._json({"error": str(error)}, HTTPStatus.INTERNAL_SERVER_ERROR)
        except LookupError as error:
            return self._json({"error": str(error.args[0] if error.args else error)}, HTTPStatus.NOT_FOUND)
        except Exception as error:  # noqa: BLE001 - the page shows it; the server keeps serving
            return self._json({"error": f"{type(error).__name__}: {error}"}, HTTPStatus.INTERNAL_SERVER_ERROR)

    # ------------------------------------------------------------------------ endpoints

    def _run(self, query: dict[str, str]) -> ViewRun:
        try:
            index = int(query.get("run", "0"))
        except ValueError as error:
            raise BadRequest(f"run must be a number, got {query.get('run')!r}") from error
        if not 0 <= index < len(self.server.runs):
            raise LookupError(f"no run {index}: this viewer shows {len(self.server.runs)}")
        return self.server.runs[index]

    def _runs(self, query: dict[str, str]) -> Any:
        return {"runs": [run.describe() for run in self.server.runs]}

    def _facets(self, query: dict[str, str]) -> Any:
        return queries.facets(self._run(query).store)

    def _filters(self, run: ViewRun, query: dict[str, str]) -> queries.Filters:
        wanted = {k.removeprefix("attr."): v for k, v in query.items() if k.startswith("attr.") and v}
        personas = None
        if wanted:
            personas = queries.persona_ids_matching(run.header().get("personas") or {}, wanted)
        return queries.Filters(condition=query.get("condition", ""), item=query.get("item", ""),
                               outcome=query.get("outcome", ""), persona=query.get("persona", ""),
                               personas=personas)

    def _answers(self, query: dict[str, str]) -> Any:
        run = self._run(query)
        filters = self._filters(run, query)
        try:
            limit = int(query.get("limit") or queries.DEFAULT_PAGE)
            offset = int(query.get("offset") or 0)
        except ValueError as error:
            raise BadRequest("limit and offset must be whole numbers") from error
        return queries.page_of_answers(run.store, filters, limit=limit, offset=offset)

    def _answer(self, query: dict[str, str]) -> Any:
        run = self._run(query)
        request_id = query.get("id", "")
        answer = queries.one_answer(run.store, request_id)
        if answer is None:
            raise LookupError(f"no answer {request_id!r} in {run.run_dir}")
        messages, why = run.prompts.messages(answer["condition"], answer.get("prompt_hash") or "")
        persona = (run.header().get("personas") or {}).get(answer["persona"]) or {}
        answer.update(messages=messages, messages_missing=why or None,
                      persona_attributes=persona.get("attributes") or {}, persona_text=persona.get("text"))
        return answer

    def _distributions(self, query: dict[str, str]) -> Any:
        return self._run(query).plots.payload()

    def _export(self, query: dict[str, str]) -> None:
        """The filtered answers as CSV, streamed: the columns and cells of ``silspec report
        --answers`` (``silspec.report.answers_table``), the rows the filters match in the store."""
        run = self._run(query)
        filters = self._filters(run, query)
        personas = run.header().get("personas") or {}
        attributes = sorted({k for p in personas.values() for k in ((p or {}).get("attributes") or {})})
        try:  # the cost column reads the run's models' prices, as the CLI's table does
            prices = answers_table.model_prices(rundir.load_bundled_spec(run.run_dir))
        except Exception as error:  # noqa: BLE001 - any spec the bundle cannot give back
            raise ExportError(f"the run's bundled spec cannot be read, so its answer table (with"
                              f" costs) cannot be built: {error}") from error
        columns = [name for name, _ in answers_table.answer_columns(attributes)]
        records = queries.iter_export_records(run.store, filters)
        rows = answers_table.answer_rows(records, personas, attributes, prices)
        first = next(rows, None)  # a store that cannot be read fails here, before any header is sent
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/csv; charset=utf-8")
        self.send_header("Content-Disposition", f'attachment; filename="{run.run_dir.name}-answers.csv"')
        self.send_header("Cache-Control", "no-store")
        self.end_headers()  # no Content-Length: HTTP/1.0, the body ends when the connection closes
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for row in itertools.chain([first] if first is not None else [], rows):
            writer.writerow(answers_table.csv_cells(row))
            if buffer.tell() > 64_000:
                self.wfile.write(buffer.getvalue().encode("utf-8"))
                buffer.seek(0)
                buffer.truncate()
        self.wfile.write(buffer.getvalue().encode("utf-8"))

    # -------------------------------------------------------------------------- writing

    def _asset(self, name: str) -> None:
        if name not in ASSETS:
            return self._json({"error": f"no such asset: {name}"}, HTTPStatus.NOT_FOUND)
        body = resources.files("silspec.view").joinpath("assets", name).read_bytes()
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        self._send(body, f"{kind}; charset=utf-8")

    def _json(self, payload: Any, status: HTTPStatus = HTTPStatus.OK) -> None:
        body = json.dumps(_finite_json(payload), ensure_ascii=False, allow_nan=False, default=str).encode("utf-8")
        self._send(body, "application/json; charset=utf-8", status)

    def _send(self, body: bytes, kind: str, status: HTTPStatus = HTTPStatus.OK) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")  # a refresh shows a run in progress
        self.end_headers()
        self.wfile.write(body)


def _finite_json(value: Any) -> Any:
    """NaN and infinity as ``null``: the browser's JSON.parse rejects them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_json(v) for v in value]
    return value


def make_server(run_dirs: Sequence[str | Path], *, host: str = "127.0.0.1", port: int = 0) -> ViewServer:
    """A server for ``run_dirs`` bound to ``host:port`` (0: a free port); not yet serving."""
    runs = [ViewRun(i, Path(d)) for i, d in enumerate(run_dirs)]
    return ViewServer((host, port), runs)
