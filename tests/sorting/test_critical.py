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
    first_seen_at_most,
    main,
    max_size_curve,
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
    """Unit steps from below: P(productive | largest >= m) is the committor, and the max-size
    threshold is its crossing, 6 + 2/9. The separation diagnostics sit at 9 instead."""
    tr = read_tracks(hand_made(tmp_path / "tracks.csv"))
    assert len(tr.ids) == 11 and tr.productive.sum() == 3
    grid = np.arange(2, 11.0)
    p, count = committor_curve(tr, grid)
    assert p[4] == pytest.approx(3 / 7) and count[4] == 7  # n = 6
    assert p[5] == pytest.approx(3 / 4) and count[5] == 4  # n = 7
    q, q_count = max_size_curve(tr, grid)
    np.testing.assert_array_equal(q, p)
    np.testing.assert_array_equal(q_count, count)
    res = critical_size(tr, n_boot=200)
    assert res["committor_critical_size"] == pytest.approx(6 + 2 / 9)
    assert res["max_size_threshold"] == pytest.approx(6 + 2 / 9)
    assert res["separation_youden_threshold"] == pytest.approx(9.0)
    assert res["separation_youden_j"] == pytest.approx(1.0)
    assert res["separation_min_error_threshold"] == pytest.approx(9.0)
    for key in ("committor_critical_size", "max_size_threshold"):
        lo, hi = res[f"{key}_interval"]
        assert lo <= 6 + 2 / 9 <= hi


def test_unit_steps_up_and_down_give_equal_estimates(tmp_path):
    """The same fates and largest sizes as hand_made, but the tracks wander up and down one
    molecule at a time and the unproductive ones start at 1: every track starts below the
    crossing, so both estimates are again 6 + 2/9 (at n = 1 the committor counts the 8
    unproductive tracks only, the max-size rule all 11: 0 and 3/11, both below 1/2)."""
    rows, k = [], 0
    for top, fate, n, start in (
        (4, "unproductive", 4, 1),
        (6, "unproductive", 3, 1),
        (8, "unproductive", 1, 1),
        (10, "productive", 3, 2),
    ):
        path = list(range(start, 4)) + [2] + list(range(3, top + 1)) + [top - 1]
        for _ in range(n):
            rows += [(f"c{k}", j, s, fate) for j, s in enumerate(path)]
            k += 1
    tr = read_tracks(write(tmp_path / "tracks.csv", rows))
    assert tr.first.min() == 1 and tr.largest.max() == 10
    res = critical_size(tr, n_boot=50)
    assert res["committor_critical_size"] == pytest.approx(6 + 2 / 9)
    assert res["max_size_threshold"] == pytest.approx(6 + 2 / 9)


# Intensity-like tracks (arbitrary units): noise (dips, spikes), jumps, tracks first seen high.
INTENSITY_TRACKS = {
    "P1": ("productive", [1.0, 2.5, 8.0]),  # jumps from 2.5 to 8
    "P2": ("productive", [6.5, 9.0]),  # first seen at 6.5
    "P3": ("productive", [5.5, 5.0, 10.0]),  # first seen at 5.5, noisy dip
    "P4": ("productive", [1.5, 4.0, 3.5, 7.0, 12.0]),
    "U1": ("unproductive", [1.0, 2.0, 1.5]),
    "U2": ("unproductive", [1.0, 3.5, 2.5]),
    "U3": ("unproductive", [1.5, 3.5, 3.0]),
    "U4": ("unproductive", [1.0, 5.0, 1.5]),  # a spike to 5
    "U5": ("unproductive", [2.0, 6.0, 4.5]),
    "U6": ("unproductive", [4.0, 7.5, 3.0]),  # first seen at 4
}


def intensity_rows(tracks):
    return [
        (k, 0.5 * j, s, fate) for k, (fate, sizes) in tracks.items() for j, s in enumerate(sizes)
    ]


def test_intensity_like_tracks_separate_the_two_estimates(tmp_path):
    """Largest sizes: productive 8, 9, 10, 12; unproductive 2, 3.5, 3.5, 5, 6, 7.5. Max-size
    rule: 4/10 of the tracks reaching m <= 2 are productive, 4/9 for 2 < m <= 3.5, 4/7 for
    3.5 < m <= 5, so m* = 3.5 + 0.5 (1/2 - 4/9) / (4/7 - 4/9) = 3.5 + 0.5 * 7/16.
    Committor (first <= n <= largest): at n = 4, 4.5, 5 the tracks through n are P1, P4 and
    U4, U5, U6 (2/5); at n = 5.5 P3 joins and U4 is gone: P1, P3, P4 and U5, U6 (3/5), so
    n* = 5.25. P2 and P3, first seen above 5, count for the max-size rule from the start and
    for the committor only from where they were first seen. Both classes separate perfectly
    from s = 8 on (Youden J = 1, no error), a number that says nothing about either."""
    tr = read_tracks(write(tmp_path / "intensity.csv", intensity_rows(INTENSITY_TRACKS)))
    p, _ = committor_curve(tr, np.array([4.0, 4.5, 5.0, 5.5]))
    assert p == pytest.approx([2 / 5, 2 / 5, 2 / 5, 3 / 5])
    q, _ = max_size_curve(tr, np.array([2.0, 2.5, 3.5, 4.0, 5.0]))
    assert q == pytest.approx([4 / 10, 4 / 9, 4 / 9, 4 / 7, 4 / 7])
    res = critical_size(tr, n_boot=50)
    assert res["committor_critical_size"] == pytest.approx(5.25)
    assert res["max_size_threshold"] == pytest.approx(3.5 + 0.5 * 7 / 16)
    assert res["separation_youden_threshold"] == pytest.approx(8.0)
    assert res["separation_youden_j"] == pytest.approx(1.0)
    assert res["separation_min_error_threshold"] == pytest.approx(8.0)


