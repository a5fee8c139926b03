"""Champion/challenger promotion in MLflow's model registry, for every task.

Above tasks, serving and tracking: the sweep's task rebuilds its held-out split and scores a
served model on it (``Task.held_out_split`` / ``Task.evaluate_held_out``); this package compares
the challenger with the champion (paired bootstrap), registers, and moves the aliases.
"""
