"""Running sweeps on Ray clusters: Ray Jobs submission."""
