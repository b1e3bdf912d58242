"""hparams_search=optuna end to end on tiny data: trials, resume, pruning, bad input."""

from __future__ import annotations

import csv
from pathlib import Path

import optuna
import pytest
from hydra_plugins.glassml_optuna_sweeper._space import SweepConfigError
from omegaconf import OmegaConf

from glassml.training.pruning import MetricNotLoggedError

from .conftest import tiny_run

STUDY = "tiny"


def sweep_args(root: Path, tmp: Path, sweep_dir: Path, n_trials: int) -> list[str]:
    return [
        "hparams_search=bapst_optuna",
        *tiny_run(root, tmp),
        f"hydra.sweep.dir={sweep_dir}",
        f"hydra.sweeper.storage=sqlite:///{tmp}/optuna.db",
        f"hydra.sweeper.study_name={STUDY}",
        f"hydra.sweeper.n_trials={n_trials}",
        "hydra.sweeper.sampler.n_startup_trials=2",
        "model.net.hidden=choice(8,12)",
        "model.net.n_steps=range(1,3)",
    ]


def load(tmp: Path) -> optuna.Study:
    return optuna.load_study(study_name=STUDY, storage=f"sqlite:///{tmp}/optuna.db")


def best_val(job_dir: Path) -> float:
    rows = csv.DictReader((job_dir / "csv" / "version_0" / "metrics.csv").open())
    return max(float(r["val/pearson_A_tau"]) for r in rows if r.get("val/pearson_A_tau"))


def test_sweep_writes_best_params_and_resumes(sweep_data, tmp_path, glassml_train) -> None:
    first = tmp_path / "sweep1"
    glassml_train(*sweep_args(sweep_data, tmp_path, first, 3))

    study = load(tmp_path)
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    searched = {
        "model.optimizer.lr",
        "model.optimizer.weight_decay",
        "dataset.batch_size",
        "dataset.cutoff",
        "model.net.hidden",
        "model.net.n_steps",
    }
    results = OmegaConf.load(first / "optimization_results.yaml")
    assert set(results.best_params) == searched
    assert results.best_value == max(t.value for t in trials)
    assert results.trials.COMPLETE == 3
    for t in trials:
        job = first / str(t.number)
        cfg = OmegaConf.load(job / "config_resolved.yaml")
        # the job ran the trial's parameters and got its trial handed over
        assert cfg.model.optimizer.lr == pytest.approx(t.params["model.optimizer.lr"])
        assert cfg.model.net.n_steps == t.params["model.net.n_steps"] in (1, 2)
        assert cfg.optuna_trial.number == t.number and cfg.optuna_trial.study_name == STUDY
        # reported each epoch to the trial; the value told is the run's best validation
        assert sorted(t.intermediate_values) == [0, 1]
        assert t.value == pytest.approx(best_val(job), abs=1e-6)
        assert t.value == pytest.approx(max(t.intermediate_values.values()), abs=1e-6)
    rows = list(csv.DictReader((first / "trials.csv").open()))
    assert [int(r["number"]) for r in rows] == [0, 1, 2]

    # the same command with the same storage resumes the study: 2 more trials, none redone
    second = tmp_path / "sweep2"
    glassml_train(*sweep_args(sweep_data, tmp_path, second, 2))
    after = load(tmp_path).get_trials()
    assert [t.number for t in after] == [0, 1, 2, 3, 4]
    for old, again in zip(trials, after[:3], strict=True):
        assert (old.params, old.value, old.state) == (again.params, again.value, again.state)
    assert sorted(p.name for p in second.iterdir() if p.is_dir()) == ["0", "1"]
    assert OmegaConf.load(second / "0" / "config_resolved.yaml").optuna_trial.number == 3
    seen = [tuple(sorted(t.params.items())) for t in after]
    assert len(set(seen)) == len(seen), "a resumed sweep repeated a finished trial"
    assert OmegaConf.load(second / "optimization_results.yaml").trials.COMPLETE == 5


