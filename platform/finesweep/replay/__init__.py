"""Replayed trials: recorded learning curves (``table``) reported again through the real stack."""
