"""MLflow side of a sweep: the tracking store, parent/child runs, and the leaderboard."""
