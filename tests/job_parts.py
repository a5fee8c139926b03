"""Job-file sections that many tests' helpers share."""

from __future__ import annotations

# the frozen probe is tested in test_baselines; in the other sweeps it would only share the 2 CPUs
# with the trials
WITHOUT_PROBE: dict[str, bool] = {"frozen_probe": False}
