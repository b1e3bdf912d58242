"""Evaluation: the GlassBench metrics and the reports built on them.

bootstrap (Pearson with CIs over configurations), chi4 (dynamic susceptibility),
spatial (propensity correlation function and length), ceiling (iso-configurational
upper bound), analysis (all of them for one set of predictions), evaluate (checkpoint ->
predictions, metrics.json, report.md, plots), transfer (matrix over checkpoints and
datasets), leaderboard (all runs of a directory plus published rows), published (the
literature numbers), baselines, report/markdown/plots (rendering).
"""
