"""What a sweep reads before Ray starts: its data, its base model, the baselines, and the earlier
trials its searcher starts from."""

from __future__ import annotations

from typing import Any

from finesweep.settings import Settings, using
from finesweep.tuning._output import say
from finesweep.tuning._state import SweepInputs, SweepSetup, warm_sources
from finesweep.tuning.search.warm_start import WarmStart


def read_inputs(setup: SweepSetup) -> SweepInputs:
    """Data and base model (see :func:`data_and_model`), baselines, then the prior trials; every
    check before Ray starts."""
    loaded, task = setup.loaded, setup.task
    with using(setup.settings):  # the catalog's data directory and the cache, read beneath the task's hooks
        data, base = data_and_model(loaded, task, setup.settings, setup.options.reproduces)
    baseline: dict[str, float] = {}
    if not setup.options.resume:  # a resumed sweep logged its baselines when it started
        baseline = task.baseline_metrics(loaded, data, base.location)
        if baseline:
            shown = ", ".join(f"{k} {v:.4f}" for k, v in sorted(baseline.items()))
            say(f"baseline (logged on the parent run): {shown}")
    return SweepInputs(data, base, baseline, _prior_trials(setup, data.fingerprint))


def data_and_model(loaded: Any, task: Any, settings: Settings, reproduces: Any = None) -> tuple[Any, Any]:
    """Data (read, split, checked against the job and, for a reproduction, the original's
    fingerprint) and base model (resolved, tokenizer loaded, LoRA targets checked), with the splits
    pre-tokenized for it."""
    from finesweep.models.lora import check_targets_without_weights
    from finesweep.models.resolve import resolve_base_model

    job = loaded.job
    data = task.prepare_data(loaded)
    task.check_prepared(loaded, data)
    say(f"data {data.describe()}")
    for warning in getattr(data, "warnings", []):
        say(f"warning: {warning}")
    if reproduces is not None:
        reproduces.check_data(data.fingerprint, data.source)
    base = resolve_base_model(job.model.base, loaded.path.parent)
    _check_hub(base, settings.hub_offline)
    _preflight_tokenizer(base.location, job.model.trust_remote_code)
    check_targets_without_weights(base.location, job.model.lora_target_modules, job.model.trust_remote_code)
    task.pretokenize(loaded, data, base.location)
    say(f"base model {base.reference} ({base.kind}: {base.location})")
    return data, base


def _check_hub(base: Any, offline: bool) -> None:
    if base.kind != "hub":
        return
    from finesweep.errors import ModelError
    from finesweep.models.resolve import hub_unavailable

    problem = hub_unavailable(base.location, offline)
    if problem:
        raise ModelError(problem)


def _preflight_tokenizer(location: str, trust_remote_code: bool) -> None:
    """Load the tokenizer once on the driver so a missing or offline-unavailable model fails now."""
    from transformers import AutoTokenizer

    from finesweep.errors import ModelError

    try:
        AutoTokenizer.from_pretrained(location, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"model.base: cannot load {location!r}: {first}") from None


def _check_same_data(sweep: str, fingerprint: str, tags: dict[str, str]) -> None:
    """``--more`` on other data would mix two datasets' trials in one sweep: refused, in one line,
    before Ray starts (task, objective and space were compared before the data was read)."""
    from finesweep.tuning.search.warm_start import data_change, refuse_changes

    refuse_changes(sweep, data_change(tags, fingerprint))


def _prior_trials(setup: SweepSetup, fingerprint: str) -> WarmStart:
    """``--more``: every finished trial of this sweep; a new sweep: its warm-start sources' trials
    that fit (printed: what was taken, what was skipped and why); otherwise none."""
    from finesweep.tuning.search.warm_start import WarmStartRequest, sweep_history, warm_start

    loaded, options = setup.loaded, setup.options
    request = WarmStartRequest(loaded.job.task, loaded.objective, loaded.space, fingerprint,
                               loaded.job.search.warm_start_transfer)  # fmt: skip
    if options.more:
        parent = setup.tracker.client.get_run(setup.tracker.parent.find())
        _check_same_data(setup.name, fingerprint, parent.data.tags)
        history = sweep_history(setup.tracking_uri, parent, request)
        say(f"--more {options.more}: the searcher continues from the sweep's {len(history.trials)} finished trial(s)")
        return history
    sources = warm_sources(setup)
    if options.resume or not sources:
        return WarmStart()
    found = warm_start(setup.tracking_uri, sources, request)
    for line in found.lines():
        say(line)
    return found
