"""The benchmark's smoke mode: every figure measured once, small, and BENCHMARKS.md kept.

Timings are never asserted: only that each figure is produced and written. Its Python
commands start as forks of the benchmark's process, which has made their imports once
(bench/measure.py, warm): each still a process of its own, with its exit code and output.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent


# The figures in three runs of 20 to 40 s each alone, so test workers share them; each run makes
# what its figures need for themselves (a store of training runs: 5, 6, 11, 12).
GROUPS = ([1, 2, 3, 4], [5, 6, 7, 8, 11, 12], [9, 10, 13, 14])


def test_the_groups_are_every_figure_once():
    assert sorted(n for group in GROUPS for n in group) == list(range(1, 15))


@pytest.mark.slow
@pytest.mark.parametrize("figures", GROUPS, ids=lambda g: ",".join(map(str, g)))
def test_smoke_benchmark_writes_its_figures_and_keeps_other_sections(figures, tmp_path):
    output = tmp_path / "BENCHMARKS.md"
    output.write_text("# Benchmarks\n\n## Figures\n\nstale figures\n\n"
                      "## Tracking server throughput\n\nfilled in by the server work\n")
    done = subprocess.run(
        [sys.executable, str(PROJECT / "bench" / "run.py"), "--smoke", "--output", str(output),
         "--only", ",".join(map(str, figures))],
        capture_output=True, text=True, timeout=1800, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    printed = [int(m) for m in re.findall(r"(?m)^\s*(\d+)\s{2}", done.stdout)]
    assert printed == figures
    text = output.read_text()
    rows = re.findall(r"(?m)^\| (\d+) \| .+ \| `.+` \|$", text)
    assert rows == [str(n) for n in figures]
    assert "stale figures" not in text
    assert text.index("## Figures") < text.index("## Tracking server throughput")
    assert "filled in by the server work" in text
    assert "mlflow 3.17.2" in text and "cores" in text  # versions and machine in the header
