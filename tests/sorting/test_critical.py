"""glassml-sorting-critical: hand-made tracks with a known answer, clear errors, our export."""

from __future__ import annotations

import json

import numpy as np
import pytest

from glassml.sorting import kernel as K
from glassml.sorting.critical import (
    TrackError,
    committor_curve,
    critical_size,
    export_tracks,
    main,
    read_tracks,
)
from glassml.sorting.params import SortingParams
from glassml.sorting.run import simulate


def write(path, rows, header="track_id,t,size,fate"):
    path.write_text(header + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return path


def hand_made(path):
    """Tracks that all start at size 2. Unproductive: 4 reach 4, 3 reach 6, 1 reaches 8;
    productive: 3 tracks that reach 10. Through size n: P = 3/(3 + #unproductive >= n),
    so P(6) = 3/7 and P(7) = 3/4: 1/2 is crossed at 6 + 2/9. The max-size rule separates
    perfectly from s = 9 (J = 1) on."""
    rows, k = [], 0
    for top, fate, n in (
        (4, "unproductive", 4),
        (6, "unproductive", 3),
        (8, "unproductive", 1),
        (10, "productive", 3),
    ):
        for _ in range(n):
            for j, s in enumerate(range(2, top + 1)):
                rows.append((f"c{k}", 0.5 * j, s, fate))
            k += 1
    return write(path, rows)


def test_known_committor_and_threshold(tmp_path):
    tr = read_tracks(hand_made(tmp_path / "tracks.csv"))
    assert len(tr.ids) == 11 and tr.productive.sum() == 3
    p, count = committor_curve(tr, np.arange(2, 11.0))
    assert p[4] == pytest.approx(3 / 7) and count[4] == 7  # n = 6
    assert p[5] == pytest.approx(3 / 4) and count[5] == 4  # n = 7
    res = critical_size(tr, n_boot=200)
    assert res["committor_critical_size"] == pytest.approx(6 + 2 / 9)
    assert res["max_size_threshold"] == pytest.approx(9.0)
    assert res["max_size_threshold_youden_j"] == pytest.approx(1.0)
    assert res["max_size_threshold_min_error"] == pytest.approx(9.0)
    lo, hi = res["committor_critical_size_interval"]
    assert lo <= 6 + 2 / 9 <= hi


def test_intensities_in_arbitrary_units(tmp_path):
    """Scaling sizes (fluorescence in arbitrary units) scales both estimates."""
    src = hand_made(tmp_path / "a.csv").read_text().splitlines()
    rows = [r.split(",") for r in src[1:]]
    scaled = [(a, b, float(c) * 137.5 + 0.25, d) for a, b, c, d in rows]
    res = critical_size(read_tracks(write(tmp_path / "b.csv", scaled)), n_boot=50)
    assert res["committor_critical_size"] == pytest.approx((6 + 2 / 9) * 137.5 + 0.25)
    assert res["max_size_threshold"] == pytest.approx(9 * 137.5 + 0.25)


@pytest.mark.parametrize(
    "header,rows,match",
    [
        ("track_id,t,fate", [("a", 0, "productive")], r"missing column\(s\) \['size'\]"),
        (
            "track_id,t,size,fate",
            [
                ("a", 1, 3, "productive"),
                ("a", 0, 4, "productive"),
                ("b", 0, 1, "unproductive"),
                ("b", 1, 2, "unproductive"),
            ],
            r"not in strictly increasing t \(first: \['a'\]\)",
        ),
        (
            "track_id,t,size,fate",
            [("a", 0, 3, "productive"), ("b", 0, 1, "unproductive"), ("b", 1, 2, "unproductive")],
            r"single point \(first: \['a'\]\)",
        ),
        (
            "track_id,t,size,fate",
            [("a", 0, 3, "productive"), ("a", 1, 3, "unproductive")],
            "fate changes",
        ),
        ("track_id,t,size,fate", [("a", 0, 3, "extracted")], "fate 'extracted'"),
        ("track_id,t,size,fate", [("a", 0, "nan", "productive")], "finite"),
        (
            "track_id,t,size,fate",
            [("a", 0, 1, "productive"), ("a", 1, 2, "productive")],
            "same fate",
        ),
    ],
)
def test_clear_errors(tmp_path, header, rows, match):
    path = write(tmp_path / "bad.csv", rows, header)
    with pytest.raises(TrackError, match=match) as err:
        read_tracks(path)
    assert "bad.csv" in str(err.value)


def test_cli_reports_missing_file(tmp_path):
    with pytest.raises(SystemExit, match="no such file"):
        main([str(tmp_path / "none.csv")])


def test_export_of_our_tracks_and_cli(tmp_path):
    p = SortingParams(
        L=32,
        M=20,
        phi=1e-3,
        g=0.1,
        t_end=1500.0,
        n_samples=50,
        snapshots=0,
        snapshot_start=0.3,
        track_every=1.0,
        progress=False,
        seed=2,
    )
    run_dir = tmp_path / "run"
    simulate(p, run_dir)
    csv_path = tmp_path / "tracks.csv"
    n = export_tracks(run_dir, csv_path)
    tr = read_tracks(csv_path)
    assert len(tr.ids) == n > 10 and tr.productive.any() and (~tr.productive).any()
    dom = np.load(run_dir / "domains.npz")
    row = {int(i): k for k, i in enumerate(dom["id"])}
    for tid, largest, prod in zip(tr.ids, tr.largest, tr.productive, strict=True):
        k = row[int(tid)]
        assert largest <= dom["max_size"][k]  # frames never exceed the record's maximum
        assert prod == (dom["final_fate"][k] == K.EXTRACTED)
    main([str(csv_path), "--n-boot", "50"])
    res = json.loads((tmp_path / "tracks_critical.json").read_text())
    assert res["tracks"] == n and (tmp_path / "tracks_critical.png").exists()
    # the exported committor is the run's own estimator: the same 1/2 crossing
    summary = json.loads((run_dir / "summary.json").read_text())
    assert res["committor_critical_size"] == pytest.approx(
        summary["committor"]["n_half_empirical"], abs=0.75
    )
    # without merged-away domains, productive = extracted by the domain's own fate
    n_own = export_tracks(run_dir, tmp_path / "own.csv", drop_merged=True)
    own = read_tracks(tmp_path / "own.csv")
    assert n_own == len(own.ids) <= n
    for tid, prod in zip(own.ids, own.productive, strict=True):
        assert dom["fate"][row[int(tid)]] == (K.EXTRACTED if prod else K.DISSOLVED)
    # a run without tracks gets a clear error naming the key to set
    p2 = SortingParams(L=16, M=8, t_end=50.0, n_samples=10, snapshots=0, progress=False)
    simulate(p2, tmp_path / "plain")
    with pytest.raises(TrackError, match="track_every"):
        export_tracks(tmp_path / "plain", tmp_path / "x.csv")