def test_tracks_first_seen_above_are_what_separates_them(tmp_path):
    """The same tracks with a first frame at 1 for those first seen above 2: from n = 2 on,
    every track counts for both rules, and the committor's crossing moves onto the
    max-size threshold, 3.5 + 0.5 * 7/16. Noise and jumps alone do not separate them."""
    early = {
        k: (fate, [1.0] + sizes if sizes[0] > 2 else sizes)
        for k, (fate, sizes) in INTENSITY_TRACKS.items()
    }
    res = critical_size(read_tracks(write(tmp_path / "early.csv", intensity_rows(early))), 20)
    assert res["committor_critical_size"] == pytest.approx(3.5 + 0.5 * 7 / 16)
    assert res["max_size_threshold"] == pytest.approx(3.5 + 0.5 * 7 / 16)


def test_cli_keeps_tracks_first_seen_small(tmp_path, capsys):
    """--max-first-size 2 leaves out P2, P3 and U6. Left: productive P1, P4 (largest 8, 12),
    unproductive U1..U5 (largest 2, 3.5, 3.5, 5, 6), all first seen at or below 2. Both rules
    give 2/6 at 3.5 and 2/4 at 4 (P1, P4 against U4, U5), so both cross 1/2 at 4."""
    path = write(tmp_path / "intensity.csv", intensity_rows(INTENSITY_TRACKS))
    main([str(path), "--max-first-size", "2", "--n-boot", "20", "--out", str(tmp_path / "o")])
    res = json.loads((tmp_path / "o" / "intensity_critical.json").read_text())
    assert res["tracks"] == 7 and res["tracks_dropped_first_seen_above"] == 3
    assert res["committor_critical_size"] == pytest.approx(4.0)
    assert res["max_size_threshold"] == pytest.approx(4.0)
    assert "3 first seen above 2 left out" in capsys.readouterr().out
    with pytest.raises(SystemExit, match=r"intensity\.csv: with --max-first-size 0\.5, 0 track"):
        main([str(path), "--max-first-size", "0.5"])


def test_intensities_in_arbitrary_units(tmp_path):
    """Scaling sizes (fluorescence in arbitrary units) scales both estimates."""
    src = hand_made(tmp_path / "a.csv").read_text().splitlines()
    rows = [r.split(",") for r in src[1:]]
    scaled = [(a, b, float(c) * 137.5 + 0.25, d) for a, b, c, d in rows]
    res = critical_size(read_tracks(write(tmp_path / "b.csv", scaled)), n_boot=50)
    assert res["committor_critical_size"] == pytest.approx((6 + 2 / 9) * 137.5 + 0.25)
    assert res["max_size_threshold"] == pytest.approx((6 + 2 / 9) * 137.5 + 0.25)
    assert res["separation_youden_threshold"] == pytest.approx(9 * 137.5 + 0.25)


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


def test_blank_lines_are_skipped_and_short_rows_named(tmp_path):
    """The reader streams rows: blank lines are not rows; a row missing its values is an
    error naming its line."""
    plain = read_tracks(hand_made(tmp_path / "plain.csv"))
    text = (tmp_path / "plain.csv").read_text().splitlines()
    gappy = tmp_path / "gappy.csv"
    gappy.write_text("\n".join([text[0], "", *text[1:3], "", *text[3:]]) + "\n")
    got = read_tracks(gappy)
    for key in ("ids", "first", "largest", "productive", "sizes"):
        np.testing.assert_array_equal(getattr(got, key), getattr(plain, key))
    short = tmp_path / "short.csv"
    short.write_text("\n".join([*text[:3], "c0,1.5", *text[3:]]) + "\n")
    with pytest.raises(TrackError, match=r"short\.csv, line 4: t and size must be numbers"):
        read_tracks(short)


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
    # fragments split off other domains are first seen large; without them the max-size
    # threshold is the committor of the same tracks
    small = first_seen_at_most(tr, 3)
    assert (tr.first > 3).any() and len(small.ids) < len(tr.ids)
    res = critical_size(small, n_boot=10)
    assert res["max_size_threshold"] == pytest.approx(res["committor_critical_size"])
    # the run's committor of the domains grown from the gas, by a plain loop over its records
    grown = summary["committor_grown"]
    keep = (
        (dom["birth_kind"] == K.BORN_GROWTH)
        & (dom["birth_time"] >= summary["stationary"]["start_time"])
        & (dom["final_fate"] != K.ALIVE)
    )
    assert 0 < keep.sum() < len(dom["id"])
    for size, p_n in zip(grown["sizes"], grown["p"], strict=True):
        through = (
            keep & (dom["birth_size"] <= size) & (np.minimum(dom["max_size"], p.M_eff) >= size)
        )
        if through.any():
            want = (dom["final_fate"][through] == K.EXTRACTED).mean()
            assert p_n == pytest.approx(want), size
    assert res["max_size_threshold"] == pytest.approx(grown["n_half_empirical"], abs=0.75)
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
