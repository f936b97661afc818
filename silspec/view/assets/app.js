// silspec view: a small vanilla front end over the viewer's JSON endpoints (no framework, no
// network beyond this server). One panel per run, side by side; each has its own filters.
"use strict";

const OUTCOMES = ["answered", "invalid", "refused", "error"];
const PAGE = 50;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function getJSON(url) {
  const response = await fetch(url, { cache: "no-store" });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function pct(x) { return x === null || x === undefined ? "n/a" : (100 * x).toFixed(1) + "%"; }
function short(id) { return id.includes(".") ? id.split(".").slice(1).join(".") : id; }
function fmt(x) { return typeof x === "number" ? (Math.abs(x) < 0.001 && x !== 0 ? x.toExponential(2) : x.toFixed(3)) : String(x); }

class RunPanel {
  constructor(run, root) {
    this.run = run;
    this.root = root;
    this.filters = { condition: "", item: "", outcome: "", persona: "" };
    this.attrs = {};
    this.offset = 0;
    this.tab = "answers";
    this.selected = null;
  }

  api(path, params) {
    const query = new URLSearchParams({ run: String(this.run.index), ...(params || {}) });
    return getJSON(`/api/${path}?${query}`);
  }

  label(itemId, code) {
    const item = this.run.items[itemId];
    if (!item || code === null || code === undefined) return "";
    const at = (item.codes || []).indexOf(Number(code));
    return at >= 0 ? item.labels[at] : "";
  }

  async render() {
    this.facets = await this.api("facets");
    this.root.replaceChildren();
    this.root.append(
      el("h2", {}, this.run.name, this.run.study ? el("span", { class: "muted" }, ` · ${this.run.study}`) : null),
      el("div", { class: "path" }, this.run.path),
      el("div", { class: "counts", "data-testid": "counts" },
        el("span", { class: "badge" }, `${this.facets.total} answers`),
        OUTCOMES.map((o) => el("span", { class: `badge ${o}` }, `${o} ${this.facets.outcomes[o] || 0}`)),
        this.facets.requested > this.facets.total
          ? el("span", { class: "badge" }, `${this.facets.requested - this.facets.total} asked, not stored yet`) : null),
      this.tabs(),
    );
    this.body = el("div");
    this.root.append(this.body);
    await this.show();
  }

  tabs() {
    const make = (name, text) => el("button", {
      type: "button", role: "tab", "aria-selected": String(this.tab === name), "data-tab": name,
      onclick: () => { this.tab = name; this.render(); },
    }, text);
    return el("div", { class: "tabs", role: "tablist" }, make("answers", "Answers"), make("plots", "Distributions"));
  }

  async show() {
    this.body.replaceChildren();
    if (this.tab === "plots") return this.showPlots();
    this.body.append(this.filterBar());
    this.tableBox = el("div");
    this.detailBox = el("div");
    this.body.append(this.tableBox, this.detailBox);
    await this.loadPage();
  }

  filterBar() {
    const select = (name, title, options) => {
      const node = el("select", { name, "data-filter": name, onchange: (e) => this.setFilter(name, e.target.value) },
        el("option", { value: "" }, "all"),
        options.map(([value, text]) => el("option", { value, selected: this.current(name) === value }, text)));
      return el("label", {}, title, node);
    };
    const countText = (counts, k, text) => `${text} (${counts[k] || 0})`;
    const bar = el("div", { class: "filters", "data-testid": "filters" },
      select("condition", "condition", Object.keys(this.facets.conditions).map((c) => [c, countText(this.facets.conditions, c, c)])),
      select("item", "item", Object.keys(this.facets.items).map((i) => [i, countText(this.facets.items, i, short(i))])),
      select("outcome", "outcome", OUTCOMES.map((o) => [o, countText(this.facets.outcomes, o, o)])),
      Object.entries(this.run.attributes).map(([attr, values]) =>
        select(`attr.${attr}`, attr, values.map((v) => [v, v]))),
      el("label", {}, "persona id", el("input", {
        name: "persona", "data-filter": "persona", value: this.filters.persona, placeholder: "e.g. P001",
        onchange: (e) => this.setFilter("persona", e.target.value.trim()),
      })),
    );
    return bar;
  }

  current(name) {
    return name.startsWith("attr.") ? (this.attrs[name.slice(5)] || "") : (this.filters[name] || "");
  }

  setFilter(name, value) {
    if (name.startsWith("attr.")) this.attrs[name.slice(5)] = value;
    else this.filters[name] = value;
    this.offset = 0;
    this.selected = null;
    this.detailBox.replaceChildren();
    this.loadPage();
  }

  query() {
    const params = { limit: String(PAGE), offset: String(this.offset) };
    for (const [k, v] of Object.entries(this.filters)) if (v) params[k] = v;
    for (const [k, v] of Object.entries(this.attrs)) if (v) params[`attr.${k}`] = v;
    return params;
  }

  csvUrl() {
    const params = { run: String(this.run.index), ...this.query() };
    delete params.limit;
    delete params.offset;
    return `/api/answers.csv?${new URLSearchParams(params)}`;
  }

  async loadPage() {
    let page;
    try { page = await this.api("answers", this.query()); }
    catch (error) { this.tableBox.replaceChildren(el("div", { class: "notice" }, `Could not read answers: ${error.message}`)); return; }
    const first = page.total ? page.offset + 1 : 0;
    const last = page.offset + page.rows.length;
    const rows = page.rows.map((row) => {
      const parsed = row.parsed_code === null ? (row.probs ? "probabilities" : "—")
        : `${row.parsed_code} ${this.label(row.item, row.parsed_code)}${row.defaulted ? " (filled)" : ""}`;
      const tr = el("tr", { "data-request": row.request_id, "data-outcome": row.outcome, onclick: () => this.openAnswer(row.request_id, tr) },
        el("td", {}, row.condition),
        el("td", { title: row.item }, short(row.item)),
        el("td", {}, row.persona),
        el("td", {}, row.replicate),
        el("td", {}, el("span", { class: `badge ${row.outcome}` }, row.outcome), row.dropped ? " dropped" : ""),
        el("td", {}, parsed),
        el("td", { class: "reason", title: row.reason || "" }, row.reason || ""),
        el("td", { class: "text", title: row.text || "" }, row.text === null ? el("span", { class: "muted" }, "(no text)") : row.text),
      );
      if (this.selected === row.request_id) tr.classList.add("selected");
      return tr;
    });
    const pager = el("div", { class: "pager", "data-testid": "pager" },
      el("button", { type: "button", disabled: page.offset === 0, onclick: () => { this.offset = Math.max(0, this.offset - PAGE); this.loadPage(); } }, "‹ previous"),
      el("span", { "data-testid": "range" }, `${first}–${last} of ${page.total}`),
      el("button", { type: "button", disabled: last >= page.total, onclick: () => { this.offset += PAGE; this.loadPage(); } }, "next ›"),
      el("a", { class: "download", "data-testid": "csv", href: this.csvUrl(), download: "" }, `download these ${page.total} answers (CSV)`),
    );
    this.tableBox.replaceChildren(...[pager, el("div", { class: "table-wrap" }, el("table", { "data-testid": "answers" },
      el("thead", {}, el("tr", {}, ["condition", "item", "persona", "rep", "outcome", "parsed", "reason", "reply"].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows))),
      page.total === 0 ? el("div", { class: "notice" }, "No answer matches these filters.") : null].filter(Boolean));
  }

  async openAnswer(requestId, tr) {
    this.selected = requestId;
    for (const node of this.tableBox.querySelectorAll("tr.selected")) node.classList.remove("selected");
    if (tr) tr.classList.add("selected");
    let a;
    try { a = await this.api("answer", { id: requestId }); }
    catch (error) { this.detailBox.replaceChildren(el("div", { class: "notice" }, error.message)); return; }
    const probs = a.probs || a.option_probs;
    const probRows = probs ? Object.entries(probs).sort((x, y) => Number(x[0]) - Number(y[0])).map(([code, p]) =>
      el("tr", {}, el("td", {}, code), el("td", {}, this.label(a.item, code)), el("td", {}, pct(p)))) : [];
    const attributes = Object.entries(a.persona_attributes || {});
    this.detailBox.replaceChildren(el("section", { class: "detail", "data-testid": "detail" },
      el("h3", {}, `${short(a.item)} · ${a.persona} · ${a.condition}`, el("span", { class: "muted" }, ` (replicate ${a.replicate})`)),
      el("div", { class: `reason-box ${a.outcome}`, "data-testid": "outcome" },
        el("span", { class: `badge ${a.outcome}` }, a.outcome), " ",
        el("span", { "data-testid": "reason" }, a.reason || (a.outcome === "answered" ? "answered as given" : "(no reason stored)")),
        a.defaulted ? el("div", {}, `counted as ${a.parsed_code} ${this.label(a.item, a.parsed_code)}: a policy fill (on_${a.outcome === "error" ? "error" : "invalid"})`) : null,
        a.dropped ? el("div", {}, "left out of the analysis by the parser's policy (drop)") : null),
      el("h4", {}, "Prompt"),
      a.messages ? a.messages.map((m) => el("div", { class: "message", "data-testid": "message" },
        el("div", { class: "role" }, m.role), el("pre", {}, m.content)))
        : el("div", { class: "notice" }, `The prompt cannot be shown: ${a.messages_missing}`),
      el("h4", {}, "Reply"),
      a.raw_text === null ? el("div", { class: "muted" }, "(no text came back)") : el("pre", { "data-testid": "reply" }, a.raw_text),
      el("h4", {}, "Parsed"),
      el("dl", {},
        el("dt", {}, "code"), el("dd", {}, a.parsed_code === null ? "—" : `${a.parsed_code} ${this.label(a.item, a.parsed_code)}`),
        a.valid_mass !== null && a.valid_mass !== undefined ? [el("dt", {}, "valid mass"), el("dd", {}, pct(a.valid_mass))] : null,
        el("dt", {}, "answer mode"), el("dd", {}, a.answers),
        el("dt", {}, "model"), el("dd", {}, `${a.model} (${a.model_id}${a.provider_model ? `, provider: ${a.provider_model}` : ""})`),
        el("dt", {}, "tokens"), el("dd", {}, a.prompt_tokens === null && a.completion_tokens === null ? "not recorded"
          : `${a.prompt_tokens ?? "?"} in, ${a.completion_tokens ?? "?"} out`),
        el("dt", {}, "request id"), el("dd", {}, el("code", {}, a.request_id)),
      ),
      probs ? el("table", { "data-testid": "probs" }, el("thead", {}, el("tr", {}, el("th", {}, "code"), el("th", {}, "label"), el("th", {}, a.probs ? "share counted" : "option probability"))), el("tbody", {}, probRows)) : null,
      attributes.length ? [el("h4", {}, "Persona"), el("dl", {}, attributes.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]))] : null,
      a.persona_text ? el("pre", {}, a.persona_text) : null,
      el("h4", {}, `Attempts (${a.attempt_rows.length})`),
      el("table", { "data-testid": "attempts" },
        el("thead", {}, el("tr", {}, ["#", "at", "status", "latency", "reply or error"].map((h) => el("th", {}, h)))),
        el("tbody", {}, a.attempt_rows.map((t) => el("tr", {},
          el("td", {}, t.attempt), el("td", {}, t.at), el("td", {}, t.error_status ?? ""),
          el("td", {}, t.latency_s === null ? "" : `${t.latency_s.toFixed(2)} s`),
          el("td", {}, t.error ? el("span", { class: "muted" }, t.error) : el("pre", {}, t.raw_text ?? "(no text)")))))),
    ));
    this.detailBox.scrollIntoView({ block: "nearest" });
  }

  async showPlots() {
    this.body.append(el("div", { class: "muted" }, "Computing the distributions (the report's analysis)…"));
    let data;
    try { data = await this.api("distributions"); }
    catch (error) { this.body.replaceChildren(el("div", { class: "notice" }, error.message)); return; }
    this.body.replaceChildren();
    if (data.error) { this.body.append(el("div", { class: "notice" }, `No distributions: ${data.error}`)); return; }
    const conditions = [...new Set(data.plots.map((p) => p.condition))];
    this.plotCondition = conditions.includes(this.plotCondition) ? this.plotCondition : conditions[0];
    const grid = el("div", { class: "plots", "data-testid": "plots" });
    const draw = () => grid.replaceChildren(...data.plots.filter((p) => p.condition === this.plotCondition).map((p) => plot(p)));
    this.body.append(
      el("div", { class: "filters" }, el("label", {}, "condition", el("select", { "data-plot-filter": "condition", onchange: (e) => { this.plotCondition = e.target.value; draw(); } },
        conditions.map((c) => el("option", { value: c, selected: c === this.plotCondition }, c))))),
      el("div", { class: "legend" },
        el("span", {}, el("span", { class: "swatch", style: "background: var(--sim)" }), "simulated (bars: 95% bootstrap interval)"),
        el("span", {}, el("span", { class: "swatch", style: "background: var(--bench)" }), "benchmark"),
        el("span", { class: "muted" }, `answers counted: ${data.variant.replace("_", " ")}`)),
      grid);
    draw();
    if (data.warnings.length) {
      this.body.append(el("details", { class: "warnings" }, el("summary", {}, `${data.warnings.length} report warnings`),
        el("ul", {}, data.warnings.map((w) => el("li", {}, `[${w.severity}] ${w.message}`)))));
    }
  }
}

