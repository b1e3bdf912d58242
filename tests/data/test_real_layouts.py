"""The readers on files in the published layouts: DeepMind's own test pickle, Bapst-layout
pickles, GlassBench 3D/2D files; time grids and tau_alpha per temperature; cage subset;
broken files; no code execution from pickles."""

from __future__ import annotations

import logging
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate

from glassml.data.io import BapstReader, DatasetError, NpzReader, UnsafePickleError

from ..hydra_helpers import compose_config
from .real_layouts import T044_TIMES, bapst_record, get_targets, write_bapst, write_glassbench

DEEPMIND = Path(__file__).parent / "deepmind" / "test_small.pickle"


def datamodule(overrides: list[str], data_dir: Path):
    cfg = compose_config("train", [*overrides, f"paths.data_dir={data_dir}"], data_dir / "run")
    dm = instantiate(cfg.dataset)
    dm.setup()
    return dm


# --------------------------------------------------------------------------- Bapst


def test_deepmind_test_pickle_matches_its_get_targets() -> None:
    with open(DEEPMIND, "rb") as fh:
        raw = pickle.load(fh)  # the committed file from the release, trusted here
    conf = BapstReader()(DEEPMIND)
    rows = conf.metadata["release_rows"]
    for k, row in enumerate(rows):
        expected = get_targets(raw["positions"], raw["trajectory_target_positions"][row])
        np.testing.assert_allclose(conf.targets["md_prop"][k], expected, rtol=2e-6)
    times = np.asarray(raw["time"])[raw["time_indices"]]
    np.testing.assert_allclose(conf.times, times[rows])
    assert np.all(np.diff(conf.times) > 0)  # time order
    # release row 9 (is_values 1/e) lies between rows 5 and 6: it becomes row 6
    assert rows == [0, 1, 2, 3, 4, 5, 9, 6, 7, 8]
    assert conf.metadata["tau_alpha_row"] == 6
    assert conf.metadata["is_values"][6] == pytest.approx(np.exp(-1))
    assert conf.metadata["tau_alpha"] == pytest.approx(times[9])
    np.testing.assert_allclose(conf.box, raw["box"])  # 15.044 from the file, not rho = 1.2
    assert conf.metadata["temperature"] == 0.44


def test_bapst_layout_times_per_file(tmp_path: Path) -> None:
    root = write_bapst(tmp_path / "bapst", n_train=2, n_test=1)
    files = sorted(root.rglob("*.pickle"))
    confs = [BapstReader()(p) for p in files]
    for p, conf in zip(files, confs, strict=True):
        with open(p, "rb") as fh:
            raw = pickle.load(fh)
        times = np.asarray(raw["time"])[raw["time_indices"]]
        np.testing.assert_allclose(conf.times, np.sort(times))
        row9 = get_targets(raw["positions"], raw["trajectory_target_positions"][9])
        np.testing.assert_allclose(conf.targets["md_prop"][6], row9, rtol=2e-6)
    assert not np.allclose(confs[0].times, confs[1].times)  # time_indices differ per file


def test_stored_targets_when_trajectories_are_cut(tmp_path: Path) -> None:
    """The release's test_large.pickle keeps one row of trajectories and all 10 `targets`."""
    record = bapst_record(np.random.default_rng(1))
    full = [get_targets(record["positions"], t) for t in record["trajectory_target_positions"]]
    record["targets"] = full
    record["trajectory_target_positions"] = record["trajectory_target_positions"][:1]
    path = tmp_path / "aggregated_data_2.pickle"
    path.write_bytes(pickle.dumps(record, protocol=3))
    conf = BapstReader()(path)
    rows = conf.metadata["release_rows"]
    np.testing.assert_allclose(conf.targets["md_prop"], np.asarray(full)[rows], rtol=1e-6)


def test_restricted_unpickler_refuses_a_function_call(tmp_path: Path) -> None:
    target = tmp_path / "created_by_the_pickle"

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(target),))

    record = bapst_record(np.random.default_rng(0))
    record["metadata"] = Payload()
    bad = tmp_path / "aggregated_data_1.pickle"
    bad.write_bytes(pickle.dumps(record, protocol=3))
    with pytest.raises(UnsafePickleError, match=r"aggregated_data_1\.pickle: refused .*mkdir"):
        BapstReader()(bad)
    assert not target.exists()


