"""glassml-sorting-critical: the critical size of sorting domains from tracked domains.

Floris et al. (arXiv:2205.03337) propose an operational critical size that can be
measured on tracked domains (e.g. clathrin-coated pits followed by fluorescence).
Their full text was not available to us (only the abstract), so the definitions here
are ours:

* committor: among the tracks that pass through size n (first observed size <= n <=
  largest observed size), the fraction that ends productive; the critical size n* is
  where it crosses 1/2 (linear interpolation between thresholds). This is the same
  estimator as the run analysis's committor on the domains' records.
* max-size threshold: what an experimenter can measure with only each track's largest
  size (or largest intensity) and its fate. Among the tracks whose largest size is at
  least m, the fraction that ends productive; the critical size m* is where it crosses
  1/2, interpolated as for the committor. At m* the rule "largest size >= m =>
  productive" is right as often as wrong: as many productive as unproductive tracks
  reach m.

Why the two agree on molecule counts: a track counts for the committor at n when
first <= n <= largest, and for the max-size threshold at m when largest >= m. For every
track first observed at or below m the two conditions are the same, so the two curves,
and their crossings, are equal wherever no track is first seen above the threshold;
if the size moreover changes one molecule at a time, a track with largest >= m has
been at exactly m, so both are the committor of size m itself. Measured intensities
differ in three ways. A track first seen above m (it formed between frames, split off
another domain, was found late, or its first frame is noisy) counts for the max-size
threshold at m but not for the committor: this is the only thing that separates the
two estimates. Jumps (frames too sparse for the growth) are bridged by both, which
count a track as having passed every size between its first and its largest without
having seen them. Noise raises the largest observed value above the true largest size,
for both estimates alike. In our runs the tracks first seen large are mostly fragments
split off other domains (they tend to merge back into one that is extracted, so they
are productive by final fate); ``--max-first-size S`` keeps only the tracks first seen
at or below S, domains that appear from nothing, and the two estimates then coincide
above S.

Separation diagnostics (reported beside, not estimates of the critical size): the
threshold s on the largest size with the largest Youden's J = (true-positive rate) -
(false-positive rate), and the threshold with the fewest misclassified tracks (ties: the
smallest s). They depend on the class balance (many small dissolved domains against few
extracted ones) and on the shapes of the two max-size distributions, not on the
probability 1/2, and do not follow the committor in our runs.

Errors are bootstrap percentiles (16th, 84th) over tracks. Sizes may be molecule
counts or intensities in arbitrary units. Input: a CSV with columns ``track_id, t,
size, fate`` (fate productive | unproductive, the same on every row of a track),
rows of a track in increasing t, at least two rows per track.
"""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from glassml.io import atomic_path, atomic_write_text  # noqa: E402
from glassml.sorting import kernel as K  # noqa: E402
from glassml.sorting.plots import save_fig  # noqa: E402

COLUMNS = ("track_id", "t", "size", "fate")
FATES = {"productive": True, "unproductive": False}


class TrackError(ValueError):
    """A tracks file that cannot be analysed, with the file and the reason."""


@dataclass
class Tracks:
    """One entry per track: id, first and largest observed size, fate (True: productive);
    ``sizes`` holds every size observed in any track (the thresholds worth scanning)."""

    ids: np.ndarray
    first: np.ndarray
    largest: np.ndarray
    productive: np.ndarray
    sizes: np.ndarray


@dataclass
class _TrackSoFar:
    """What reading a track's rows keeps: enough for the checks and for `Tracks`."""

    last_t: float
    first: float
    largest: float
    fate: str
    points: int = 1
    unsorted: bool = False
    mixed: bool = False