def test_pruned_trial_stops_early(sweep_data, tmp_path, glassml_train) -> None:
    # a pruner that prunes every trial at its first report: Pearson < 1 always
    pruner = [
        "hydra.sweeper.pruner._target_=optuna.pruners.ThresholdPruner",
        "~hydra.sweeper.pruner.n_startup_trials",
        "hydra.sweeper.pruner.n_warmup_steps=0",
        "+hydra.sweeper.pruner.lower=1.0",
    ]
    sweep = tmp_path / "sweep"
    args = sweep_args(sweep_data, tmp_path, sweep, 1)
    glassml_train(
        *[a for a in args if a != "trainer.max_epochs=2"], "trainer.max_epochs=4", *pruner
    )
    (trial,) = load(tmp_path).get_trials()
    assert trial.state.name == "PRUNED"
    assert list(trial.intermediate_values) == [0]
    rows = csv.DictReader((sweep / "0/csv/version_0/metrics.csv").open())
    assert {r["epoch"] for r in rows if r["epoch"]} == {"0"}  # stopped after epoch 0 of 4


@pytest.mark.parametrize(
    ("override", "error", "message"),
    [
        ("model.optimizer.lr=interval(1e-2,1e-4)", SweepConfigError, "interval is empty"),
        ("model.optimizer.lr=tag(log,interval(0,1e-2))", SweepConfigError, "log interval"),
        ("model.net.hidden=range(16,8)", SweepConfigError, "is empty"),
        ("model.net.hiden=choice(8,16)", SweepConfigError, "did you mean model.net.hidden"),
        ("optimized_metric=val/pearson_A_tua", SweepConfigError, "optimized_metric='val/pear"),
        ("model.optimizer.lr=choice(-1.0,0.01)", SweepConfigError, "Invalid learning rate"),
        ("hydra.sweeper.direction=minimize", SweepConfigError, "model_checkpoint.mode=max"),
    ],
)
def test_bad_search_space_fails_before_any_trial(
    sweep_data, tmp_path, glassml_train, override, error, message
) -> None:
    sweep = tmp_path / "sweep"
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        glassml_train(*sweep_args(sweep_data, tmp_path, sweep, 2), override)
    assert not (sweep / "0").exists()
    assert not (tmp_path / "optuna.db").exists() or not load(tmp_path).get_trials()


def test_unreachable_storage_is_a_clear_error(sweep_data, tmp_path, glassml_train) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    args = sweep_args(sweep_data, tmp_path, tmp_path / "sweep", 1)
    with pytest.raises(SweepConfigError, match="hydra.sweeper.storage.*cannot create the folder"):
        glassml_train(*args, f"hydra.sweeper.storage=sqlite:///{blocker}/optuna.db")
    # a server that does not answer (or a missing driver): named, password hidden
    url = "postgresql://glassml:secret@127.0.0.1:9/optuna"
    with pytest.raises(SweepConfigError, match=r"cannot open the Optuna storage") as info:
        glassml_train(*args, f"hydra.sweeper.storage={url}")
    assert "secret" not in str(info.value) and "127.0.0.1:9" in str(info.value)
    assert not (tmp_path / "sweep" / "0").exists()


def test_metric_never_logged_stops_at_the_sanity_check(sweep_data, tmp_path, glassml_train):
    """A well-formed name the data cannot produce (no species C): the first trial stops
    in Lightning's sanity check, before any training step, and the sweep stops with it."""
    sweep = tmp_path / "sweep"
    args = sweep_args(sweep_data, tmp_path, sweep, 3)
    with pytest.raises(MetricNotLoggedError, match=r"val/pearson_C_tau.*val/pearson_A_tau"):
        glassml_train(*args, "optimized_metric=val/pearson_C_tau")
    (trial,) = load(tmp_path).get_trials()
    assert trial.state.name == "FAIL"
    assert not list((sweep / "0").glob("checkpoints/*.ckpt"))
