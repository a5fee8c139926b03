"""Cells as the console prints them in `sweeps`, `leaderboard` and `report`: numbers rounded as
numbers, ids, names and text values as recorded."""

from __future__ import annotations

import math

import pandas as pd

from finesweep.tracking.leaderboard import format_table, significant
from finesweep.tuning.execution.progress import compact


def test_numbers_round_and_text_prints_as_recorded():
    assert significant(0.0035416942510195803) == "0.003542"
    assert significant(0.52696208678) == "0.527"
    assert significant(3.0) == "3" and significant(16) == "16", "whole numbers stay whole"
    assert significant(1234567.8) == "1.235e+06"
    assert significant("class_weight") == "class_weight"
    assert significant(None) == "-" and significant(math.nan) == "-"
    assert significant("[1, 2]") == "[1, 2]"
    assert compact(0.00037184200033168465) == "0.0003718" and compact(16) == "16" and compact("none") == "none"


def test_ids_and_names_that_look_like_numbers_are_never_parsed():
    # Tune's ids are hex (435477e3 reads as 4.35e+08) or grid-style (12345_00003 reads as 1234500003)
    for text in ("435477e3", "12345_00003", "1_2", "0.0006748256705987522", "1e-3", "007", "inf", "nan"):
        assert significant(text) == text, text


def test_leaderboard_table_rounds_metrics_and_typed_values_only():
    table = pd.DataFrame(
        [{"trial_id": "435477e3", "status": "completed", "val_macro_f1": 0.52696208678, "epochs_run": 3.0,
          "learning_rate": 0.0006748256705987522, "balancing": "none", "run_id": "x" * 32},
         {"trial_id": "12345_00003", "status": "pruned", "val_macro_f1": 0.4, "epochs_run": 1.0,
          "learning_rate": 0.001, "balancing": "1_2", "run_id": "y" * 32}],
        index=[1, 2],
    )  # fmt: skip
    text = format_table(table)
    assert "0.527" in text and "0.0006748" in text and " 3 " in text
    assert "435477e3" in text and "12345_00003" in text and "1_2" in text, text
    assert "4.355e+08" not in text and "0.52696" not in text and "0.00067482" not in text and "x" * 32 not in text
