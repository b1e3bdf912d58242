"""Hydra sweeper on Optuna >= 4 (ask/tell), config-compatible with hydra-optuna-sweeper.

Why not the released `hydra-optuna-sweeper`: it pins optuna<3, whose RDB storage fails
with current SQLAlchemy (AssertionError in get_current_version), and pinning an old
SQLAlchemy breaks alembic. This plugin keeps the official `hydra.sweeper` keys
(sampler, direction, storage, study_name, n_trials, n_jobs, max_failure_rate, params,
custom_search_space) and adds pruning through a persistent study shared with the jobs.

Hydra imports every module under `hydra_plugins` at start-up, so nothing heavy is
imported at module level here.
"""
