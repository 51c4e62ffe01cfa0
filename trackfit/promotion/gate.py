"""The promotion gate: a challenger takes the alias only when it is measurably better.

Both models, the challenger and the current champion, are scored on the same rows: the exam
pinned to the registered model (exam.py), never rows the challenger chose. A challenger is
examined only if none of its training rows, rebuilt from what its training run recorded (the
data it read, ``test_size``, ``random_state``; refused unless they hash to the digest the run
logged), is an exam row. Each model is loaded through trackfit's trust check and scored with
``mlflow.models.evaluate`` (a callable model: evaluate itself would load a model URI with
pyfunc, past the trust check), then MLflow's own ``MetricThreshold`` checks are applied
with ``mlflow.validate_evaluation_results``: the floor (``threshold``), the absolute and the
relative improvement over the champion, the direction from ``greater_is_better``.
"""

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field

from .. import DataError, TrackfitError, UsageError, first_line
from ..tracking import store, tags
from ..tracking.runs import higher_is_better, recorded_params

ARTIFACT = "gate.json"
PREFIXES = ("test_", "training_", "cv_")  # trackfit's metric names -> evaluate's
# Without min_improvement the challenger must still be better than the champion, as
# MLflow's own "simple comparison" does (its fallback for a zero baseline).
BETTER = 1e-10


@dataclass(frozen=True)
class Thresholds:
    """What a challenger must show: ``threshold`` the metric's floor (a ceiling for a
    lower-is-better metric), ``min_improvement`` over the champion (absolute) and
    ``min_relative_improvement`` (a share of the champion's value, 0..1)."""

    threshold: float | None = None
    min_improvement: float = 0.0
    min_relative_improvement: float = 0.0

    def check(self):
        import math

        for name, value in (("threshold", self.threshold),
                            ("min_improvement", self.min_improvement),
                            ("min_relative_improvement", self.min_relative_improvement)):
            if value is not None and not math.isfinite(float(value)):
                raise UsageError(f"{name} must be a finite number, got {value}")
        if self.min_improvement < 0:
            raise UsageError(
                f"min_improvement must be 0 or more, got {self.min_improvement}")
        if not 0 <= self.min_relative_improvement <= 1:
            raise UsageError("min_relative_improvement must be between 0 and 1, got "
                             f"{self.min_relative_improvement}")
        return self

    def params(self):
        return {"threshold": "" if self.threshold is None else self.threshold,
                "min_improvement": self.min_improvement,
                "min_relative_improvement": self.min_relative_improvement}

    def checks(self, greater_is_better, first):
        """{check name: MetricThreshold}: one MLflow threshold per check, so a refusal names
        the one that failed. The first champion faces the floor alone."""
        from mlflow.models import MetricThreshold

        found = {}
        if self.threshold is not None:
            found["threshold"] = MetricThreshold(
                threshold=float(self.threshold), greater_is_better=greater_is_better)
        if first:
            return found
        found["min_improvement"] = MetricThreshold(
            min_absolute_change=float(self.min_improvement or BETTER),
            greater_is_better=greater_is_better)
        if self.min_relative_improvement:
            found["min_relative_improvement"] = MetricThreshold(
                min_relative_change=float(self.min_relative_improvement),
                greater_is_better=greater_is_better)
        return found


def evaluated_name(metric):
    """The name ``mlflow.models.evaluate`` gives ``metric`` on held-out rows:
    test_r2_score -> r2_score."""
    for prefix in PREFIXES:
        if metric.startswith(prefix):
            return metric[len(prefix):]
    return metric


# What mlflow.models.evaluate's regressor evaluator computes, so what the gate can compare.
GATED = ("r2_score", "mean_absolute_error", "mean_squared_error", "root_mean_squared_error",
         "max_error", "mean_absolute_percentage_error")


def check_metric(metric):
    """Refuse, before anything is evaluated, a metric the gate cannot recompute."""
    if evaluated_name(metric) not in GATED:
        raise UsageError(
            f"the gate compares held-out metrics; '{metric}' is not one: choose one of "
            f"{', '.join(f'test_{name}' for name in sorted(GATED))}")


SOURCES_ENV = "TRACKFIT_GATE_SOURCES"


