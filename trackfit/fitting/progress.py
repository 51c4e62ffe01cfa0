"""Progress of long work on stderr: done out of total, best so far, elapsed, time left."""

import sys
import time


class Progress:
    """Prints ``step: 12/50 trials, best cv_r2_score 0.4571 (trial 7), 3.1 s, ~9.8 s left``.

    At most one line per ``every`` seconds, and always the last one.
    """

    def __init__(self, step, total, unit, every=1.0, stream=None):
        self.step, self.total, self.unit, self.every = step, total, unit, every
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()
        self.shown = None

    def update(self, done, best=""):
        now = time.perf_counter()
        if done < self.total and self.shown is not None and now - self.shown < self.every:
            return
        self.shown = now
        elapsed = now - self.started
        left = elapsed / done * (self.total - done) if done else None
        parts = [f"{self.step}: {done}/{self.total} {self.unit}"]
        if best:
            parts.append(f"best {best}")
        parts.append(f"{elapsed:.1f} s elapsed")
        if done < self.total:
            parts.append(f"about {left:.1f} s left" if left is not None else "time left unknown")
        print(", ".join(parts), file=self.stream, flush=True)
