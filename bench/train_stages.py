"""Memory of one training run by stage, in one process: where figure 7's peak comes from.

    python bench/train_stages.py DATA [ESTIMATOR]

Trains once on the lab's data (so every import is done), then once on DATA. Prints, for
each stage of the second run, the peak resident memory during the stage and the memory
still held after it, both over the resident memory just before the run, in MB. A thread
samples /proc/self/statm every half millisecond; the stages are found by wrapping the
functions train calls (here, in the benchmark, never in trackfit).
"""

import contextlib
import io
import os
import sys
import threading
import time

PAGE = os.sysconf("SC_PAGE_SIZE")


class Sampler(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.peak = self.top = self.rss()
        self.running = True

    @staticmethod
    def rss():
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * PAGE

    def run(self):
        while self.running:
            self.peak = max(self.peak, self.rss())
            self.top = max(self.top, self.peak)
            time.sleep(0.0005)

    def reset(self):
        self.peak = self.rss()


def main(data, estimator="linear"):
    import sklearn.model_selection

    from trackfit.engines import pandas as datamod
    from trackfit.entrypoints import train as entry
    from trackfit.estimators import plugins
    from trackfit.fitting import training as step

    with contextlib.redirect_stdout(io.StringIO()):
        entry.train(estimator)  # imports and first-use costs out of the way
    sampler = Sampler()
    sampler.start()
    rows = []
    depth = [0]

    def wrap(owner, name, label):
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            if depth[0]:
                return original(*args, **kwargs)
            depth[0] += 1
            sampler.reset()
            try:
                return original(*args, **kwargs)
            finally:
                depth[0] -= 1
                rows.append((label, sampler.peak - base, sampler.rss() - base))
                sampler.reset()
        setattr(owner, name, wrapper)

    wrap(datamod, "read", "read")
    wrap(datamod, "validate", "validate")
    wrap(sklearn.model_selection, "train_test_split", "split")
    for name in [n for n in dir(step) if n.startswith("_split") or n == "split"]:
        wrap(step, name, "split")
    spec = plugins.catalogue().get(estimator)
    model_class = type(spec.load_factory()())
    wrap(model_class, "fit", "fit")
    wrap(step, "cv_scores", "cross-validation")
    wrap(datamod, "dataset", "dataset")
    wrap(step, "log_model", "log_model")
    base = sampler.rss()
    sampler.reset()
    sampler.top = base
    with contextlib.redirect_stdout(io.StringIO()):
        result = entry.train(estimator, data=data)
    time.sleep(0.01)
    whole = sampler.top - base
    sampler.running = False
    mb = 2**20
    print(f"{'stage':<18} {'peak MB':>8} {'held after MB':>14}")
    for label, peak, held in rows:
        print(f"{label:<18} {peak / mb:>8.0f} {held / mb:>14.0f}")
    print(f"{'whole run':<18} {whole / mb:>8.0f}")
    print("metrics", {k: round(v, 4) for k, v in result["metrics"].items()
                      if k in ("training_r2_score", "test_r2_score", "cv_r2_score")})


if __name__ == "__main__":
    import tempfile

    os.chdir(tempfile.mkdtemp(prefix="trackfit-stages-"))
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{os.getcwd()}/mlflow.db")
    main(*sys.argv[1:])
