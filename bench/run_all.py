"""Run every benchmark in turn and print its tables (figures also land in bench/results/*.json, and
a plot of them in bench/results/performance.png).

    FINESWEEP_DATA_DIR=../shared/data .venv/bin/python bench/run_all.py [--quick]

Run it on an otherwise idle machine: the figures are wall times.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = ["throughput.py", "overhead.py", "search_efficiency.py", "scaling.py"]


def main() -> None:
    """Each benchmark in its own process, so one's imports and memory do not colour the next."""
    folder = Path(__file__).resolve().parent
    extra = sys.argv[1:]
    failed = []
    for script in BENCHMARKS:
        print(f"\n=== {script} ===", flush=True)
        if subprocess.run([sys.executable, str(folder / script), *extra]).returncode != 0:
            failed.append(script)
    subprocess.run([sys.executable, str(folder / "plot.py")], check=False)  # bench/results/performance.png
    if failed:
        sys.exit(f"benchmarks failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
