"""Sweep report and the domain-fate dataset, on a tiny sweep of real runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from glassml.sorting import fate, report


def test_report_aggregates_sweep(sweep):
    res = report.report(sweep)
    assert res["n_runs"] == 3
    assert set(res) == {"root", "n_runs", "phi_convention", "claim"}
    assert res["claim"] == {}  # one g: the claim needs at least three
    for name in ("sorting_efficiency.png", "sorting_report.md", "sorting_report.json"):
        assert (sweep / name).exists()
    table = (sweep / "sorting_report.md").read_text()
    assert table.count("\n| 0.1 | ") == 3  # one row per phi at g = 0.1


def test_fate_dataset_roundtrip_and_graphs(sweep, tmp_path):
    out = tmp_path / "fate.npz"
    info = fate.build_fate_dataset([sweep / str(k) for k in range(3)], out, radius=5)
    data = fate.load_fate_dataset(out)
    assert info["samples"] == len(data["y"]) > 20
    assert data["x"].shape[1] == len(fate.FEATURES)
    assert set(np.unique(data["y"])) <= {0, 1}
    for i in range(0, len(data["y"]), max(1, len(data["y"]) // 10)):
        feat, pos, ei = fate.graph(data, i)
        size = data["x"][i, 0]
        # a domain may stick out of the window only if it is wider than it
        assert feat[:, 0].sum() <= size and feat[:, 0].sum() >= min(size, 1)
        assert ei.shape[0] == 2 and (np.abs(pos[ei[0]] - pos[ei[1]]).sum(1) == 1).all()
    src = json.loads(str(np.load(out)["info_json"]))
    assert len(src["sources"]) == 3 and src["radius"] == 5
    res = fate.evaluate_fate(data)
    assert 0.0 <= res["auc_size"] <= 1.0 and 0.0 <= res["auc_all"] <= 1.0


def test_roc_auc_against_brute_force():
    rng = np.random.default_rng(0)
    y = rng.random(200) < 0.4
    s = rng.normal(size=200) + y
    pos, neg = s[y], s[~y]
    brute = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert fate.roc_auc(y, s) == pytest.approx(brute)


def test_periodic_cluster_labels_merge_across_the_boundary():
    from glassml.sorting.clusters import cluster_sizes

    a = np.zeros((5, 6), bool)
    a[2, 0] = a[2, 5] = True  # one cluster through the x boundary
    a[0, 3] = a[4, 3] = True  # one cluster through the y boundary
    a[2, 2] = True
    assert sorted(cluster_sizes(a).tolist()) == [1, 2, 2]


def test_fate_samples_as_pyg_graphs(sweep, tmp_path):
    pytest.importorskip("torch_geometric")
    out = tmp_path / "fate.npz"
    fate.build_fate_dataset([sweep / "0"], out, radius=4)
    data = fate.load_fate_dataset(out)
    graphs = fate.to_pyg(data)
    assert len(graphs) == len(data["y"])
    g0 = graphs[0]
    assert (
        g0.x.shape[1] == 3 and g0.edge_index.shape[0] == 2 and g0.u.shape == (1, len(fate.FEATURES))
    )
