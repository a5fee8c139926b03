"""Datasets: the catalog, readers for user files, splits, balancing and preparation."""
