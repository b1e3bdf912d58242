"""Domain lifetimes counted from the earliest birth kept through merges."""

from __future__ import annotations

import numpy as np
import pytest

from glassml.sorting import kernel as K
from glassml.sorting import plots
from glassml.sorting.analysis import lineage_birth_time
from glassml.sorting.params import SortingParams
from glassml.sorting.run import simulate


def test_earliest_birth_passes_through_chains_of_merges():
    # 1 -> 3 at t=5, 2 -> 3 at t=6, 3 -> 4 at t=7; 4 extracted at 10; 5 dissolves alone
    rec = np.array([4, 2, 5, 1, 3])  # rows in any order
    birth = np.array([1.0, 2.0, 3.0, 0.0, 4.0])
    death = np.array([10.0, 6.0, 4.0, 5.0, 7.0])
    fate = np.array([K.EXTRACTED, K.MERGED, K.DISSOLVED, K.MERGED, K.MERGED])
    other = np.array([-1, 3, -1, 3, 4])
    got = lineage_birth_time(rec, birth, death, fate, other)
    assert got == pytest.approx([0.0, 2.0, 3.0, 0.0, 0.0])


def test_run_records_carry_both_lifetimes(tmp_path):
    p = SortingParams(
        L=32,
        M=20,
        phi=1e-3,
        g=0.1,
        t_end=600.0,
        n_samples=30,
        snapshots=0,
        progress=False,
        domain_min_size=2,
    )
    s = simulate(p, tmp_path)
    d = np.load(tmp_path / "domains.npz")
    assert (d["lineage_birth_time"] <= d["birth_time"]).all()
    absorbed = np.isin(d["id"], d["merged_into"][d["fate"] == K.MERGED])
    assert (d["lineage_birth_time"][~absorbed] == d["birth_time"][~absorbed]).all()
    assert (d["lineage_birth_time"][absorbed] < d["birth_time"][absorbed]).any()
    lin = s["domains"]["lineage"]
    assert lin["productive"]["count"] > 0
    assert (d["lineage_lifetime"] >= d["lifetime"]).all()


@pytest.mark.filterwarnings("error")
def test_lifetime_plot_of_a_run_too_short_for_domains(tmp_path, monkeypatch):
    """A run too short for any domain to end: no legend on empty axes (matplotlib warns
    'No artists with labels found', an error here), a 'no domains' note instead."""
    texts = []

    def keep_texts(fig, path, dpi=120):
        texts.append([[t.get_text() for t in ax.texts] for ax in fig.axes])
        plots.plt.close(fig)

    monkeypatch.setattr(plots, "save_fig", keep_texts)
    p = SortingParams(
        L=16, M=8, phi=1e-3, g=0.1, t_end=5.0, n_samples=10, snapshots=0, progress=False
    )
    simulate(p, tmp_path)
    d = dict(np.load(tmp_path / "domains.npz"))
    assert not np.isin(d["fate"], [K.EXTRACTED, K.DISSOLVED]).any()
    plots.lifetime_plot(tmp_path / "lifetimes.png", d, 0.0)
    assert [t[0] for t in texts[-1]] == [
        "no domains\n(fewer than 2 of each class born after the transient)"
    ] * 2
