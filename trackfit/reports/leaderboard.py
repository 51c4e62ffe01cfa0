"""Leaderboard tables and bar charts of training runs."""

from ..tracking import tags
from ..tracking.runs import COSTS

KEY_METRICS = [
    "test_r2_score", "test_mean_absolute_error", "test_root_mean_squared_error",
    "training_r2_score", "cv_r2_score",
]
CHARTS = {
    "r2_by_estimator.png": ("test_r2_score", "R2 score by Estimator"),
    "mae_by_estimator.png": ("test_mean_absolute_error", "Mean absolute error by Estimator"),
    "rmse_by_estimator.png": ("test_root_mean_squared_error", "RMSE by Estimator"),
}
NO_ESTIMATOR = "(no estimator param)"
# A text cell starting with one of these is a formula to a spreadsheet (=HYPERLINK(...) and
# the like); a leading ' makes it text, as spreadsheets themselves write it.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def leaderboard(runs, metric):
    """One row per training run, best first: estimator, key metrics, what the model costs
    to serve (predict ms per 1,000 rows, size), fit time, run id and logged model id."""
    import pandas as pd

    # A run logged by other code may have no estimator param: named, not a gap in a chart.
    estimator = runs.get("params.estimator", pd.Series(index=runs.index, dtype=object))
    columns = {"estimator": estimator.fillna(NO_ESTIMATOR).astype(str)}
    for name in dict.fromkeys([metric] + KEY_METRICS + list(COSTS)):
        column = f"metrics.{name}"
        if column in runs.columns:
            columns[name] = runs[column]
    fit = runs.get(f"tags.{tags.FIT_SECONDS}")
    columns["fit_seconds"] = pd.to_numeric(fit, errors="coerce") if fit is not None else None
    columns["run_id"] = runs["run_id"]
    if "model_id" in runs.columns:
        columns["model_id"] = runs["model_id"]
    return pd.DataFrame(columns).reset_index(drop=True)


def markdown(table):
    """A GitHub-style Markdown table, numbers to 4 decimals."""
    def cell(value):
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def bar_chart(table, metric, title, path):
    """A bar chart of ``metric`` by estimator, values on the bars.

    ``table`` is the leaderboard, best first: each estimator's bar is its top-ranked run.
    Labels are text, not math: a ``$`` in a run's estimator is drawn as a ``$``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    best = table.drop_duplicates("estimator")  # table is sorted best first
    with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
        fig, ax = plt.subplots(figsize=(max(4, 1.1 * len(best)), 4))
        bars = ax.bar(best["estimator"].astype(str), best[metric])
        ax.bar_label(bars, fmt="%.4f")
        ax.set_title(title)
        ax.set_xlabel("Estimator")
        ax.set_ylabel(metric)
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)


def spreadsheet_safe(table):
    """``table`` with every text cell a spreadsheet would run as a formula made text (a
    leading ``'``). Numbers stay numbers, a negative one too."""
    import pandas as pd

    def cell(value):
        return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) \
            else value

    safe = table.copy()
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]):
            safe[column] = safe[column].map(cell)
    return safe


def write(table, folder):
    """Leaderboard CSV and Markdown plus the charts into ``folder``; returns the file names."""
    import os

    # CRLF, as RFC 4180 ends lines: a CR inside a cell is then quoted, not a line break.
    spreadsheet_safe(table).to_csv(os.path.join(folder, "leaderboard.csv"), index=False,
                                   lineterminator="\r\n")
    with open(os.path.join(folder, "leaderboard.md"), "w") as out:
        out.write(markdown(table))
    for name, (chart_metric, title) in CHARTS.items():
        if chart_metric in table.columns:
            bar_chart(table, chart_metric, title, os.path.join(folder, name))
    return sorted(os.listdir(folder))
