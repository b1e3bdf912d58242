"""Which simulator potential made these configurations? Forces and configurational temperature.

For every file and every simulator config (a name in conf/simulator/, or a YAML file with a
`potential:` block of epsilon, sigma, cutoff and truncation) it prints the
root-mean-square force per particle and the configurational temperature
T_conf = sum |F|^2 / sum lap U (glassml.simulate.potential_check), over the file's frames:

- inherent structures are force minima of the potential that made them: the right one gives
  forces at the precision the positions were written with, every other one forces of order 1;
- thermal configurations at temperature T give T_conf = T under the right potential only.

Files: trajectories (LAMMPS dumps, extended XYZ, GSD, LAMMPS data; every frame) or
glassml/GlassBench `.npz` files (one configuration; `--positions` picks the set).
Species: trajectory labels in sorted order (numerically when they are numbers) are A, B, ...

    python scripts/check_potential.py FILE [FILE ...] --simulator ka2d_ternary ka3d [--dim 2]
        [--positions inherent] [--box 32.8962 32.8962] [--max-frames 20]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import yaml

from glassml.data.io import POSITION_KEYS, NpzReader
from glassml.data.trajectory import read_frames
from glassml.features.energy import table_from_mapping, table_from_simulator_config
from glassml.simulate.potential_check import configurational_temperature, force_rms


def load_table(name: str):
    """A conf/simulator name, or a YAML file with a simulator-style `potential:` block."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        potential = (yaml.safe_load(path.read_text()) or {}).get("potential")
        if not isinstance(potential, dict):
            raise SystemExit(f"{path}: no 'potential:' block (epsilon, sigma, cutoff)")
        return table_from_mapping(potential)
    return table_from_simulator_config(name)


def species_of(labels: np.ndarray) -> np.ndarray:
    """Labels in sorted order (numerically when they are all integers) -> 0, 1, 2, ..."""
    names = np.unique(labels)
    if all(str(n).lstrip("-").isdigit() for n in names):
        names = sorted(names, key=int)
    index = {name: k for k, name in enumerate(names)}
    return np.array([index[label] for label in labels], dtype=np.int64)


def configurations(path: Path, args: argparse.Namespace):
    """(positions, types, box) of each configuration in `path`."""
    if path.suffix == ".npz":
        box = None if args.box is None else list(args.box)
        conf = NpzReader(box=box)(path)
        if args.positions not in conf.positions:
            raise SystemExit(f"{path}: no '{args.positions}' positions ({sorted(conf.positions)})")
        yield conf.positions[args.positions], conf.types, conf.box
        return
    for frame in read_frames(path, args.format, dim=args.dim)[: args.max_frames]:
        yield frame.positions, species_of(frame.labels), frame.box


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument(
        "--simulator", nargs="+", required=True, help="conf/simulator names or YAML files"
    )
    parser.add_argument("--dim", type=int, default=3, choices=(2, 3))
    parser.add_argument("--format", default="auto", help="trajectory format (default: auto)")
    parser.add_argument("--positions", default="inherent", choices=sorted(POSITION_KEYS))
    parser.add_argument("--box", type=float, nargs="+", help="box edges of .npz without one")
    parser.add_argument("--max-frames", type=int, default=20, help="frames per trajectory")
    args = parser.parse_args(argv)

    tables = {Path(name).stem: load_table(name) for name in args.simulator}
    print(f"{'file':40s} {'potential':16s} {'frames':>6s} {'rms |F|':>10s} {'T_conf':>16s}")
    for path in args.files:
        confs = list(configurations(path, args))
        species = max(int(t.max()) for _, t, _ in confs) + 1
        for name, table in tables.items():
            if species > table.n_species:
                print(f"{path.name:40s} {name:16s} has {table.n_species} species, data {species}")
                continue
            rms = [force_rms(x, t, b, table) for x, t, b in confs]
            tc = np.array([configurational_temperature(x, t, b, table) for x, t, b in confs])
            spread = f" +- {tc.std(ddof=1) / np.sqrt(tc.size):.4f}" if tc.size > 1 else ""
            print(
                f"{path.name:40s} {name:16s} {len(confs):6d} {np.median(rms):10.4g} "
                f"{tc.mean():8.4f}{spread}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