def read_tracks(path: str | Path) -> Tracks:
    """Read and check a tracks CSV; every problem is reported with the file and the tracks.
    Rows are streamed: memory grows with the number of tracks, not of rows."""
    path = Path(path)
    if not path.is_file():
        raise TrackError(f"{path}: no such file")
    tracks: dict[str, _TrackSoFar] = {}
    sizes: set[float] = set()
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise TrackError(
                f"{path}: missing column(s) {missing}; expected columns {list(COLUMNS)} "
                f"(found {header})"
            )
        col = {c: header.index(c) for c in COLUMNS}
        width = max(col.values()) + 1
        for line, row in enumerate(reader, start=2):
            if not row:  # blank line
                continue
            row = row + [None] * (width - len(row))  # short rows: missing values
            try:
                t, size = float(row[col["t"]]), float(row[col["size"]])
            except (TypeError, ValueError) as err:
                raise TrackError(f"{path}, line {line}: t and size must be numbers") from err
            if not (np.isfinite(t) and np.isfinite(size)):
                raise TrackError(
                    f"{path}, line {line}: t and size must be finite (got {t}, {size})"
                )
            fate = (row[col["fate"]] or "").strip().lower()
            if fate not in FATES:
                raise TrackError(
                    f"{path}, line {line}: fate {row[col['fate']]!r}; expected one of "
                    f"{sorted(FATES)}"
                )
            sizes.add(size)
            key = (row[col["track_id"]] or "").strip()
            tr = tracks.get(key)
            if tr is None:
                tracks[key] = _TrackSoFar(t, size, size, fate)
                continue
            tr.unsorted |= t <= tr.last_t
            tr.mixed |= fate != tr.fate
            tr.last_t, tr.largest, tr.points = t, max(tr.largest, size), tr.points + 1
    if not tracks:
        raise TrackError(f"{path}: no rows")
    unsorted = [k for k, v in tracks.items() if v.unsorted]
    if unsorted:
        raise TrackError(
            f"{path}: rows of {len(unsorted)} track(s) are not in strictly increasing t "
            f"(first: {unsorted[:5]}); sort each track by time"
        )
    short = [k for k, v in tracks.items() if v.points < 2]
    if short:
        raise TrackError(
            f"{path}: {len(short)} track(s) have a single point (first: {short[:5]}); a track "
            "needs at least two frames"
        )
    mixed = [k for k, v in tracks.items() if v.mixed]
    if mixed:
        raise TrackError(
            f"{path}: the fate changes within {len(mixed)} track(s) (first: {mixed[:5]}); give "
            "each track one fate"
        )
    prod = np.array([FATES[v.fate] for v in tracks.values()])
    if prod.all() or not prod.any():
        raise TrackError(f"{path}: all tracks have the same fate; need both classes")
    return Tracks(
        ids=np.array(list(tracks)),
        first=np.array([v.first for v in tracks.values()]),
        largest=np.array([v.largest for v in tracks.values()]),
        productive=prod,
        sizes=np.array(sorted(sizes)),
    )


def first_seen_at_most(tr: Tracks, max_first: float, source: str | Path = "") -> Tracks:
    """Only the tracks first observed at or below ``max_first``: domains that appear from
    nothing. Tracks first seen larger (split off another domain, grown between frames, or
    already there when the recording started) are what sets the max-size threshold apart from
    the committor; without them the two agree above ``max_first``."""
    keep = tr.first <= max_first
    prod = tr.productive[keep]
    if prod.all() or not prod.any():
        raise TrackError(
            f"{source}: with --max-first-size {max_first:g}, {keep.sum()} track(s) are left and "
            "they do not contain both fates; raise the limit"
        )
    return Tracks(tr.ids[keep], tr.first[keep], tr.largest[keep], prod, tr.sizes)


def thresholds(tr: Tracks, max_points: int = 400) -> np.ndarray:
    """Size thresholds to scan: every observed size (all integers visited, for molecule
    counts), thinned to quantiles when there are more than ``max_points`` of them."""
    values = tr.sizes
    if len(values) <= max_points:
        return values
    return np.unique(np.quantile(values, np.linspace(0, 1, max_points)))


def _count_at_least(values: np.ndarray, grid: np.ndarray, strict: bool = False) -> np.ndarray:
    """#{v >= g} (``strict``: #{v > g}) for each g in grid, by binary search on the sorted
    values: no [thresholds x tracks] table (hundreds of MB per bootstrap sample)."""
    v = np.sort(values)
    return len(v) - np.searchsorted(v, grid, side="right" if strict else "left")


