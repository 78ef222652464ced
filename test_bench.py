"""Smoke test of bench.py: it runs, and its float64 equivalence check passes.

No timing is asserted here (timings belong to the benchmark, not to tests).
"""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent


@pytest.mark.slow  # a minute or more on a loaded 2-core machine
def test_bench_quick_runs_and_checks_equivalence(tmp_path):
    result = subprocess.run(
        [sys.executable, "bench.py", "--quick", "--out", str(tmp_path / "table.md"),
         "--json", str(tmp_path / "bench.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]  # the benchmark ran to the end
    assert "equivalence (float64)" in result.stdout, "both frameworks were checked to agree"
    table = (tmp_path / "table.md").read_text()
    for case in ("batch 1 ", "batch 1000", "784-1024-1024-10", "aten ops per step"):
        assert case in table, f"the table has the row {case!r}"
