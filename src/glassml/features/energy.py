"""Per-particle potential energy from the simulator's pair potential (LJ truncated at rc).

E_i = 1/2 sum_j U_{t_i t_j}(r_ij), with the same cut-off and truncation as `glassml.simulate`
(`LJTable`). The parameters come from the simulator config stored in the file (key
`config`); files without it (GlassBench) use the descriptor's `potential` option.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from glassml.features.spec import EnergySpec, FeatureSpecError
from glassml.features.structure import Structure
from glassml.simulate.potential import LJTable


def table_from_mapping(p: Mapping[str, Any]) -> LJTable:
    """LJTable from a simulator-style {epsilon, sigma, cutoff (in units of sigma_ab),
    truncation (default shift, as files written before the option)}."""
    return LJTable.from_lists(p["epsilon"], p["sigma"], p["cutoff"], p.get("truncation", "shift"))


def table_from_simulator_config(name: str) -> LJTable:
    """The potential of conf/simulator/<name>.yaml."""
    from glassml.training.config import config_dir

    path = Path(config_dir()) / "simulator" / f"{name}.yaml"
    if not path.is_file():
        options = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise FeatureSpecError(
            f"energy descriptor: potential '{name}' is not a simulator config "
            f"(conf/simulator/{name}.yaml does not exist; options: {options})"
        )
    cfg = yaml.safe_load(path.read_text())
    return table_from_mapping(cfg["potential"])


def stored_potential(source: str) -> Mapping[str, Any] | None:
    """The `simulator.potential` block of the resolved config stored in a glassml file."""
    if not source.endswith(".npz") or not Path(source).is_file():
        return None
    with np.load(source, allow_pickle=False) as f:
        if "config" not in f.files:
            return None
        cfg = yaml.safe_load(str(f["config"]))
    if isinstance(cfg, Mapping) and isinstance(cfg.get("simulator"), Mapping):
        cfg = cfg["simulator"]
    pot = cfg.get("potential") if isinstance(cfg, Mapping) else None
    return pot if isinstance(pot, Mapping) else None


def resolve_table(st: Structure, spec: EnergySpec) -> LJTable:
    """File's own potential, else the spec's; an error naming both when neither exists."""
    pot = stored_potential(st.source)
    if pot is not None:
        table = table_from_mapping(pot)
    elif isinstance(spec.potential, str):
        table = table_from_simulator_config(spec.potential)
    elif isinstance(spec.potential, Mapping):
        table = table_from_mapping(spec.potential)
    else:
        raise FeatureSpecError(
            f"{st.source}: the file stores no simulator config and the energy descriptor "
            "has potential=null; set its 'potential' option (e.g. ka3d, ka2d_ternary)"
        )
    if table.n_species < st.num_species:
        raise FeatureSpecError(
            f"{st.source}: the potential has {table.n_species} species, the data "
            f"{st.num_species}; set the energy descriptor's 'potential' option"
        )
    return table


def particle_energies(st: Structure, table: LJTable) -> np.ndarray:
    """E_i = 1/2 sum_j U_ij, U zero beyond rc_ab (vectorised over the pair list)."""
    p = st.pairs(table.max_rcut)
    ti, tj = st.types[p.dst], st.types[p.src]
    inside = p.r < table.rcut[ti, tj]
    u = table.pair_energy(p.r[inside], ti[inside], tj[inside])
    return 0.5 * np.bincount(p.dst[inside], weights=u, minlength=st.n)


def potential_energy(st: Structure, spec: EnergySpec) -> tuple[np.ndarray, list[str]]:
    """Per-particle energy (one column); coarse-graining is applied by the pipeline."""
    return particle_energies(st, resolve_table(st, spec))[:, None], ["energy"]
