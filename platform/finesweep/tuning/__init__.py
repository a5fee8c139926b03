"""Ray Tune side of a sweep: search spaces, searchers, ASHA, concurrency planning, the trainable."""