def readable(src):
    """Whether the gate may read Source ``src`` again for a run: the embedded copy, a local
    file, a runs:/ artifact of this store; a URL only under a prefix the registrar listed in
    TRACKFIT_GATE_SOURCES (comma-separated; ``*`` for any). A run's data address is whatever
    its author logged: without this, anyone who can log a run makes the registrar's machine
    fetch any URL it can reach."""
    if src.kind in ("embedded", "file", "run"):
        return True
    listed = [p.strip() for p in os.environ.get(SOURCES_ENV, "").split(",") if p.strip()]
    return "*" in listed or any(_under(src.safe, prefix) for prefix in listed)


def _under(url, prefix):
    """``url`` is ``prefix`` or below it: the same scheme and host, the path within."""
    from urllib.parse import urlsplit

    found, base = urlsplit(url), urlsplit(prefix)
    if not base.scheme or (found.scheme.lower(), found.netloc.lower()) != (
            base.scheme.lower(), base.netloc.lower()):
        return False
    root = base.path.rstrip("/")
    return found.path == root or found.path.startswith(root + "/")


def unlisted(src, name, way_past):
    """The one line for a training run whose data is a URL the registrar did not list."""
    from urllib.parse import urlsplit

    parts = urlsplit(src.safe)
    return DataError(
        f"the gate will not fetch the data of training run {name}, {src.safe}: a run's data "
        "address is whatever its author logged, and the gate reads only the embedded copy, "
        "local files and runs:/ artifacts unless told", fix="if you trust that source, list it in "
        f"{SOURCES_ENV} (e.g. {SOURCES_ENV}={parts.scheme}://{parts.netloc}/), or {way_past}")


@dataclass(frozen=True)
class Rebuilt:
    """Both sides of a training run's split, rebuilt; ``data`` its source without
    credentials, ``digest`` the digest the run logged for it."""

    X_train: object
    X_test: object
    y_train: object
    y_test: object
    data: str
    digest: str
    test_size: float
    random_state: int
    frame: object  # the whole table the split was taken from
    table: object = None  # its engines.table.Table


def rebuilt(run, loaded=None):
    """The Rebuilt split of training run ``run`` (an MlflowClient Run), from its recorded
    data and split; DataError unless the data hashes as it logged.

    ``loaded``: a (frame, dataset, table) the caller already read (``main``), used when it
    is the run's data (the same digest); otherwise the data is read again with the engine the
    run used, its table rebuilt from what the run recorded (target, features, ignore,
    categorical, missing)."""
    from ..engines import choose, source
    from ..engines.table import ask_from
    from ..fitting.split import Split, split

    params, recorded = recorded_params(run), run.data.tags.get(tags.DATA_DIGEST)
    name = run.info.run_id
    missing = [p for p in ("data", "test_size", "random_state") if p not in params]
    if missing or not recorded:
        raise DataError(
            f"training run {name} did not record its data and split "
            f"({', '.join(missing) or tags.DATA_DIGEST}): the gate cannot rebuild its held-out "
            "rows", fix="train it again with this version of trackfit")
    data = params["data"]
    if "***" in data:
        raise DataError(
            f"training run {name} read data whose address held a secret ({data}): the gate "
            "cannot read it again", fix="train from a source without credentials in its address")
    # The way past a run whose rows cannot be rebuilt: what the user can do about that run.
    delete = (f"delete the run (mlflow runs delete --run-id {name}) so register weighs the "
              "next best")
    past = f"restore the data it read, or {delete}"
    try:
        src = source.parse(data, ask_from(params))
    except DataError as exc:
        raise DataError(f"training run {name} recorded a table the gate cannot rebuild "
                        f"({first_line(exc)})", fix=delete) from None
    reuse = loaded is not None and loaded[1].digest == recorded
    if not reuse and not readable(src):
        raise unlisted(src, name, delete)
    try:
        frame, dataset, table = loaded if reuse else choose(params.get("spark", "")).load(src)
    except DataError as exc:
        found = exc.problem  # what is wrong, without the fix for a data= option
        raise DataError(f"the gate cannot read the data of training run {name}, the best by "
                        f"the metric: {found}", fix=past) from None
    if dataset.digest != recorded:
        raise DataError(
            f"the data of training run {name} changed since it trained: {data} has digest "
            f"{dataset.digest}, the run recorded {recorded}", fix="the gate evaluates on the rows "
            f"the run held out, never on new data: {past}")
    try:
        seed = float(params["random_state"])
        if seed != int(seed):
            raise ValueError(f"random_state {params['random_state']} is not a whole number")
        how = Split(float(params["test_size"]), int(seed), 0).check()
    except (TrackfitError, ValueError) as exc:
        raise DataError(f"training run {name} recorded a split the gate cannot rebuild "
                        f"({first_line(exc)})", fix=delete) from None
    return Rebuilt(*split(frame, how, table), src.safe, recorded, how.test_size,
                   how.random_state, frame, table)