// Width in Latin-letter units: Hangul, kana and CJK ideographs take about two.
function textWidth(text) {
  let w = 0;
  for (const ch of text) w += /[\u1100-\u11ff\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]/.test(ch) ? 1.9 : 1;
  return w;
}

// An axis label in at most three lines of `width` units; a word too long for a line is cut
// by characters, and the last line ends in "…" when the label does not fit.
function wrap(text, width, maxLines = 3) {
  const pieces = [];
  for (const word of String(text).split(/\s+/).filter(Boolean)) {
    let rest = word;
    while (textWidth(rest) > width) {
      let cut = "";
      for (const ch of rest) { if (textWidth(cut + ch) > width) break; cut += ch; }
      pieces.push(cut);
      rest = rest.slice(cut.length);
    }
    if (rest) pieces.push(rest);
  }
  const lines = [];
  let line = "";
  for (const piece of pieces) {
    const joined = line ? `${line} ${piece}` : piece;
    if (textWidth(joined) > width && line) { lines.push(line); line = piece; } else line = joined;
  }
  if (line) lines.push(line);
  if (lines.length > maxLines) {
    const kept = lines.slice(0, maxLines);
    kept[maxLines - 1] = kept[maxLines - 1].replace(/.$/u, "…");
    return kept;
  }
  return lines;
}

