"""report.html: the comparison as one self-contained page, with inline CSS, SVG and script.

The page fetches nothing and refers to no other file, so it works from disk and inside the
MLflow UI's sandboxed artifact viewer. Every text that comes from a run (estimator names,
params, tags) is HTML-escaped; numbers are formatted here.
"""

import math
from datetime import datetime, timezone
from html import escape

from ..tracking import tags
from ..tracking.runs import LATENCY
from . import evaluation

TOP_MODELS = 3  # predicted-vs-actual and residual plots for this many best runs
BARS = [
    ("test_r2_score", "R2 score by Estimator"),
    ("test_mean_absolute_error", "Mean absolute error by Estimator"),
    ("test_root_mean_squared_error", "RMSE by Estimator"),
    ("fit_seconds", "Fit seconds by Estimator"),
    (LATENCY, "Predict ms per 1,000 rows by Estimator"),
]
COLORS = ["#3b6ea8", "#d1495b", "#2e8b57", "#8e5ea2", "#e08e0b"]
WIDTH = 640  # scatter plots; the bar and strip charts are narrower, to sit three abreast
NARROW = 480

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #1d2733; max-width: 1400px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.meta { color: #4a5663; } code { font-size: 12px; background: #eef1f4; padding: 1px 4px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid #dde2e7; text-align: right; }
th { cursor: pointer; user-select: none; background: #f3f5f7; vertical-align: bottom; }
th:hover { background: #e4e9ee; }
th[aria-sort=ascending]::after { content: " \\25B2"; }
th[aria-sort=descending]::after { content: " \\25BC"; }
td.text, th.text { text-align: left; }
td.id { font-family: monospace; font-size: 12px; }
th span { display: inline-block; max-width: 10em; }  /* long names wrap at '_' */
.charts { display: grid; gap: 16px;
          grid-template-columns: repeat(auto-fill, minmax(min(100%, 380px), 480px)); }
.wide { overflow-x: auto; }
.pairs { display: grid; gap: 16px;  /* two abreast, or one per row in a narrow frame */
         grid-template-columns: repeat(auto-fill, minmax(min(100%, 420px), 1fr)); }
svg.chart { width: 100%; max-width: 640px; height: auto; background: #fff;
            border: 1px solid #e4e9ee; }
svg text { font: 12px system-ui, sans-serif; fill: #1d2733; }
svg .title { font-size: 14px; font-weight: 600; } svg .axis { stroke: #8a96a3; }
svg .grid { stroke: #eef1f4; } svg .ref { stroke: #8a96a3; stroke-dasharray: 4 3; }
.note { color: #6b7785; }
"""

SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th, col) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0];
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].getAttribute("data-sort"), y = b.cells[col].getAttribute("data-sort");
      if (x === "" || y === "") { return (x === "") - (y === ""); }  /* blanks last */
      var nx = Number(x), ny = Number(y);
      var order = isNaN(nx) || isNaN(ny) ? x.localeCompare(y) : nx - ny;
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""


def number(value, digits=4):
    """``value`` to ``digits`` decimals; a dash for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "\u2014"
    return f"{value:.{digits}f}"


def finite(value):
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def ticks(lo, hi, count=5):
    """Round tick values covering ``lo``..``hi``."""
    span = hi - lo or abs(hi) or 1.0
    raw = span / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if raw <= m * step)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def scale(lo, hi, start, end, pad=0.0):
    """Map ``lo``..``hi``, widened by ``pad`` of its span, onto ``start``..``end``."""
    span = (hi - lo) or 1.0
    lo, span = lo - pad * span, span * (1 + 2 * pad)
    return lambda v: start + (v - lo) / span * (end - start)


def svg(title, height, body, label, width=WIDTH):
    """An SVG chart of ``width`` x ``height``, titled ``title`` (already escaped)."""
    return (f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{label}" xmlns="http://www.w3.org/2000/svg">'
            f'<text class="title" x="12" y="20">{title}</text>{body}</svg>')


def bar_chart(title, items, digits=4):
    """Horizontal bars, one per (label, value), the value written at each bar's end."""
    items = [(label, float(value)) for label, value in items if finite(value)]
    if not items:
        return f'<p class="note">{escape(title)}: no values.</p>'
    left, right, row = 130, NARROW - 70, 26
    height = 48 + row * len(items) + 24
    lo, hi = min(0.0, *(v for _, v in items)), max(0.0, *(v for _, v in items))
    x = scale(lo, hi, left, right)
    parts = []
    for tick in ticks(lo, hi):
        parts.append(f'<line class="grid" x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="36" '
                     f'y2="{height - 24}"/><text x="{x(tick):.1f}" y="{height - 8}" '
                     f'text-anchor="middle">{tick:g}</text>')
    for i, (label, value) in enumerate(items):
        y = 40 + i * row
        start, end = sorted((x(0.0), x(value)))
        short = label if len(label) <= 20 else label[:19] + "\u2026"
        parts.append(
            f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{escape(short)}'
            f'<title>{escape(label)}</title></text>'
            f'<rect class="mark" x="{start:.1f}" y="{y}" width="{max(end - start, 1):.1f}" '
            f'height="{row - 6}" fill="{COLORS[0]}"><title>{escape(label)}: '
            f'{number(value, digits)}</title></rect>'
            f'<text x="{end + 4:.1f}" y="{y + 15}">{number(value, digits)}</text>')
    parts.append(f'<line class="axis" x1="{x(0.0):.1f}" x2="{x(0.0):.1f}" y1="36" '
                 f'y2="{height - 24}"/>')
    return svg(escape(title), height, "".join(parts), escape(title), NARROW)


def scatter(title, xs, ys, xlabel, ylabel, color, reference):
    """Points (xs, ys) with axes; ``reference`` 'diagonal' (y = x) or 'zero' (y = 0).

    ``title`` and the labels are HTML already (escaped by the caller).
    """
    left, right, top, bottom, height = 56, WIDTH - 16, 34, 300, 340
    lo_x, hi_x = min(xs), max(xs)
    lo_y, hi_y = min(ys), max(ys)
    if reference == "diagonal":
        lo_x = lo_y = min(lo_x, lo_y)
        hi_x = hi_y = max(hi_x, hi_y)
    else:
        lo_y, hi_y = min(lo_y, 0.0), max(hi_y, 0.0)
    x, y = scale(lo_x, hi_x, left, right, 0.04), scale(lo_y, hi_y, bottom, top, 0.04)
    parts = [f'<line class="axis" x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}"/>',
             f'<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{bottom}"/>']
    for t in ticks(lo_x, hi_x):
        parts.append(f'<text x="{x(t):.1f}" y="{bottom + 16}" text-anchor="middle">{t:g}</text>')
    for t in ticks(lo_y, hi_y):
        parts.append(f'<line class="grid" x1="{left}" x2="{right}" y1="{y(t):.1f}" '
                     f'y2="{y(t):.1f}"/><text x="{left - 6}" y="{y(t) + 4:.1f}" '
                     f'text-anchor="end">{t:g}</text>')
    if reference == "diagonal":
        parts.append(f'<line class="ref" x1="{x(lo_x):.1f}" y1="{y(lo_x):.1f}" '
                     f'x2="{x(hi_x):.1f}" y2="{y(hi_x):.1f}"/>')
    else:
        parts.append(f'<line class="ref" x1="{left}" x2="{right}" y1="{y(0.0):.1f}" '
                     f'y2="{y(0.0):.1f}"/>')
    parts.extend(f'<circle class="mark" cx="{x(a):.1f}" cy="{y(b):.1f}" r="3" '
                 f'fill="{color}" fill-opacity="0.6"/>' for a, b in zip(xs, ys))
    parts.append(f'<text x="{(left + right) / 2}" y="{height - 6}" '
                 f'text-anchor="middle">{xlabel}</text>')
    parts.append(f'<text x="14" y="{(top + bottom) / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {(top + bottom) / 2})">{ylabel}</text>')
    return svg(title, height, "".join(parts), title)


def strip_chart(title, rows, digits=4):
    """For each (label, values): a line from the lowest to the highest value, a dot per
    value and a tick at the mean."""
    rows = [(label, [float(v) for v in values if finite(v)]) for label, values in rows]
    rows = [(label, values) for label, values in rows if values]
    if not rows:
        return f'<p class="note">{escape(title)}: no CV fold scores logged.</p>'
    left, right, row = 130, NARROW - 100, 28
    height = 48 + row * len(rows) + 24
    every = [v for _, values in rows for v in values]
    x = scale(min(every), max(every), left, right, 0.04)
    parts = []
    for tick in ticks(min(every), max(every)):
        parts.append(f'<line class="grid" x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="36" '
                     f'y2="{height - 24}"/><text x="{x(tick):.1f}" y="{height - 8}" '
                     f'text-anchor="middle">{tick:g}</text>')
    for i, (label, values) in enumerate(rows):
        y = 40 + i * row + 10
        mean = sum(values) / len(values)
        short = label if len(label) <= 20 else label[:19] + "\u2026"
        parts.append(f'<text x="{left - 8}" y="{y + 4}" text-anchor="end">{escape(short)}'
                     f'<title>{escape(label)}</title></text>'
                     f'<line class="axis" x1="{x(min(values)):.1f}" x2="{x(max(values)):.1f}" '
                     f'y1="{y}" y2="{y}"/>'
                     f'<line x1="{x(mean):.1f}" x2="{x(mean):.1f}" y1="{y - 8}" y2="{y + 8}" '
                     f'stroke="#1d2733" stroke-width="2"/>')
        parts.extend(f'<circle class="mark" cx="{x(v):.1f}" cy="{y}" r="4" fill="{COLORS[0]}" '
                     f'fill-opacity="0.7"><title>{number(v, digits)}</title></circle>'
                     for v in values)
        parts.append(f'<text x="{right + 10}" y="{y + 4}">mean {number(mean, digits)}</text>')
    return svg(escape(title), height, "".join(parts), escape(title), NARROW)


def breakable(name):
    """A column name that may wrap after its underscores, so the table fits at 1280 px."""
    return f'<span>{escape(str(name)).replace("_", "_<wbr>")}</span>'


def leaderboard_table(table):
    """The leaderboard as a sortable table: a rank column, then the leaderboard's columns
    (the logged model's id is in leaderboard.csv; here the run id names the row)."""
    columns = [c for c in table.columns if c != "model_id"]
    head = '<th class="text">#</th>' + "".join(
        f'<th class="text">{breakable(c)}</th>' if c in ("estimator", "run_id", "model_id")
        else f"<th>{breakable(c)}</th>" for c in columns)
    rows = []
    for rank, record in enumerate(table.to_dict("records"), start=1):
        cells = [f'<td class="text" data-sort="{rank}">{rank}</td>']
        for column in columns:
            value = record[column]
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                key = repr(float(value)) if finite(value) else ""
                shown = (f"{int(value):,}" if column.endswith("_bytes") and finite(value)
                         else number(float(value), 3 if column.endswith(("_ms", "seconds"))
                                     else 4))
                cells.append(f'<td data-sort="{key}">{shown}</td>')
            else:
                text = "" if value is None else str(value)
                css = "text id" if column in ("run_id", "model_id") else "text"
                cells.append(f'<td class="{css}" data-sort="{escape(text)}">{escape(text)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table class="sortable" id="leaderboard"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def origins(runs):
    """Distinct data digests and commits of the training runs, each with its run count."""
    def column(name):
        return runs[name] if name in runs.columns else [None] * len(runs)

    def listed(values):
        counts = {}
        for value in values:
            counts[value] = counts.get(value, 0) + 1
        return ", ".join(f"<code>{escape(v)}</code> ({n} run{'s' * (n != 1)})"
                         for v, n in counts.items())

    digests = [d if isinstance(d, str) and d else "unknown"
               for d in column(f"tags.{tags.DATA_DIGEST}")]
    commits = []
    for ours, mlflows, dirty in zip(column(f"tags.{tags.GIT_COMMIT}"),
                                    column("tags.mlflow.source.git.commit"),
                                    column(f"tags.{tags.GIT_DIRTY}")):
        commit = next((c for c in (ours, mlflows) if isinstance(c, str) and c), "unknown")
        commits.append(commit + (" with uncommitted changes" if dirty == "true" else ""))
    return (f'<p class="meta">Data digest: {listed(digests)}<br>'
            f'Commit: {listed(commits)}</p>{schema(runs)}')


SCHEMA_ROLES = ("number", "category", "date", "key", "ignored", "imputed")


def schema(runs):
    """The table the ranked runs learned from: its target and each role's columns, as the
    best run recorded them (compare ranks one table's runs)."""
    if runs.empty:
        return ""
    best = runs.iloc[0]

    def param(name):
        value = best.get(f"params.{name}")
        return value if isinstance(value, str) else ""

    target = param("table.target") or "Y"
    def codes(text):
        return ", ".join(f"<code>{escape(c)}</code>" for c in text.split(","))

    roles = [f"{role}: {codes(param(f'table.{role}'))}"
             for role in SCHEMA_ROLES if param(f"table.{role}")]
    return (f'<p class="meta">Target: <code>{escape(target)}</code>'
            + (f"<br>{'<br>'.join(roles)}" if roles else "") + "</p>")


def target_of(runs):
    """The target the ranked runs predict (Y for the lab's, and runs from before tables)."""
    if runs.empty:
        return "Y"
    value = runs.iloc[0].get("params.table.target")
    return value if isinstance(value, str) and value else "Y"


def page(table, runs, evaluations, metric, experiment=""):
    """The whole report as one HTML string.

    ``table`` is the leaderboard (best first), ``runs`` the search_runs frame behind it,
    ``evaluations`` each run id's evaluation.json (or None).
    """
    best = table.drop_duplicates("estimator")  # each estimator's top-ranked run
    bars = [bar_chart(title, zip(best["estimator"].astype(str), best[column]),
                      digits=3 if column in ("fit_seconds", LATENCY) else 4)
            for column, title in BARS if column in best.columns]
    pairs = []
    ranked = enumerate(table.to_dict("records"), start=1)
    top = [(rank, r) for rank, r in ranked
           if (evaluations.get(r["run_id"]) or {}).get("y_true")][:TOP_MODELS]
    for i, (rank, record) in enumerate(top):
        found = evaluations[record["run_id"]]
        actual, predicted = found["y_true"], found["y_pred"]
        name = escape(f"#{rank} {record['estimator']} ({record['run_id'][:8]})")
        color = COLORS[i % len(COLORS)]
        target = target_of(runs)
        pairs.append(scatter(f"Predicted vs actual: {name}", actual, predicted,
                             f"actual {target}", f"predicted {target}", color, "diagonal"))
        pairs.append(scatter(f"Residuals: {name}", predicted,
                             [a - p for a, p in zip(actual, predicted)],
                             f"predicted {target}", "actual \u2212 predicted", color, "zero"))
    if not top:
        pairs = ['<p class="note">No run logged held-out predictions (evaluation.json).</p>']
    folds = []
    for record in best.to_dict("records"):
        found = evaluations.get(record["run_id"]) or {}
        folds.append((str(record["estimator"]), found.get("cv_folds", {}).get("r2_score", [])))
    spread = strip_chart("CV R2 score per fold, by Estimator", folds)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>trackfit comparison</title><style>{STYLE}</style></head>
<body>
<h1>trackfit comparison{': ' + escape(experiment) if experiment else ''}</h1>
<p class="meta">{len(table)} training runs ranked by <code>{escape(metric)}</code>, made {when}.
Click a column header to sort.</p>
{origins(runs)}
<h2>Leaderboard</h2>
<div class="wide">{leaderboard_table(table)}</div>
<h2>Held-out scores and fit times (each estimator's best run)</h2>
<div class="charts">{"".join(bars)}</div>
<h2>Predicted vs actual, and residuals, on the held-out split (top {len(top)} runs)</h2>
<div class="pairs">{"".join(pairs)}</div>
<h2>Spread of CV scores</h2>
<div class="charts">{spread}</div>
<script>{SCRIPT}</script>
</body></html>
"""


def write(table, runs, metric, folder, experiment=""):
    """Write ``report.html`` into ``folder``, reading each needed run's evaluation.json."""
    import os

    wanted = list(table["run_id"][:TOP_MODELS])
    wanted += list(table.drop_duplicates("estimator")["run_id"])
    evaluations = {run_id: evaluation.load(run_id) for run_id in dict.fromkeys(wanted)}
    path = os.path.join(folder, "report.html")
    with open(path, "w", encoding="utf-8") as out:
        out.write(page(table, runs, evaluations, metric, experiment))
    return path