def scored(model_uri, X, y, prefix):
    """``evaluate`` of the model at ``model_uri``, loaded through the trust check from the
    bytes it checked; the checked copy is removed afterwards."""
    from .. import trust
    from ..engines import scoring

    with trust.checked(model_uri) as folder:
        return evaluate(scoring.predictor(folder), X, y, prefix)


@contextlib.contextmanager
def quiet():
    """MLflow's evaluation and validation INFO lines off for the block: the register run
    says what matters in one line."""
    import logging

    logger = logging.getLogger("mlflow.models.evaluation")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def evaluate(predict, X, y, prefix):
    """``mlflow.models.evaluate`` of ``predict`` on (X, y) in the active run, its metrics
    logged there as ``<prefix><name>``; returns the metrics without the prefix."""
    import mlflow
    import numpy as np

    data = X.assign(**{"__target__": np.asarray(y, dtype=float)})
    with quiet():
        # evaluate logs the rows as a dataset of the experiment; another gate logging the
        # same rows at once makes the store's insert a duplicate key: tried again, evaluate
        # finds that record and reuses it (store.retry).
        result = store.retry(
            mlflow.models.evaluate,
            lambda frame: np.asarray(predict(frame), dtype=float).ravel(), data,
            targets="__target__", model_type="regressor", evaluators="default",
            evaluator_config={"log_model_explainability": False, "metric_prefix": prefix})
    return {k[len(prefix):]: float(v) for k, v in result.metrics.items()
            if k.startswith(prefix)}


@dataclass
class Verdict:
    """What the gate decided, and on what: the exam's rows (``exam``: its source, split,
    digest, rows, target)."""

    accepted: bool
    metric: str  # the evaluated metric, e.g. r2_score
    greater_is_better: bool
    candidate: dict
    champion: dict | None
    failed: dict  # {check: MLflow's message, or why the challenger was not examined}
    thresholds: dict
    rows: int
    side: str  # "exam": every candidate is scored on the pinned exam
    data: str
    digest: str
    exam: dict = field(default_factory=dict)
    candidate_shared: int = 0  # exam rows the challenger trained on
    champion_shared: int | None = None  # the same for the champion; None: not checked
    champion_unchecked: str = ""  # why the champion's training rows could not be checked

    @property
    def value(self):
        return self.candidate.get(self.metric)

    @property
    def held(self):
        return None if self.champion is None else self.champion.get(self.metric)

    def on(self):
        """The exam, named for the one-line reason."""
        if not self.exam:
            return ""
        return (f"exam {self.exam['where']} ({self.rows} rows, target {self.exam['target']}, "
                f"digest {self.digest})")

    def reason(self, thresholds):
        """One line: both values and the threshold that failed (or what passed), and the
        exam they were measured on."""
        exam = self.on()
        if "leak" in self.failed:
            return f"{self.failed['leak']}; {exam}" if exam else self.failed["leak"]
        shown = f"{self.metric} {self.value:.4f}"
        if self.champion is not None:
            shown += f" vs champion {self.held:.4f}"
        if self.accepted:
            outcome = "passed"
        else:
            failing = []
            for check in self.failed:
                limit = getattr(thresholds, check)
                if check == "min_improvement" and not limit:
                    failing.append("not better than the champion")
                else:
                    failing.append(f"{check} {limit} not met")
            outcome = ", ".join(failing)
        line = f"{shown}: {outcome}"
        if exam:
            line += f", on {exam}"
        if self.champion_shared:
            line += (f"; the champion trained on {self.champion_shared} of the exam's rows, "
                     "so its score there flatters it")
        return line

    def to_dict(self):
        return asdict(self)


