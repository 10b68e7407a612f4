"""bench/sandbox_throughput.py keeps working: every measured request succeeds (no timings)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "sandbox_throughput.py"


def test_throughput_bench_measures_every_target_and_mode_without_failures() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--requests", "30", "--budget", "1", "--json-only"],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    measured = {(m["target"], m["operation"], m["mode"]): m for m in report["measurements"]}
    assert set(measured) == {
        (target, operation, mode)
        for target in ("baseline", "jira", "salesforce")
        for operation in ("read", "write")
        for mode in ("in-process", "https")
    }
    assert all(m["failures"] == 0 and m["requests"] == 30 for m in measured.values())
    assert all(m["baseline_ratio"] is not None for m in measured.values())
