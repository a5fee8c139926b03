"""The champion/challenger cycle every task must pass against a real MLflow registry: promote a sweep
(v1 becomes @champion), refuse a weaker one (through the CLI: exit 3, side-by-side table), force
it, roll back to v1. Promote, force and rollback run in-process through the same functions the CLI
calls (CI time: one CLI process per cycle; tests/test_promotion.py drives all of them by CLI)."""

from __future__ import annotations

import os
import subprocess
import sys


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "finesweep", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=900)  # fmt: skip


def promotion_cycle(store: str, strong: str, weak: str, name: str, metric: str, latency: str,
                    env: dict[str, str] | None = None, below_floor: str | None = None) -> dict[str, str]:  # fmt: skip
    """Run the cycle; return the tags the registry recorded on v1 (its held-out figures).
    ``env`` is set for the CLI's process and, while the cycle runs, for this one. ``below_floor``
    names the guard baseline the strong sweep does not beat either (``bm25`` for a tiny model's
    sparse encoder): its first promotion is then refused (exit 3) and forced."""
    from mlflow.tracking import MlflowClient

    env = env or {}
    client = MlflowClient(store, registry_uri=store)

    def champion() -> str:
        return str(client.get_model_version_by_alias(name, "champion").version)

    def promote(sweep: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return _cli(["promote-best-model", "--sweep", sweep, "--model-name", name, "--tracking-uri", store, *extra], env)

    from finesweep.promotion.registry import promote_best_model, rollback

    def promote_quietly(sweep: str, force: bool = False) -> None:
        outcome = promote_best_model(store, sweep, name, force=force)
        assert outcome.promoted and (not force or outcome.reason.startswith("forced"))

    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)  # e.g. FINESWEEP_CACHE_DIR, for the in-process calls too
    try:
        if below_floor is not None:
            refused = promote(strong)
            assert refused.returncode == 3 and f"does not beat the {below_floor} baseline's" in refused.stderr, refused.stderr
        promote_quietly(strong, force=below_floor is not None)
        assert champion() == "1"

        refused = promote(weak)
        assert refused.returncode == 3, refused.stdout[-3000:] + refused.stderr[-3000:]
        assert "promotion refused" in refused.stderr
        for shown in ("challenger (v2)", "champion (v1)", "difference", metric, "size_mb", latency, "paired bootstrap"):
            assert shown in refused.stdout, (shown, refused.stdout)
        assert champion() == "1", "a refused challenger moves no alias"

        promote_quietly(weak, force=True)
        assert champion() == "2" and str(client.get_model_version_by_alias(name, "previous").version) == "1"

        assert rollback(store, name) == ("1", "2")
        assert champion() == "1"
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return dict(client.get_model_version(name, "1").tags)