def judge(metric, thresholds, candidate_uri, champion_uri, exam, rows, champion_shared=None,
          champion_unchecked=""):
    """Evaluate the challenger (and the champion, if any) on the exam's ``rows`` (its X and
    y) in the active run and validate with MLflow's thresholds; returns the Verdict."""
    import mlflow
    from mlflow.models.evaluation import EvaluationResult
    from mlflow.models.evaluation.validation import ModelValidationFailedException

    X, y = rows.X, rows.y
    name = evaluated_name(metric)
    scores = {"candidate": scored(candidate_uri, X, y, "candidate_")}
    if name not in scores["candidate"]:
        known = sorted(f"test_{k}" for k in scores["candidate"] if k != "example_count")
        raise UsageError(
            f"the gate compares held-out metrics; '{metric}' is not one: choose one of "
            f"{', '.join(known)}")
    if champion_uri:
        scores["champion"] = scored(champion_uri, X, y, "champion_")
    greater = higher_is_better(metric)
    failed = {}
    for check, limit in thresholds.checks(greater, champion_uri is None).items():
        try:
            with quiet():
                mlflow.validate_evaluation_results(
                    {name: limit}, EvaluationResult(scores["candidate"], {}),
                    EvaluationResult(scores["champion"], {}) if champion_uri else None)
        except ModelValidationFailedException as exc:
            failed[check] = first_line(exc)
    return Verdict(not failed, name, greater, scores["candidate"], scores.get("champion"),
                   failed, thresholds.params(), len(y), "exam", exam.source, exam.digest,
                   exam_dict(exam), 0, champion_shared, champion_unchecked)


def exam_dict(exam):
    return {"source": exam.source, "split": exam.split, "where": exam.where(),
            "digest": exam.digest, "rows": exam.rows, "target": exam.target,
            "columns": list(exam.columns), "by": exam.by, "at": exam.at}


def leak(metric, thresholds, exam, count, message):
    """The Verdict for a challenger that trained on ``count`` of the exam's rows: refused
    before it is scored."""
    return Verdict(False, evaluated_name(metric), higher_is_better(metric), {}, None,
                   {"leak": message}, thresholds.params(), exam.rows, "exam", exam.source,
                   exam.digest, exam_dict(exam), count)


def log(verdict, thresholds, candidate_run_id, champion_version):
    """The verdict in the active run: params, metrics, tags and gate.json."""
    import mlflow

    from ..tracking.runs import log as log_batch

    champion_version = None if champion_version is None else str(champion_version)
    reason = verdict.reason(thresholds)
    metrics = {"gate_passed": float(verdict.accepted),
               "gate_candidate_shared_rows": float(verdict.candidate_shared)}
    if verdict.champion_shared is not None:
        metrics["gate_champion_shared_rows"] = float(verdict.champion_shared)
    if verdict.held is not None and verdict.value is not None:
        metrics["gate_improvement"] = (verdict.value - verdict.held) * (
            1 if verdict.greater_is_better else -1)
    exam = verdict.exam
    log_batch(
        params={"gate_metric": verdict.metric, "gate_rows": verdict.rows,
                "gate_split": verdict.side,
                "gate_data": verdict.data, "gate_data_digest": verdict.digest,
                **({f"exam_{k}": exam[k] for k in ("source", "split", "digest", "rows",
                                                   "target")} if exam else {}),
                **thresholds.params()},
        metrics=metrics,
        tags={tags.VERDICT: "accepted" if verdict.accepted else "refused",
              tags.VERDICT_REASON: reason[:5000], tags.CANDIDATE_RUN_ID: candidate_run_id,
              tags.CHAMPION_VERSION: champion_version or ""})
    mlflow.log_text(json.dumps({**verdict.to_dict(), "reason": reason,
                                "candidate_run_id": candidate_run_id,
                                "champion_version": champion_version}, indent=2), ARTIFACT)
    return reason
