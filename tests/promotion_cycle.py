"""The champion/challenger cycle every task must pass, through the CLI against a real MLflow registry:
promote a sweep (v1 becomes @champion), refuse a weaker one (exit 3, side-by-side table), force it,
roll back to v1."""

from __future__ import annotations

import os
import subprocess
import sys


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "finesweep", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=900)  # fmt: skip


def promotion_cycle(store: str, strong: str, weak: str, name: str, metric: str, latency: str,
                    env: dict[str, str] | None = None) -> dict[str, str]:  # fmt: skip
    """Run the cycle; return the tags the registry recorded on v1 (its held-out figures)."""
    from mlflow.tracking import MlflowClient

    env = env or {}
    client = MlflowClient(store, registry_uri=store)

    def champion() -> str:
        return str(client.get_model_version_by_alias(name, "champion").version)

    def promote(sweep: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return _cli(["promote-best-model", "--sweep", sweep, "--model-name", name, "--tracking-uri", store, *extra], env)

    first = promote(strong)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert champion() == "1" and "v1 is now @champion" in first.stdout

    refused = promote(weak)
    assert refused.returncode == 3, refused.stdout[-3000:] + refused.stderr[-3000:]
    assert "promotion refused" in refused.stderr and refused.stderr.count("\n") == 1
    for shown in ("challenger (v2)", "champion (v1)", "difference", metric, "size_mb", latency, "paired bootstrap"):
        assert shown in refused.stdout, (shown, refused.stdout)
    assert champion() == "1", "a refused challenger moves no alias"

    forced = promote(weak, "--force")
    assert forced.returncode == 0 and "forced" in forced.stdout, forced.stdout + forced.stderr
    assert champion() == "2" and str(client.get_model_version_by_alias(name, "previous").version) == "1"

    back = _cli(["rollback", "--model-name", name, "--tracking-uri", store], env)
    assert back.returncode == 0, back.stderr
    assert champion() == "1"
    return dict(client.get_model_version(name, "1").tags)