def test_uneven_bapst_runs_name_the_file(tmp_path: Path) -> None:
    record = bapst_record(np.random.default_rng(0), n_runs=4)
    record["trajectory_target_positions"][3] = record["trajectory_target_positions"][3][:3]
    bad = tmp_path / "aggregated_data_7.pickle"
    bad.write_bytes(pickle.dumps(record, protocol=3))
    with pytest.raises(DatasetError, match=r"aggregated_data_7\.pickle: .*uneven run counts"):
        BapstReader()(bad)


def test_truncated_pickle(tmp_path: Path) -> None:
    bad = tmp_path / "aggregated_data_8.pickle"
    bad.write_bytes(DEEPMIND.read_bytes()[:5000])
    with pytest.raises(DatasetError, match=r"aggregated_data_8\.pickle: expected a complete"):
        BapstReader()(bad)


def test_bapst_dataset_tau_from_is_values(tmp_path: Path) -> None:
    write_bapst(tmp_path / "bapst")
    dm = datamodule(["dataset=bapst", "experiment=bapst2020"], tmp_path)
    assert dm.info.time_indices == [6] and dm.info.is_values[0] == pytest.approx(np.exp(-1))
    assert 2000 < dm.info.times[0] < 6000  # median of the files' time[time_indices[9]]


# --------------------------------------------------------------------------- GlassBench


@pytest.mark.parametrize("temperature", [0.44, 0.50, 0.56, 0.64])
def test_glassbench_3d_grid_per_temperature(tmp_path: Path, temperature: float, caplog) -> None:
    write_glassbench(tmp_path / "glassbench", 3, temperature, n_train=3, n_test=1)
    with caplog.at_level(logging.INFO, logger="glassml.data.datamodule"):
        dm = datamodule(["dataset=glassbench_ka3d", f"dataset.temperature={temperature}"], tmp_path)
    tau = {0.44: 4120.0, 0.50: 217.0, 0.56: 52.0, 0.64: 16.5}[temperature]
    assert dm.info.tau_position == 6
    assert dm.info.times[6] == pytest.approx(tau, rel=0.01)
    assert dm.info.times[-1] / dm.info.times[6] == pytest.approx(10**1.5, rel=0.01)
    if temperature == 0.44:
        assert dm.info.times == T044_TIMES
    assert f"tau_alpha at time index 6, t = {dm.info.times[6]:.6g}" in caplog.text


def test_archive_grid_file_wins(tmp_path: Path, caplog) -> None:
    write_glassbench(tmp_path / "glassbench", 3, 0.50, n_train=3, n_test=1)
    grid = np.geomspace(0.01, 5000.0, 10)
    results = tmp_path / "glassbench" / "KA_results"
    results.mkdir()
    np.savetxt(results / "times_T0.50.dat", grid)
    np.savetxt(results / "times_T0.44.dat", grid * 20)  # another temperature: not used
    with caplog.at_level(logging.INFO, logger="glassml.data.datamodule"):
        dm = datamodule(["experiment=glassbench/ka3d_T050"], tmp_path)
    np.testing.assert_allclose(dm.info.times, grid)
    assert dm.info.tau_position == int(np.argmin(np.abs(np.log(grid / 217.0))))
    assert "times_T0.50.dat" in caplog.text


@pytest.mark.parametrize(("temperature", "n_times"), [(0.30, 6), (0.23, 8)])
def test_glassbench_2d_grid(tmp_path: Path, temperature: float, n_times: int, caplog) -> None:
    write_glassbench(tmp_path / "glassbench", 2, temperature, n_train=3, n_test=1, n_times=n_times)
    tau = {0.30: 2200.0, 0.23: 918306.0}[temperature]
    # without the archive's grid: labelled by index, longest time for tau_alpha, warned
    with caplog.at_level(logging.INFO, logger="glassml.data.datamodule"):
        dm = datamodule(["dataset=glassbench_ka2d", f"dataset.temperature={temperature}"], tmp_path)
    assert dm.info.times is None and dm.info.tau_position == n_times - 1
    assert f"tau_alpha = {tau:g} is known but the files have no time grid" in caplog.text
    grid = tau * np.logspace(-3, 1.5, n_times)
    results = tmp_path / "glassbench" / "KA2D_results"
    results.mkdir()
    np.savetxt(results / f"times_T{temperature:.2f}.dat", grid)
    dm = datamodule(
        ["dataset=glassbench_ka2d", f"dataset.temperature={temperature}", "dataset.cache_dir=null"],
        tmp_path,
    )
    np.testing.assert_allclose(dm.info.times, grid)
    assert dm.info.num_species == 3 and dm.info.dim == 2
    assert dm.info.tau_position == int(np.argmin(np.abs(np.log(grid / tau))))


