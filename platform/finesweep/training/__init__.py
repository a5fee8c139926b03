"""The per-worker training loop, optimizers and schedulers, seeding and reporting."""
