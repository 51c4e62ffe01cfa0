"""The benchmark's smoke mode: every figure measured once, small, and BENCHMARKS.md kept.

Timings are never asserted: only that each figure is produced and written.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_smoke_benchmark_writes_every_figure_and_keeps_other_sections(tmp_path):
    output = tmp_path / "BENCHMARKS.md"
    output.write_text("# Benchmarks\n\n## Figures\n\nstale figures\n\n"
                      "## Tracking server throughput\n\nfilled in by the server work\n")
    done = subprocess.run(
        [sys.executable, str(PROJECT / "bench" / "run.py"), "--smoke", "--output", str(output)],
        capture_output=True, text=True, timeout=1800, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    printed = [int(m) for m in re.findall(r"(?m)^\s*(\d+)\s{2}", done.stdout)]
    assert printed == list(range(1, 15))
    text = output.read_text()
    rows = re.findall(r"(?m)^\| (\d+) \| .+ \| `.+` \|$", text)
    assert rows == [str(n) for n in range(1, 15)]
    assert "stale figures" not in text
    assert text.index("## Figures") < text.index("## Tracking server throughput")
    assert "filled in by the server work" in text
    assert "mlflow 3.17.2" in text and "cores" in text  # versions and machine in the header
