"""Domain-fate classification through glassml-train: data module, splits, models, CLI runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from glassml.io import atomic_save_npz
from glassml.sorting import fate
from glassml.sorting.fate_data import DomainFateDataModule
from glassml.training.train import train
from tests.hydra_helpers import compose_config

FAST = ["trainer=cpu", "logger=csv", "callbacks=none"]


@pytest.fixture(scope="module")
def fate_file(sweep, tmp_path_factory):
    out = tmp_path_factory.mktemp("fate") / "fates.npz"
    fate.build_fate_dataset([sweep / str(k) for k in range(3)], out, radius=5)
    return out


def synthetic_fates(path, n_runs=4, n_snap=20, per_snap=60, seed=0):
    """Fates that depend on size AND on the free-molecule density, with one-site graphs."""
    rng = np.random.default_rng(seed)
    n = n_runs * n_snap * per_snap
    size = rng.integers(1, 30, n).astype(float)
    free = rng.uniform(0.0, 0.05, n)
    logit = 1.5 * (np.log(size) - np.log(8.0)) + 100.0 * (free - 0.025)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    x = np.zeros((n, len(fate.FEATURES)))
    x[:, 0], x[:, 3] = size, free
    x[:, 1] = 2 * np.sqrt(size) + 2
    run = np.repeat(np.arange(n_runs), n_snap * per_snap)
    snap = np.tile(np.repeat(np.arange(n_snap), per_snap), n_runs)
    meta = np.column_stack([run, snap, np.arange(n)])
    atomic_save_npz(
        path,
        x=x,
        y=y,
        meta=meta,
        feature_names=np.array(fate.FEATURES),
        node_offsets=np.arange(n + 1, dtype=np.int64),
        node_pos=np.zeros((n, 2), np.int16),
        node_feat=np.tile(np.array([[1, 0, 0]], np.uint8), (n, 1)),
        info_json=np.array(json.dumps({"radius": 1, "sources": []})),
    )
    return path


def test_graph_edges_match_a_brute_force_neighbour_search(fate_file):
    data = fate.load_fate_dataset(fate_file)
    for i in range(0, len(data["y"]), max(1, len(data["y"]) // 15)):
        _feat, pos, edges = fate.graph(data, i)
        expected = {
            (a, b)
            for a in range(len(pos))
            for b in range(len(pos))
            if np.abs(pos[a] - pos[b]).sum() == 1
        }
        assert set(map(tuple, edges.T.tolist())) == expected


def test_temporal_splits_are_disjoint_and_ordered(fate_file):
    dm = DomainFateDataModule(str(fate_file), test_fraction=0.3, val_fraction=0.2)
    meta = fate.load_fate_dataset(fate_file)["meta"]
    masks = dm.split_masks(meta)
    total = masks["train"].astype(int) + masks["val"] + masks["test"]
    assert (total == 1).all()
    for r in np.unique(meta[:, 0]):
        m = meta[:, 0] == r
        snaps = {s: meta[m & masks[s], 1] for s in masks}
        if len(snaps["test"]) and len(snaps["train"]):
            assert snaps["train"].max() < snaps["test"].min()
        if len(snaps["val"]) and len(snaps["test"]):
            assert snaps["val"].max() < snaps["test"].min()


def test_bad_input_names_the_key_or_file(tmp_path, fate_file):
    with pytest.raises(ValueError, match=r"dataset.features.*unknown \['volume'\]"):
        DomainFateDataModule(str(fate_file), features=["size", "volume"])
    with pytest.raises(ValueError, match="dataset.test_fraction"):
        DomainFateDataModule(str(fate_file), test_fraction=1.5)
    with pytest.raises(FileNotFoundError, match="nope.npz.*make it"):
        missing = DomainFateDataModule(str(tmp_path / "nope.npz"), missing_hint="make it")
        missing.setup()
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="corrupt.npz"):
        DomainFateDataModule(str(corrupt)).setup()


def test_fast_dev_run_mlp_and_gnn_through_the_cli_config(fate_file, tmp_path):
    for experiment in ("sorting_fate", "sorting_fate_gnn"):
        out = tmp_path / experiment
        cfg = compose_config(
            "train",
            [
                f"experiment={experiment}",
                f"dataset.path={fate_file}",
                "trainer.fast_dev_run=true",
                *FAST,
            ],
            out,
        )
        train(cfg)
        report = json.loads((out / "test_metrics.json").read_text())
        assert report["task"] == "domain_fate" and report["n_test"] > 0
        assert 0.0 <= report["auroc_size_alone"] <= 1.0
        assert report["graph"] is (experiment == "sorting_fate_gnn")


def test_mlp_learns_what_size_alone_misses(tmp_path):
    """Fates that depend on the environment: the trained MLP must beat the size ranking."""
    path = synthetic_fates(tmp_path / "synthetic.npz")
    cfg = compose_config(
        "train",
        [
            "experiment=sorting_fate",
            f"dataset.path={path}",
            "trainer.max_epochs=15",
            *FAST,
        ],
        tmp_path / "run",
    )
    train(cfg)
    report = json.loads((tmp_path / "run" / "test_metrics.json").read_text())
    assert report["auroc_model"] == pytest.approx(report["auroc_model_recomputed"], abs=1e-4)
    assert report["auroc_model"] > report["auroc_size_alone"] + 0.05
    assert report["per_run_auroc_model"] > report["per_run_auroc_size_alone"]
