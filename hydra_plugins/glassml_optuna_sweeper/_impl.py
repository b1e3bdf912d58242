"""Optuna ask/tell loop behind `hydra/sweeper=optuna`.

Design: the study lives in a persistent storage (SQLite by default, any SQLAlchemy URL).
The sweeper asks `n_jobs` trials at a time, turns their parameters into Hydra overrides,
launches them with the configured launcher (basic, joblib, submitit) and tells Optuna
the value each job returns. Pruning happens inside the jobs: each job receives the
storage URL, study name and trial number under `trial_key` (default `optuna_trial`),
re-loads its trial from the storage, reports the monitored metric every validation and
stops when the study's pruner says so; the pruner's config is stored in the study
(user attribute `hydra_pruner`) so that every job, on any machine, builds the same one.
A job that was pruned raises `optuna.TrialPruned`, which the sweeper tells as PRUNED.
Everything that can be checked without training is checked before the first trial:
the search space, the keys, the storage, and the trial configs at every bound and
choice (composed by Hydra, then passed to the optional `validate` hook).
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
from hydra.core.plugins import Plugins
from hydra.types import HydraContext, TaskFunction
from hydra.utils import get_method, instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import Trial, TrialState

from ._space import SweepConfigError, check_keys, corner_points, format_value, parse_space
from ._storage import open_storage, redact, resolve_storage_url

log = logging.getLogger(__name__)

#: Study user attribute holding the pruner config that the jobs instantiate.
PRUNER_ATTR = "hydra_pruner"
RESULTS_FILE = "optimization_results.yaml"
TRIALS_FILE = "trials.csv"


def _quote(text: str) -> str:
    """Hydra quoted-string override value (URLs may hold ':', '@', '?', '=')."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _suggest(trial: Trial, name: str, dist: BaseDistribution) -> Any:
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    assert isinstance(dist, FloatDistribution)
    return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)


