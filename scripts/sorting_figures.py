"""Figures of docs/sorting.md from the g sweep and the track runs (make sorting-gsweep,
make sorting-tracks): the claim's test per phi and the critical size of tracked domains.

    python scripts/sorting_figures.py --sweep outputs/sorting_gsweep \
        --tracks outputs/sorting_tracks/phi1e-4_g0.1 outputs/sorting_tracks/phi1e-3_g0.1 \
        --lifetimes outputs/sorting_tracks/lineage_phi1e-4_g0.1_min2
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from glassml.sorting import critical, report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", type=Path, default=None, help="g sweep (make sorting-gsweep)")
    ap.add_argument("--tracks", type=Path, nargs="*", default=[])
    ap.add_argument(
        "--lifetimes", type=Path, default=None, help="a run whose lifetimes.png to copy"
    )
    ap.add_argument("--out", type=Path, default=Path("docs/figures"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        if args.sweep is not None:
            report.report(args.sweep, Path(tmp))
            for name in ("sorting_claim.png",):
                shutil.copyfile(Path(tmp) / name, args.out / name)
                print(args.out / name)
        for run in args.tracks:
            csv = Path(tmp) / f"{run.name}.csv"
            critical.export_tracks(run, csv)
            tr = critical.read_tracks(csv)
            res = critical.critical_size(tr)
            path = args.out / f"sorting_critical_{run.name}.png"
            critical.plot(tr, res, path, title=f"tracks of {run.name}")
            print(path)
    if args.lifetimes is not None:
        path = args.out / "sorting_lifetimes.png"
        shutil.copyfile(args.lifetimes / "lifetimes.png", path)
        print(path)


if __name__ == "__main__":
    main()
