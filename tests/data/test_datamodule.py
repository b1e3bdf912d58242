"""Splits, standardisation, time selection, caching and errors of the data module."""

from pathlib import Path

import pytest
import torch

from glassml.data import DatasetError, DatasetNotFoundError, GlassDataModule, NpzReader
from glassml.data.synthetic import write_synthetic_dataset


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("native")
    write_synthetic_dataset(root, n_configs=12, n_particles=40, n_times=4)
    return root


def test_splits_are_disjoint_and_deterministic(native: Path) -> None:
    a = GlassDataModule(str(native), test_fraction=0.25, val_fraction=0.2).split_files()
    b = GlassDataModule(str(native), test_fraction=0.25, val_fraction=0.2).split_files()
    assert a == b
    sets = [set(a[s]) for s in ("train", "val", "test")]
    assert sum(len(s) for s in sets) == 12 and len(set.union(*sets)) == 12
    assert len(a["test"]) == 3 and len(a["val"]) == 2
    c = GlassDataModule(str(native), split_seed=1).split_files()
    assert c["test"] != a["test"]


def test_test_glob_split(tmp_path: Path) -> None:
    write_synthetic_dataset(tmp_path, n_configs=10, n_particles=40, layout="glassbench", n_test=3)
    dm = GlassDataModule(
        str(tmp_path),
        reader=NpzReader(density=1.2),
        train_glob="train/*.npz",
        test_glob="test/*.npz",
        val_fraction=0.2,
    )
    files = dm.split_files()
    assert [p.parent.name for p in files["test"]] == ["test"] * 3
    assert len(files["val"]) == 1 and len(files["train"]) == 6
    assert all(p.parent.name == "train" for p in files["train"] + files["val"])


def test_standardisation_and_batches(native: Path, tmp_path: Path) -> None:
    dm = GlassDataModule(str(native), cache_dir=str(tmp_path), train_species=[0])
    dm.setup()
    info = dm.info
    assert info is not None and info.num_targets == 4 and info.dim == 3
    ys = torch.cat([g.y[g.species == 0] for g in dm.datasets["train"].graphs])
    torch.testing.assert_close(ys.mean(0), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(ys.std(0), torch.ones(4), atol=1e-4, rtol=0)
    g = dm.datasets["train"].graphs[0]
    assert g.x.shape == (40, 2) and g.edge_attr.shape[1] == 4
    torch.testing.assert_close(g.edge_attr[:, 3], g.edge_attr[:, :3].norm(dim=1))
    batch = next(iter(dm.val_dataloader()))
    assert batch.y.shape[1] == 4


def test_time_selection(native: Path) -> None:
    dm = GlassDataModule(str(native), time_indices=[1, -1], tau_alpha_index=2)
    dm.setup()
    assert dm.info.time_indices == [1, 3]
    assert dm.info.times == pytest.approx([1.0, 100.0])
    dm = GlassDataModule(str(native), time_indices=["tau"], tau_alpha_index=2)
    dm.setup()
    assert dm.info.time_indices == [2] and dm.info.tau_position == 0
    with pytest.raises(DatasetError, match="time_indices"):
        GlassDataModule(str(native), time_indices=[7]).setup()
    with pytest.raises(DatasetError, match="tau_alpha is unknown"):
        GlassDataModule(str(native), time_indices=["tau"]).setup()


def test_cache_is_keyed_by_config(native: Path, tmp_path: Path, monkeypatch) -> None:
    dm = GlassDataModule(str(native), cache_dir=str(tmp_path), name="x")
    dm.setup()
    n_entries = len(list((tmp_path / "x").glob("*.pt")))
    assert n_entries == 12

    def boom(self, path):
        raise AssertionError("cache miss")

    monkeypatch.setattr(GlassDataModule, "_process", boom)
    again = GlassDataModule(str(native), cache_dir=str(tmp_path), name="x")
    again.setup()  # all from the cache
    torch.testing.assert_close(
        again.datasets["train"].graphs[0].edge_attr, dm.datasets["train"].graphs[0].edge_attr
    )
    other = GlassDataModule(str(native), cache_dir=str(tmp_path), name="x", cutoff=1.5)
    with pytest.raises(AssertionError, match="cache miss"):
        other.setup()  # a changed config never reads the old entries
    monkeypatch.undo()
    other = GlassDataModule(str(native), cache_dir=str(tmp_path), name="x", cutoff=1.5)
    other.setup()
    assert len(list((tmp_path / "x").glob("*.pt"))) == 24
    assert not list((tmp_path / "x").glob(".*tmp"))  # no temporary leftovers


def test_missing_directory_names_path_and_fix(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    dm = GlassDataModule(str(missing), missing_hint="create it with `make sample-data`")
    with pytest.raises(DatasetNotFoundError, match=r"nowhere does not exist.*make sample-data"):
        dm.setup()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetNotFoundError, match=r"no files matching 'config_\*\.npz'"):
        GlassDataModule(str(empty)).setup()


def test_missing_position_set_names_file(tmp_path: Path) -> None:
    write_synthetic_dataset(tmp_path, n_configs=4, n_particles=30, layout="glassbench", n_test=1)
    dm = GlassDataModule(
        str(tmp_path),
        reader=NpzReader(density=1.2),
        train_glob="train/*.npz",
        test_glob="test/*.npz",
        positions="cage",
    )
    with pytest.raises(DatasetError, match=r"dataset\.positions=cage needs key .* none of"):
        dm.setup()
