"""Where and how trials run: the Ray connection, concurrency planning, the trainables (and the replay
trial), the console's trial lines, and out-of-memory trials as failed trials."""
