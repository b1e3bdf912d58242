"""Readers: our files, GlassBench files without metadata, the Bapst pickles; bad input."""

import pickle
from pathlib import Path

import numpy as np
import pytest

from glassml.data.io import BapstReader, DatasetError, NpzReader
from glassml.data.synthetic import synthetic_configuration, write_synthetic_dataset
from glassml.io import atomic_save_npz


def test_native_reader(tmp_path: Path) -> None:
    (path,) = write_synthetic_dataset(tmp_path, n_configs=1, n_particles=40, n_test=0)
    conf = NpzReader()(path)
    assert conf.n_particles == 40 and conf.dim == 3
    assert set(conf.positions) == {"equilibrium", "inherent", "cage"}
    assert conf.targets["md_prop"].shape == (4, 40)
    assert conf.times is not None and conf.times.shape == (4,)
    assert conf.metadata["temperature"] == 0.5
    assert np.all((conf.positions["equilibrium"] >= 0) & (conf.positions["equilibrium"] < conf.box))


def test_glassbench_layout_takes_metadata_from_config(tmp_path: Path) -> None:
    paths = write_synthetic_dataset(tmp_path, n_configs=2, n_particles=64, layout="glassbench")
    with np.load(paths[0]) as f:
        assert "box" not in f.files and f["initial_positions"].min() < 0  # [-L/2, L/2)
    with pytest.raises(DatasetError, match="no 'box' key"):
        NpzReader()(paths[0])
    conf = NpzReader(density=1.2, times=[1, 2, 3, 4], temperature=0.44)(paths[0])
    np.testing.assert_allclose(conf.box, (64 / 1.2) ** (1 / 3))
    assert np.all(conf.positions["equilibrium"] >= 0)
    assert conf.metadata["temperature"] == 0.44
    assert "cage" not in conf.positions
    with pytest.raises(DatasetError, match="3 entries but the targets have 4"):
        NpzReader(density=1.2, times=[1, 2, 3])(paths[0])


def test_bapst_reader_recomputes_propensity(tmp_path: Path) -> None:
    paths = write_synthetic_dataset(tmp_path, n_configs=1, n_particles=30, layout="bapst", n_test=0)
    with open(paths[0], "rb") as fh:
        raw = pickle.load(fh)
    conf = BapstReader()(paths[0])
    expected = np.linalg.norm(
        raw["trajectory_target_positions"] - raw["positions"][None, None], axis=-1
    ).mean(axis=1)
    np.testing.assert_allclose(conf.targets["md_prop"], expected)
    assert conf.metadata["temperature"] == 0.44


def _write(path: Path, **overrides) -> Path:
    c = synthetic_configuration(np.random.default_rng(0), 20)
    c.update(overrides)
    atomic_save_npz(path, **{k: v for k, v in c.items() if v is not None})
    return path


def test_nan_is_reported_with_file_and_key(tmp_path: Path) -> None:
    c = synthetic_configuration(np.random.default_rng(0), 20)
    bad = c["md_prop"].copy()
    bad[1, 3] = np.nan
    path = _write(tmp_path / "config_0000.npz", md_prop=bad)
    with pytest.raises(DatasetError, match=r"config_0000\.npz: key 'md_prop' contains 1 NaN"):
        NpzReader()(path)


def test_shape_mismatch_is_reported(tmp_path: Path) -> None:
    path = _write(tmp_path / "config_0001.npz", md_prop=np.zeros((4, 19)))
    with pytest.raises(DatasetError, match=r"config_0001\.npz: key 'md_prop' has shape \(4, 19\)"):
        NpzReader()(path)
    path = _write(tmp_path / "config_0002.npz", initial_positions_inherent=np.zeros((20, 2)))
    with pytest.raises(DatasetError, match="initial_positions_inherent"):
        NpzReader()(path)


def test_missing_key_and_unreadable_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "config_0003.npz", types=None)
    with pytest.raises(DatasetError, match=r"config_0003\.npz: missing required key 'types'"):
        NpzReader()(path)
    junk = tmp_path / "config_0004.npz"
    junk.write_text("not a zip")
    with pytest.raises(DatasetError, match="config_0004.npz: expected an .npz archive"):
        NpzReader()(junk)
