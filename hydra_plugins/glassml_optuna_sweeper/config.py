"""Structured configs: `hydra/sweeper=optuna` and `hydra/sweeper/sampler=tpe|random`.

No `from __future__ import annotations` here: Hydra's plugin scan executes this module
outside `sys.modules`, where dataclasses cannot resolve string annotations.
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class TPESamplerConf:
    """optuna.samplers.TPESampler (the default, as in the official plugin)."""

    _target_: str = "optuna.samplers.TPESampler"
    seed: int | None = None
    # random trials before TPE takes over
    n_startup_trials: int = 10
    n_ei_candidates: int = 24
    multivariate: bool = False
    # treat running trials as bad: parallel workers then explore different points
    constant_liar: bool = False


@dataclass
class RandomSamplerConf:
    """optuna.samplers.RandomSampler."""

    _target_: str = "optuna.samplers.RandomSampler"
    seed: int | None = None


@dataclass
class OptunaSweeperConf:
    """The official plugin's keys, plus `pruner`, `trial_key` and `validate` (see README)."""

    _target_: str = "hydra_plugins.glassml_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    defaults: list[Any] = field(default_factory=lambda: [{"sampler": "tpe"}])

    sampler: Any = MISSING
    # minimize | maximize, or a list of them for several objectives
    direction: Any = "minimize"
    # SQLAlchemy URL; null: sqlite:///<sweep dir>/optuna.db
    storage: Any = None
    # null: Optuna picks a fresh name (a study can only be resumed by name)
    study_name: str | None = None
    # trials run by this invocation (a resumed study keeps its earlier trials)
    n_trials: int = 20
    # trials asked and launched together (the launcher runs them in parallel)
    n_jobs: int = 2
    # fraction of failed trials in a batch that is tolerated before the sweep stops
    max_failure_rate: float = 0.0
    # deprecated by the official plugin in Hydra 1.2: use params
    search_space: dict[str, Any] | None = None
    # {config key: "interval(a, b)" | "tag(log, interval(a, b))" | "range(a, b, s)" |
    #  "choice(x, y)" | fixed value}
    params: dict[str, Any] | None = None
    # dotted path of fn(cfg, trial) adding parameters the grammar above cannot express
    custom_search_space: str | None = None
    # optuna pruner (_target_ ...); the jobs rebuild it from the study in the storage
    pruner: Any = None
    # config node that receives storage, study_name and number of each trial (null: none)
    trial_key: str | None = "optuna_trial"
    # dotted path of fn(job_cfg) run on trial configs before any trial (null: none)
    validate: str | None = None


_cs = ConfigStore.instance()
_cs.store(group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider="glassml")
_cs.store(group="hydra/sweeper/sampler", name="tpe", node=TPESamplerConf, provider="glassml")
_cs.store(group="hydra/sweeper/sampler", name="random", node=RandomSamplerConf, provider="glassml")
