"""The search: the space as Optuna distributions or a Tune grid, the searcher in its Optuna study,
earlier trials as its prior, one configuration once, the budget, and the Tune searcher and scheduler
built from them (``build``). The searchers themselves are ``finesweep.searchers`` (the job's
validation reads their options without importing Tune)."""
