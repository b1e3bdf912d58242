"""Evaluation: baselines, Pearson reports, plots and the `evaluate` function."""
