"""No two modules of the package import each other, directly or through others (issue 39)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TOOL = REPO.parent / "shared" / "tools" / "file_cycles.py"  # counts module- and function-level imports


@pytest.mark.skipif(not TOOL.is_file(), reason=f"{TOOL} is not on this machine")
def test_the_package_has_no_file_circles():
    done = subprocess.run([sys.executable, str(TOOL), str(REPO)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "0 file circles" in done.stdout, done.stdout + done.stderr
