"""The per-worker training loop, optimizers and schedulers, seeding and reporting."""

# Set to 1.0 on the report that ends a trial normally (its last epoch, or early stopping); a trial
# whose last report lacks it was stopped by ASHA. Kept here, free of torch, for the driver's callback.
FINAL_KEY = "final"
