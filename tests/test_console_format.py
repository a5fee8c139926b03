"""Numbers as the console prints them: 4 significant digits in `sweeps`, `leaderboard` and `report`."""

from __future__ import annotations

import math

import pandas as pd

from finesweep.tracking.leaderboard import format_table, significant
from finesweep.tuning.progress import compact


def test_significant_rounds_numbers_and_numeric_parameter_text():
    assert significant(0.0035416942510195803) == "0.003542"
    assert significant("0.0006748256705987522") == "0.0006748", "MLflow keeps params as text"
    assert significant(0.52696208678) == "0.527"
    assert significant(3.0) == "3" and significant("16") == "16", "whole numbers stay whole"
    assert significant(1234567.8) == "1.235e+06"
    assert significant("class_weight") == "class_weight"
    assert significant(None) == "-" and significant(math.nan) == "-"
    assert significant("[1, 2]") == "[1, 2]"
    assert compact(0.00037184200033168465) == "0.0003718" and compact(16) == "16" and compact("none") == "none"


def test_leaderboard_table_has_no_long_decimals():
    table = pd.DataFrame(
        [{"trial_id": "a1", "status": "completed", "val_macro_f1": 0.52696208678, "epochs_run": 3.0,
          "learning_rate": "0.0006748256705987522", "balancing": "none", "run_id": "x" * 32}],
        index=[1],
    )  # fmt: skip
    text = format_table(table)
    assert "0.527" in text and "0.0006748" in text and " 3 " in text
    assert "0.52696" not in text and "0.00067482" not in text and "x" * 32 not in text