def _fraction(hits: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.where(count > 0, hits / np.maximum(count, 1), np.nan), count


def committor_curve(tr: Tracks, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(productive | the track passed through n) and the number of such tracks, for n in grid.
    first <= largest, so #{first <= n <= largest} = #{largest >= n} - #{first > n}."""

    def through(m: np.ndarray) -> np.ndarray:
        return _count_at_least(tr.largest[m], grid) - _count_at_least(tr.first[m], grid, True)

    return _fraction(through(tr.productive), through(np.ones_like(tr.productive)))


def max_size_curve(tr: Tracks, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(productive | the track's largest size >= m) and the number of such tracks, for m in
    grid: what the fates and the largest sizes alone tell."""
    return _fraction(
        _count_at_least(tr.largest[tr.productive], grid), _count_at_least(tr.largest, grid)
    )


def crossing(grid: np.ndarray, p: np.ndarray, level: float = 0.5) -> float:
    """First upward crossing of ``level`` (linear interpolation); nan if there is none."""
    ok = np.isfinite(p)
    x, y = grid[ok], p[ok]
    above = np.flatnonzero(y >= level)
    if not len(above) or above[0] == 0:
        return float("nan") if not len(above) else float(x[0])
    k = above[0]
    return float(x[k - 1] + (level - y[k - 1]) / (y[k] - y[k - 1]) * (x[k] - x[k - 1]))


def _calls(tr: Tracks, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How many productive and unproductive tracks the rule "largest >= s" calls productive,
    for each s in grid."""
    return (
        _count_at_least(tr.largest[tr.productive], grid),
        _count_at_least(tr.largest[~tr.productive], grid),
    )


def youden_threshold(tr: Tracks, grid: np.ndarray) -> tuple[float, float]:
    """Separation diagnostic: the max-size threshold with the largest TPR - FPR (smallest one
    on ties), and J there."""
    true_pos, false_pos = _calls(tr, grid)
    j = true_pos / tr.productive.sum() - false_pos / (~tr.productive).sum()
    k = int(np.argmax(j))
    return float(grid[k]), float(j[k])


def min_error_threshold(tr: Tracks, grid: np.ndarray) -> float:
    """Separation diagnostic: the max-size threshold that misclassifies the fewest tracks
    (smallest one on ties)."""
    true_pos, false_pos = _calls(tr, grid)
    wrong = false_pos + (tr.productive.sum() - true_pos)
    return float(grid[int(np.argmin(wrong))])


ESTIMATES = (
    "committor_critical_size",
    "max_size_threshold",
    "separation_youden_threshold",
    "separation_youden_j",
    "separation_min_error_threshold",
)


def _estimates(tr: Tracks, grid: np.ndarray) -> list[float]:
    """The values of ESTIMATES, in that order."""
    s_youden, j = youden_threshold(tr, grid)
    return [
        crossing(grid, committor_curve(tr, grid)[0]),
        crossing(grid, max_size_curve(tr, grid)[0]),
        s_youden,
        j,
        min_error_threshold(tr, grid),
    ]


def _curve(p: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(x) else float(x) for x in p]


def critical_size(tr: Tracks, n_boot: int = 500, seed: int = 0) -> dict[str, Any]:
    """Both estimates and the separation diagnostics, with bootstrap intervals over tracks."""
    grid = thresholds(tr)
    p, count = committor_curve(tr, grid)
    q, q_count = max_size_curve(tr, grid)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        i = rng.integers(0, len(tr.ids), len(tr.ids))
        sub = Tracks(tr.ids[i], tr.first[i], tr.largest[i], tr.productive[i], tr.sizes)
        if sub.productive.all() or not sub.productive.any():
            continue
        boots.append(_estimates(sub, grid))
    b = np.array(boots) if boots else np.full((1, len(ESTIMATES)), np.nan)
    res: dict[str, Any] = {
        "tracks": int(len(tr.ids)),
        "productive": int(tr.productive.sum()),
        "unproductive": int((~tr.productive).sum()),
        "definitions": {
            "committor_critical_size": "P(productive | first <= n <= largest) = 1/2",
            "max_size_threshold": "P(productive | largest >= m) = 1/2",
            "separation_youden_threshold": "s maximising TPR - FPR of 'largest >= s'",
            "separation_min_error_threshold": "s with the fewest tracks misclassified by "
            "'largest >= s'",
        },
    }
    for col, (key, value) in enumerate(zip(ESTIMATES, _estimates(tr, grid), strict=True)):
        x = b[:, col][np.isfinite(b[:, col])]
        res[key] = value
        res[f"{key}_interval"] = (
            np.percentile(x, [16, 84]).tolist() if len(x) else [float("nan")] * 2
        )
    res.update(
        {
            "n_boot": len(boots),
            "thresholds": grid.tolist(),
            "committor": _curve(p),
            "committor_count": count.tolist(),
            "max_size_productive_fraction": _curve(q),
            "max_size_count": q_count.tolist(),
        }
    )
    return res


def plot(tr: Tracks, res: dict[str, Any], path: Path, title: str = "") -> None:
    """Committor and P(productive | largest >= m) against size with their 1/2 crossings;
    the largest sizes of the two classes with the threshold and the separation diagnostics."""
    grid = np.array(res["thresholds"])
    fig, axs = plt.subplots(1, 2, figsize=(11, 4))
    ax = axs[0]
    for key, count_key, crit, name, col in (
        ("committor", "committor_count", "committor_critical_size", "committor", "tab:purple"),
        (
            "max_size_productive_fraction",
            "max_size_count",
            "max_size_threshold",
            "max-size threshold",
            "tab:green",
        ),
    ):
        p = np.array([np.nan if x is None else x for x in res[key]])
        count = np.array(res[count_key])
        err = np.sqrt(np.clip(p * (1 - p), 1e-12, None) / np.maximum(count, 1))
        lo, hi = res[f"{crit}_interval"]
        ax.errorbar(
            grid,
            p,
            yerr=err,
            fmt="o",
            ms=3,
            color=col,
            label=f"{name}: {res[crit]:.3g} [{lo:.3g}, {hi:.3g}]",
        )
        if np.isfinite(res[crit]):
            ax.axvline(res[crit], color=col, ls=":")
            ax.axvspan(lo, hi, color=col, alpha=0.15)
    ax.axhline(0.5, color="0.7", lw=0.8)
    ax.set_xlabel("size n (committor) or m (max-size threshold)")
    ax.set_ylabel("P(productive | passed n), P(productive | largest >= m)")
    ax.set_title("critical size: crossing of 1/2", fontsize=9)
    ax.legend(fontsize=8)
    ax = axs[1]
    bins = np.linspace(tr.largest.min(), tr.largest.max(), 40)
    for mask, name, col in (
        (tr.productive, "productive", "tab:red"),
        (~tr.productive, "unproductive", "tab:blue"),
    ):
        ax.hist(tr.largest[mask], bins=bins, alpha=0.6, color=col, label=f"{name}: {mask.sum()}")
    ax.axvline(
        res["max_size_threshold"],
        color="tab:green",
        ls=":",
        label=f"max-size threshold m*: {res['max_size_threshold']:.3g}",
    )
    ax.axvline(
        res["separation_youden_threshold"],
        color="k",
        ls="-.",
        lw=1,
        label=f"separation, Youden: {res['separation_youden_threshold']:.3g}",
    )
    ax.axvline(
        res["separation_min_error_threshold"],
        color="k",
        ls="--",
        lw=1,
        label=f"separation, fewest misclassified: {res['separation_min_error_threshold']:.3g}",
    )
    ax.set_yscale("log")
    ax.set_xlabel("largest observed size of the track")
    ax.set_title("largest sizes by fate", fontsize=9)
    ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    save_fig(fig, path)


# ----------------------------------------------------------------------------- export


def export_tracks(run_dir: str | Path, csv_path: str | Path, drop_merged: bool = False) -> int:
    """Write the domain tracks of one of our runs (``simulator.track_every``) as a tracks CSV.

    Fates are the domains' final fates, as in the run's own committor: a domain that merged
    into one later extracted is productive. ``drop_merged`` leaves out the domains that
    ended by merging (they live on in the lineage of the domain that absorbed them), so
    productive = extracted and unproductive = dissolved by their own fate. Domains still
    alive at the end are left out (their fate is unknown). Returns the number of tracks.
    """
    run_dir = Path(run_dir)
    path = run_dir / "domain_tracks.npz"
    if not path.exists():
        raise TrackError(
            f"{path}: no domain tracks in this run; run it with simulator.track_every=<dt>"
        )
    with np.load(path) as z:
        dom_id, t, size = z["domain"], z["t"], z["size"]
    with np.load(run_dir / "domains.npz") as z:
        ids, final, own = z["id"], z["final_fate"], z["fate"]
    pos = np.clip(np.searchsorted(ids, dom_id), 0, max(len(ids) - 1, 0))
    known = (len(ids) > 0) & (ids[pos] == dom_id)
    fate = np.where(known, final[pos], K.ALIVE)
    if drop_merged:
        fate = np.where(known & (own[pos] == K.MERGED), K.ALIVE, fate)
    keep = (fate == K.EXTRACTED) | (fate == K.DISSOLVED)
    order = np.lexsort((t[keep], dom_id[keep]))
    d, tt, ss, ff = dom_id[keep][order], t[keep][order], size[keep][order], fate[keep][order]
    counts = np.bincount(np.unique(d, return_inverse=True)[1]) if len(d) else np.zeros(0, int)
    multi = np.repeat(counts >= 2, counts)  # single-frame tracks cannot be tracks
    with atomic_path(csv_path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for a, b, c, f in zip(d[multi], tt[multi], ss[multi], ff[multi], strict=True):
            w.writerow(
                [
                    int(a),
                    repr(float(b)),
                    int(c),
                    "productive" if f == K.EXTRACTED else "unproductive",
                ]
            )
    return int((counts >= 2).sum())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tracks", type=Path, help="tracks CSV (track_id, t, size, fate)")
    ap.add_argument(
        "--export",
        type=Path,
        default=None,
        metavar="RUN_DIR",
        help="first write the tracks of this sorting run (simulator.track_every) to TRACKS",
    )
    ap.add_argument(
        "--drop-merged",
        action="store_true",
        help="with --export: leave out domains that ended by merging (default: they take the "
        "fate of the domain that absorbed them, as in the run's committor)",
    )
    ap.add_argument(
        "--max-first-size",
        type=float,
        default=None,
        metavar="S",
        help="keep only tracks first observed at size (intensity) <= S: domains that appear "
        "from nothing, not split off another one or present when the recording starts",
    )
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: next to CSV)")
    ap.add_argument("--n-boot", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        if args.export is not None:
            n = export_tracks(args.export, args.tracks, drop_merged=args.drop_merged)
            print(f"{args.tracks}: {n} tracks exported from {args.export}")
        tr = read_tracks(args.tracks)
        n_read = len(tr.ids)
        if args.max_first_size is not None:
            tr = first_seen_at_most(tr, args.max_first_size, args.tracks)
    except TrackError as err:
        raise SystemExit(f"error: {err}") from None
    res = critical_size(tr, n_boot=args.n_boot, seed=args.seed)
    res["source"] = str(args.tracks)
    res["max_first_size"] = args.max_first_size
    res["tracks_dropped_first_seen_above"] = n_read - len(tr.ids)
    if args.export is not None:
        summary = json.loads((args.export / "summary.json").read_text())
        res["run_committor_n_c"] = summary["committor"]["n_c"]
        res["run_committor_n_half"] = summary["committor"]["n_half_empirical"]
        if "committor_grown" in summary:  # older summaries lack it
            res["run_committor_grown_n_c"] = summary["committor_grown"]["n_c"]
            res["run_committor_grown_n_half"] = summary["committor_grown"]["n_half_empirical"]
    out = args.out or args.tracks.parent
    out.mkdir(parents=True, exist_ok=True)
    stem = args.tracks.stem
    atomic_write_text(out / f"{stem}_critical.json", json.dumps(res, indent=2))
    plot(tr, res, out / f"{stem}_critical.png", title=str(args.tracks.name))
    print(
        f"{res['tracks']} tracks ({res['productive']} productive, {res['unproductive']} "
        "unproductive)"
        + (
            f"; {n_read - len(tr.ids)} first seen above {args.max_first_size:g} left out"
            if args.max_first_size is not None
            else ""
        )
    )
    for key, name in (
        ("committor_critical_size", "committor critical size, P(productive | passed n) = 1/2"),
        ("max_size_threshold", "max-size threshold, P(productive | largest >= m) = 1/2"),
        ("separation_youden_threshold", "separation diagnostic, Youden's J"),
        ("separation_min_error_threshold", "separation diagnostic, fewest misclassified"),
    ):
        lo, hi = res[f"{key}_interval"]
        extra = (
            f" (J = {res['separation_youden_j']:.3f})"
            if key == "separation_youden_threshold"
            else ""
        )
        print(f"{name}: {res[key]:.4g} [{lo:.4g}, {hi:.4g}]{extra}")
    if "run_committor_n_c" in res:
        print(
            f"run analysis committor: n_c = {res['run_committor_n_c']:.4g} (fit), "
            f"{res['run_committor_n_half']:.4g} (1/2 crossing), all domains"
        )
    if "run_committor_grown_n_c" in res:
        print(
            f"run analysis committor: n_c = {res['run_committor_grown_n_c']:.4g} (fit), "
            f"{res['run_committor_grown_n_half']:.4g} (1/2 crossing), domains grown from the gas"
        )
    print(f"written: {out / (stem + '_critical.json')}, {out / (stem + '_critical.png')}")


if __name__ == "__main__":
    main()