def test_cage_positions_use_the_subset_that_has_them(tmp_path: Path, caplog) -> None:
    write_glassbench(tmp_path / "glassbench", 3, 0.44, n_train=8, n_test=2, cage_files=3)
    with caplog.at_level(logging.INFO, logger="glassml.data.datamodule"):
        dm = datamodule(["dataset=glassbench_ka3d", "dataset.positions=cage"], tmp_path)
    used = dm.files["train"] + dm.files["val"]
    assert sorted(int(p.stem.split("_")[-1]) for p in used) == [1, 2, 3]
    assert "using 3 of 8 files of the training pool" in caplog.text
    with pytest.raises(DatasetError, match="dataset.positions=cage needs key"):
        datamodule(["dataset=glassbench_ka3d", "dataset.positions=cage"], _no_cage(tmp_path))


def _no_cage(tmp_path: Path) -> Path:
    data = tmp_path / "nocage"
    write_glassbench(data / "glassbench", 3, 0.44, n_train=4, n_test=1, cage_files=0)
    for p in (data / "glassbench").rglob("train/*.npz"):
        assert "initial_positions_cage" not in np.load(p).files
    return data


# --------------------------------------------------------------------------- broken files


def test_truncated_npz_names_the_file(tmp_path: Path) -> None:
    folder = write_glassbench(tmp_path, 3, 0.44, n_train=1, n_test=0)
    good = next(folder.rglob("*.npz"))
    bad = tmp_path / "N100T0.44_9.npz"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DatasetError, match=r"N100T0\.44_9\.npz: truncated or corrupt \.npz"):
        NpzReader(density=1.2)(bad)


def test_corrupt_member_names_the_file(tmp_path: Path) -> None:
    folder = write_glassbench(tmp_path, 3, 0.44, n_train=1, n_test=0)
    good = next(folder.rglob("*.npz"))
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as zf:
        info = zf.getinfo("md_prop.npy")
    start = info.header_offset + 30 + len(info.filename) + 10
    data[start : start + 64] = bytes(64)  # damage compressed bytes, keep the directory
    bad = tmp_path / "N100T0.44_10.npz"
    bad.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=r"N100T0\.44_10\.npz: truncated or corrupt"):
        NpzReader(density=1.2)(bad)


def test_text_file_is_not_called_a_pickle(tmp_path: Path) -> None:
    bad = tmp_path / "N100T0.44_11.npz"
    bad.write_text("types initial_positions\n0 1.0 2.0 3.0\n")
    with pytest.raises(DatasetError, match=r"expected an \.npz archive .*found a text file") as e:
        NpzReader(density=1.2)(bad)
    assert "N100T0.44_11.npz" in str(e.value) and "pickle" not in str(e.value)


def test_training_stops_before_any_step_on_a_broken_file(tmp_path: Path) -> None:
    from glassml.training.train import train

    folder = write_glassbench(tmp_path / "glassbench", 3, 0.44, n_train=4, n_test=1)
    broken = folder / "train" / "N100T0.44_3.npz"
    broken.write_bytes(broken.read_bytes()[:200])
    cfg = compose_config(
        "train",
        [
            "experiment=glassbench/ka3d_T044",
            f"paths.data_dir={tmp_path}",
            "logger=csv",
            "trainer=cpu",
            "trainer.fast_dev_run=true",
        ],
        tmp_path / "run",
    )
    with pytest.raises(DatasetError, match=r"N100T0\.44_3\.npz: truncated"):
        train(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()
    assert not list((tmp_path / "run").rglob("metrics.csv"))
