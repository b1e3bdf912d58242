"""Sweeps (Optuna sweeper plugin), launchers (joblib, submitit) and their configs."""