class OptunaSweeperImpl:
    """See the module docstring; arguments are the keys of `OptunaSweeperConf`."""

    def __init__(
        self,
        sampler: Any,
        direction: Any,
        storage: Any,
        study_name: str | None,
        n_trials: int,
        n_jobs: int,
        max_failure_rate: float,
        search_space: Any = None,
        params: Any = None,
        custom_search_space: str | None = None,
        pruner: Any = None,
        trial_key: str | None = "optuna_trial",
        validate: str | None = None,
    ) -> None:
        if search_space:
            raise SweepConfigError(
                "hydra.sweeper.search_space was removed in Hydra 1.2: write the search space "
                "as hydra.sweeper.params, e.g. model.optimizer.lr: tag(log, interval(1e-4, 1e-2))"
            )
        if n_trials < 1 or n_jobs < 1:
            raise SweepConfigError(
                f"hydra.sweeper.n_trials={n_trials} and hydra.sweeper.n_jobs={n_jobs} must be >= 1"
            )
        if not 0.0 <= max_failure_rate <= 1.0:
            raise SweepConfigError(
                f"hydra.sweeper.max_failure_rate={max_failure_rate} must be in [0, 1]"
            )
        self.sampler = sampler
        self.directions = self._directions(direction)
        self.storage = storage
        self.study_name = study_name
        self.n_trials = int(n_trials)
        self.n_jobs = int(n_jobs)
        self.max_failure_rate = float(max_failure_rate)
        self.params = OmegaConf.to_container(params) if isinstance(params, DictConfig) else params
        self.custom_search_space = get_method(custom_search_space) if custom_search_space else None
        self.pruner = pruner
        self.trial_key = trial_key
        self.validate = get_method(validate) if validate else None
        self.validate_name = validate
        self.job_idx = 0

    @staticmethod
    def _directions(direction: Any) -> list[str]:
        raw = list(direction) if isinstance(direction, (list, tuple, ListConfig)) else [direction]
        names = [getattr(d, "name", d) for d in raw]
        bad = [d for d in names if d not in ("minimize", "maximize")]
        if bad or not names:
            raise SweepConfigError(
                f"hydra.sweeper.direction={names}: expected minimize, maximize or a list of them"
            )
        return names

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )
        self.sweep_dir = Path(str(config.hydra.sweep.dir))

    # ------------------------------------------------------------------ preparation

    def _config_groups(self) -> set[str]:
        """Config groups that `key=option` may select (those of the defaults list and more)."""
        groups = set(self.config.hydra.runtime.choices.keys())
        repo = getattr(self.hydra_context.config_loader, "repository", None)
        if repo is not None:
            groups |= {g for g in ("experiment", "hparams_search") if repo.group_exists(g)}
        return groups

    def _handoff_key(self) -> str | None:
        """The job-config node that receives the trial, or None when the jobs take none."""
        if not self.trial_key:
            if self.pruner is not None:
                raise SweepConfigError("hydra.sweeper.pruner needs hydra.sweeper.trial_key")
            return None
        node = OmegaConf.select(self.config, self.trial_key, default=None)
        if not isinstance(node, DictConfig):
            if self.pruner is not None:
                raise SweepConfigError(
                    f"hydra.sweeper.pruner is set but the job config has no '{self.trial_key}' "
                    "node to receive the trial (hydra.sweeper.trial_key); add one, as "
                    "conf/hparams_search/optuna.yaml does, or set hydra.sweeper.pruner=null"
                )
            return None
        return self.trial_key

    def _handoff(self, key: str | None, url: str, study: str, number: int) -> list[str]:
        if key is None:
            return []
        return [
            f"++{key}.storage={_quote(url)}",
            f"++{key}.study_name={_quote(study)}",
            f"++{key}.number={number}",
        ]

    def _dry_run(
        self, space: dict[str, BaseDistribution], fixed: dict[str, str], key: str | None, url: str
    ) -> None:
        """Compose the trial config at every bound and choice; run the validate hook on it."""
        base = [f"{k}={v}" for k, v in fixed.items()]
        for point in corner_points(space):
            overrides = base + [f"{k}={format_value(v)}" for k, v in point.items()]
            overrides += self._handoff(key, url, "dry-run", 0)
            try:
                cfg = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
            except Exception as e:
                raise SweepConfigError(
                    f"hydra.sweeper.params: the trial config with {point or fixed} does not "
                    f"compose: {e}"
                ) from e
            if self.validate is not None:
                try:
                    self.validate(cfg)
                except Exception as e:
                    raise SweepConfigError(
                        f"hydra.sweeper.validate ({self.validate_name}) rejects the trial config "
                        f"with {point}: {e}"
                    ) from e

    def _sampler(self, n_existing: int) -> Any:
        """Re-seed a seeded sampler when resuming, so that it does not repeat old trials."""
        cfg = self.config.hydra.sweeper.get("sampler")
        seed = cfg.get("seed") if isinstance(cfg, DictConfig) else None
        if seed is None or n_existing == 0:
            return self.sampler
        log.info("resuming a study with %d trials: sampler seed %d", n_existing, seed + n_existing)
        return instantiate(cfg, seed=int(seed) + n_existing)

    def _open_study(self, url: str) -> optuna.Study:
        storage = open_storage(url)
        name = self.study_name
        existing = {s.study_name: s for s in optuna.get_all_study_summaries(storage)}
        n_existing = existing[name].n_trials if name in existing else 0
        study = optuna.create_study(
            storage=storage,
            study_name=name,
            sampler=self._sampler(n_existing),
            pruner=self.pruner,
            directions=self.directions,
            load_if_exists=True,
        )
        have = [d.name.lower() for d in study.directions]
        if have != self.directions:
            raise SweepConfigError(
                f"hydra.sweeper.direction={self.directions} but study '{study.study_name}' in "
                f"{redact(url)} was created with {have}: use another study_name"
            )
        spec = self.config.hydra.sweeper.get("pruner")
        study.set_user_attr(
            PRUNER_ATTR, OmegaConf.to_container(spec, resolve=True) if spec is not None else None
        )
        return study

    # ------------------------------------------------------------------ the loop

    def sweep(self, arguments: list[str]) -> None:
        space, fixed = parse_space(self.params, arguments)
        check_keys(self.config, [*space, *fixed], self._config_groups())
        key = self._handoff_key()
        url = resolve_storage_url(self.storage, self.sweep_dir)
        self._dry_run(space, fixed, key, url)
        study = self._open_study(url)
        log.info(
            "Optuna study '%s' in %s: %d earlier trials, sampler %s, pruner %s, directions %s",
            study.study_name,
            redact(url),
            len(study.trials),
            type(study.sampler).__name__,
            type(study.pruner).__name__,
            self.directions,
        )
        done = 0
        while done < self.n_trials:
            batch = [study.ask() for _ in range(min(self.n_jobs, self.n_trials - done))]
            overrides = [self._trial_overrides(t, space, fixed, key, url, study) for t in batch]
            returns = self.launcher.launch(overrides, initial_job_idx=self.job_idx)
            self.job_idx += len(returns)
            failures = []
            for trial, ret in zip(batch, returns, strict=True):
                state, values, error = self._outcome(ret)
                study.tell(trial, state=state, values=values)
                if error is not None:
                    log.warning("trial %d failed: %s", trial.number, error)
                    failures.append(error)
                elif state == TrialState.PRUNED:
                    log.info("trial %d pruned", trial.number)
            done += len(batch)
            self._write_results(study, url)
            if failures and len(failures) / len(returns) > self.max_failure_rate:
                log.error(
                    "%d of %d trials failed (hydra.sweeper.max_failure_rate=%s)",
                    len(failures),
                    len(returns),
                    self.max_failure_rate,
                )
                raise failures[0]
        log.info("results: %s", self.sweep_dir / RESULTS_FILE)

    def _trial_overrides(
        self,
        trial: Trial,
        space: dict[str, BaseDistribution],
        fixed: dict[str, str],
        key: str | None,
        url: str,
        study: optuna.Study,
    ) -> list[str]:
        for name, dist in space.items():
            _suggest(trial, name, dist)
        for name, value in fixed.items():
            trial.set_user_attr(name, value)
        if self.custom_search_space is not None:
            self.custom_search_space(self.config, trial)
        overlap = set(trial.params) & set(fixed)
        if overlap:
            raise SweepConfigError(f"parameters both fixed and searched: {sorted(overlap)}")
        params = [f"{k}={format_value(v)}" for k, v in trial.params.items()]
        return (
            [f"{k}={v}" for k, v in fixed.items()]
            + params
            + self._handoff(key, url, study.study_name, trial.number)
        )

    def _outcome(self, ret: Any) -> tuple[TrialState, list[float] | None, Exception | None]:
        """Trial state, values and error from a Hydra JobReturn."""
        # a pruned job raised TrialPruned: read it without JobReturn's "Error executing job"
        if isinstance(getattr(ret, "_return_value", None), optuna.TrialPruned):
            return TrialState.PRUNED, None, None
        try:
            value = ret.return_value
        except Exception as e:
            return TrialState.FAIL, None, e
        raw = value if len(self.directions) > 1 else [value]
        try:
            values = [float(v) for v in raw]
        except (TypeError, ValueError):
            return (
                TrialState.FAIL,
                None,
                SweepConfigError(
                    f"the job returned {value!r}, not a number per objective: the task must "
                    "return the optimized metric (optimized_metric in the job config)"
                ),
            )
        if len(values) != len(self.directions) or any(math.isnan(v) for v in values):
            return TrialState.FAIL, None, ValueError(f"the job returned {value!r}")
        return TrialState.COMPLETE, values, None

    # ------------------------------------------------------------------ results

    def _write_results(self, study: optuna.Study, url: str) -> None:
        from glassml.io import atomic_write_text

        trials = study.get_trials(deepcopy=False)
        counts = Counter(t.state.name for t in trials)
        results: dict[str, Any] = {
            "name": "optuna",
            "study_name": study.study_name,
            "storage": redact(url),
            "directions": self.directions,
            "trials": dict(sorted(counts.items())),
        }
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        if complete and len(self.directions) == 1:
            best = study.best_trial
            results.update(best_trial=best.number, best_params=best.params, best_value=best.value)
        elif complete:
            results["solutions"] = [
                {"number": t.number, "params": t.params, "values": t.values}
                for t in study.best_trials
            ]
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.sweep_dir / RESULTS_FILE, OmegaConf.to_yaml(results))
        atomic_write_text(self.sweep_dir / TRIALS_FILE, trials_csv(trials))


def trials_csv(trials: list[optuna.trial.FrozenTrial]) -> str:
    """One row per trial: number, state, value(s), last reported step, duration, params."""
    names = sorted({k for t in trials for k in t.params})
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["number", "state", "value", "last_step", "duration_s", *names])
    for t in trials:
        value = "" if t.values is None else ";".join(f"{v:.6g}" for v in t.values)
        duration = "" if t.duration is None else f"{t.duration.total_seconds():.1f}"
        last = max(t.intermediate_values) if t.intermediate_values else ""
        writer.writerow(
            [t.number, t.state.name, value, last, duration, *(t.params.get(k, "") for k in names)]
        )
    return buf.getvalue()