function plot(p) {
  const W = 360, H = 240, left = 38, right = 8, top = 10, bottom = 66;
  const n = p.codes.length;
  const values = [...(p.simulated || []), ...(p.benchmark || []), ...p.intervals.map((i) => i[1])].filter((v) => v !== null);
  const ymax = Math.min(1, Math.max(0.1, Math.ceil((Math.max(...values, 0) + 0.02) * 10) / 10));
  const y = (v) => top + (H - top - bottom) * (1 - v / ymax);
  const band = (W - left - right) / n;
  const bar = Math.min(26, band * 0.36);
  const parts = [];
  for (let t = 0; t <= ymax + 1e-9; t += ymax > 0.5 ? 0.2 : 0.1) {
    parts.push(svg("line", { x1: left, x2: W - right, y1: y(t), y2: y(t), stroke: "#e3e7eb" }),
      svg("text", { x: left - 4, y: y(t) + 4, "text-anchor": "end" }, `${Math.round(t * 100)}%`));
  }
  p.codes.forEach((code, i) => {
    const cx = left + band * (i + 0.5);
    const sim = p.simulated ? p.simulated[i] : null;
    const ben = p.benchmark ? p.benchmark[i] : null;
    if (sim !== null) parts.push(svg("rect", { x: cx - bar, y: y(sim), width: bar, height: y(0) - y(sim), fill: "#2f5d9e", "data-series": "simulated" },
      svg("title", {}, `${code} ${p.labels[i]}: simulated ${pct(sim)}`)));
    if (ben !== null) parts.push(svg("rect", { x: cx, y: y(ben), width: bar, height: y(0) - y(ben), fill: "#b7c3d0", "data-series": "benchmark" },
      svg("title", {}, `${code} ${p.labels[i]}: benchmark ${pct(ben)}`)));
    const interval = p.intervals[i];
    if (interval && sim !== null) {
      const x = cx - bar / 2;
      parts.push(svg("line", { x1: x, x2: x, y1: y(interval[0]), y2: y(interval[1]), stroke: "#0d223f", "stroke-width": 1.2 }));
    }
    const lines = wrap(p.labels[i] || "", Math.max(4, Math.floor(band / 6.2)));
    parts.push(svg("text", { x: cx, y: H - bottom + 14, "text-anchor": "middle", class: "axis-label", "data-code": code },
      svg("tspan", { x: cx, "font-weight": "bold" }, String(code)),
      lines.map((line, k) => svg("tspan", { x: cx, dy: k === 0 ? 13 : 12 }, line))));
  });
  parts.push(svg("line", { x1: left, x2: W - right, y1: y(0), y2: y(0), stroke: "#5e6873" }));
  const metrics = Object.entries(p.metrics).filter(([k]) => !k.endsWith("_dof")).slice(0, 4).map(([k, v]) => `${k} ${fmt(v)}`).join(" · ");
  return el("figure", { class: "plot", "data-item": p.item, "data-condition": p.condition },
    el("h3", {}, `${p.code}${p.country ? ` · ${p.country}` : ""}`, el("span", { class: "muted" }, ` · ${p.condition} · n=${p.n} · vs ${p.benchmark_name}`)),
    p.text ? el("div", { class: "question" }, p.text) : null,
    svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `${p.code}: simulated and benchmark shares per answer` }, parts),
    el("div", { class: "metrics" }, metrics));
}

async function main() {
  const root = document.getElementById("runs");
  let runs;
  try { runs = (await getJSON("/api/runs")).runs; }
  catch (error) { root.replaceChildren(el("div", { class: "notice" }, `Could not load the runs: ${error.message}`)); return; }
  root.style.setProperty("--n-runs", String(runs.length));
  document.getElementById("summary").textContent = runs.length === 1 ? "1 run" : `${runs.length} runs side by side`;
  const panels = runs.map((run) => {
    const node = el("section", { class: "run", "data-run": String(run.index) });
    root.append(node);
    return new RunPanel(run, node);
  });
  const renderAll = () => Promise.all(panels.map((p) => p.render().catch((error) =>
    p.root.replaceChildren(el("div", { class: "notice" }, `${p.run.path}: ${error.message}`)))));
  document.getElementById("refresh").addEventListener("click", renderAll);
  await renderAll();
  document.body.dataset.ready = "true";
}

main();
