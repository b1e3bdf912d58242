"""Orchestration of one sorting run: sampling, check-points, outputs, summary.

The numba kernel advances the lattice between sampling times; everything here
is plain Python on small arrays. A run directory holds ``timeseries.npz``,
``domains.npz`` (one row per domain), ``extractions.npz``, ``snapshots.npz``,
``summary.json`` (with the config that made it) and PNG plots. An interrupted
run resumes from ``checkpoint.npz`` bit for bit; a finished one is skipped.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from glassml.io import atomic_save_npz, atomic_write_text
from glassml.simulate.config import ConfigError
from glassml.sorting import kernel as K
from glassml.sorting.analysis import (
    committor,
    lineage_birth_time,
    resolve_fates,
    stationary_mean,
)
from glassml.sorting.onsager import G_C, cnt_critical_size, coexisting_densities, line_tension
from glassml.sorting.params import SortingParams
from glassml.sorting.tracking import log_run

log = logging.getLogger("glassml.sorting")

SERIES = (
    "t",
    "density",
    "n_domains",
    "n_clusters",
    "monomers",
    "free",
    "inserted",
    "extracted_domains",
    "extracted_molecules",
    "events",
)


class Recorder:
    """Everything a run accumulates besides the lattice state."""

    def __init__(self, p: SortingParams) -> None:
        self.p = p
        self.k = 0  # samples taken
        self.series = {name: np.zeros(p.n_samples) for name in SERIES}
        self.hist_max = max(p.M_eff if p.extraction == "size" else 4 * p.square**2, 8)
        self.hist_max = min(self.hist_max, p.nx * p.ny)
        self.hist = np.zeros((p.n_samples, self.hist_max + 1), np.int32)
        self.ext: list[np.ndarray] = []  # rows t, residence_sum, size, rec
        self.ext_mol = 0.0
        self.deaths_i: list[np.ndarray] = []
        self.deaths_f: list[np.ndarray] = []
        self.snap_t: list[float] = []
        self.snap_occ: list[np.ndarray] = []
        self.snap_rec: list[np.ndarray] = []
        self.n_frames = 0  # frames of the domain tracks taken
        self.tracks: list[np.ndarray] = []  # rows domain id, t, size

    def drain(self, st: K.SortState) -> None:
        """Move the kernel's event buffers into Python lists."""
        n = int(st.si[K.S_NEXTBUF])
        if n:
            rows = np.column_stack([st.ext_f[:n], st.ext_i[:n].astype(np.float64)])
            self.ext.append(rows.copy())
            self.ext_mol += float(rows[:, 2].sum())
            st.si[K.S_NEXTBUF] = 0
        n = int(st.si[K.S_NDEATHBUF])
        if n:
            self.deaths_i.append(st.death_i[:n].copy())
            self.deaths_f.append(st.death_f[:n].copy())
            st.si[K.S_NDEATHBUF] = 0

    def sample(self, st: K.SortState) -> None:
        p = self.p
        live = K.cluster_sizes(st)
        h = np.bincount(np.minimum(live, self.hist_max), minlength=self.hist_max + 1)
        k = self.k
        n_sites = p.nx * p.ny
        n_mol = int(st.occ.sum())
        small = live < p.domain_min_size
        s = self.series
        s["t"][k] = st.sf[K.F_T]
        s["density"][k] = n_mol / n_sites
        s["n_domains"][k] = st.si[K.S_NDOM]
        s["n_clusters"][k] = len(live)
        s["monomers"][k] = h[1]
        s["free"][k] = live[small].sum()
        s["inserted"][k] = st.si[K.S_NINS]
        s["extracted_domains"][k] = st.si[K.S_NEXT]
        s["extracted_molecules"][k] = self.ext_mol
        s["events"][k] = st.si[K.S_NHOP] + st.si[K.S_NINS] + st.si[K.S_NEXT]
        self.hist[k] = h
        self.k += 1

    def snapshot(self, st: K.SortState) -> None:
        self.snap_t.append(float(st.sf[K.F_T]))
        self.snap_occ.append(np.packbits(st.occ.astype(bool)))
        self.snap_rec.append(K.site_records(st).astype(np.int64))

    def frame(self, st: K.SortState) -> None:
        """One frame of the domain tracks: the size of every live domain now."""
        rec = K.site_records(st)
        ids, sizes = np.unique(rec[rec >= 0], return_counts=True)
        t = float(st.sf[K.F_T])
        self.tracks.append(np.column_stack([ids, np.full(len(ids), t), sizes]).astype(float))
        self.n_frames += 1

    # ------------------------------------------------------------------ persistence
    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {f"series_{k}": v for k, v in self.series.items()}
        out["hist"] = self.hist
        out["k"] = np.array(self.k)
        out["ext"] = np.concatenate(self.ext) if self.ext else np.zeros((0, 4))
        out["deaths_i"] = (
            np.concatenate(self.deaths_i) if self.deaths_i else np.zeros((0, K.ND), np.int64)
        )
        out["deaths_f"] = np.concatenate(self.deaths_f) if self.deaths_f else np.zeros((0, 2))
        out["snap_t"] = np.array(self.snap_t)
        out["snap_occ"] = np.array(self.snap_occ) if self.snap_occ else np.zeros((0, 0), np.uint8)
        out["snap_rec"] = np.array(self.snap_rec) if self.snap_rec else np.zeros((0, 0), np.int64)
        out["n_frames"] = np.array(self.n_frames)
        out["tracks"] = np.concatenate(self.tracks) if self.tracks else np.zeros((0, 3))
        return out

    def from_arrays(self, a: dict[str, np.ndarray]) -> None:
        self.series = {k: a[f"series_{k}"].copy() for k in SERIES}
        self.hist = a["hist"].copy()
        self.k = int(a["k"])
        self.ext = [a["ext"]] if len(a["ext"]) else []
        self.ext_mol = float(a["ext"][:, 2].sum()) if len(a["ext"]) else 0.0
        self.deaths_i = [a["deaths_i"]] if len(a["deaths_i"]) else []
        self.deaths_f = [a["deaths_f"]] if len(a["deaths_f"]) else []
        self.snap_t = list(a["snap_t"])
        self.snap_occ = list(a["snap_occ"])
        self.snap_rec = list(a["snap_rec"])
        self.n_frames = int(a["n_frames"]) if "n_frames" in a else 0
        self.tracks = [a["tracks"]] if "tracks" in a and len(a["tracks"]) else []


def _save_checkpoint(path: Path, st: K.SortState, rec: Recorder, digest: str) -> None:
    arrays = {f"state_{k}": v for k, v in st._asdict().items() if k not in K.SCRATCH_FIELDS}
    arrays.update({f"rec_{k}": v for k, v in rec.to_arrays().items()})
    arrays["digest"] = np.array(digest)
    atomic_save_npz(path, compress=False, **arrays)


def _load_checkpoint(path: Path, p: SortingParams, rec: Recorder) -> K.SortState | None:
    with np.load(path) as z:
        if str(z["digest"]) != p.digest():
            return None
        st = K.new_state(p.nx, p.ny, p.seed, buffer=p.buffer)
        fields = {k: arr for k, arr in st._asdict().items() if k not in K.SCRATCH_FIELDS}
        missing = [k for k in fields if f"state_{k}" not in z]
        if missing:
            raise ValueError(
                f"{path}: checkpoint lacks state arrays {missing} (written by another "
                "version of the lattice-gas kernel); delete it to restart the run"
            )
        for k, arr in fields.items():  # in place: keeps the interleaved layout
            arr[...] = z[f"state_{k}"]
        rec.from_arrays({k[4:]: z[k] for k in z.files if k.startswith("rec_")})
    return st


def initial_state(p: SortingParams) -> K.SortState:
    """Lattice at t = 0: empty, uniformly random, or a horizontal slab (coexistence tests)."""
    st = K.new_state(p.nx, p.ny, p.seed, buffer=p.buffer)
    n = p.nx * p.ny
    par, ipar = p.kernel_params()
    if p.init == "random" and p.init_density > 0:
        rng = np.random.default_rng([p.seed, 1])
        sites = rng.choice(n, size=round(p.init_density * n), replace=False)
        K.fill_sites(st, par, ipar, sites)
    elif p.init == "slab" and p.init_density > 0:
        rows = round(p.init_density * p.ny)
        y0 = (p.ny - rows) // 2
        sites = np.arange(y0 * p.nx, (y0 + rows) * p.nx)
        K.fill_sites(st, par, ipar, sites)
    return st


def simulate(
    p: SortingParams, out_dir: str | Path, config: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run (or resume, or skip if finished) one simulation into ``out_dir``; returns the summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary_path = out / "summary.json"
    digest = p.digest()
    if summary_path.exists():
        old = json.loads(summary_path.read_text())
        if old.get("digest") == digest:
            log.info("%s: finished run with the same parameters, skipped", out)
            return old
        raise ConfigError(
            f"{summary_path} holds a different run (digest {old.get('digest')} != {digest}): "
            "choose another simulator.output_dir"
        )
    ckpt = out / "checkpoint.npz"
    rec = Recorder(p)
    st = _load_checkpoint(ckpt, p, rec) if ckpt.exists() else None
    if st is None:
        st = initial_state(p)
    else:
        log.info("resuming %s at t = %.6g", out, st.sf[K.F_T])
    par, ipar = p.kernel_params()
    times = np.linspace(0.0, p.t_end, p.n_samples + 1)[1:]
    n_snap = p.snapshots
    snap_times = np.linspace(p.snapshot_start * p.t_end, p.t_end, n_snap) if n_snap else np.zeros(0)
    wall0 = time.perf_counter()
    last_ckpt = wall0
    ev0 = st.si[K.S_NHOP] + st.si[K.S_NINS] + st.si[K.S_NEXT]
    bar = tqdm(
        total=p.n_samples,
        initial=rec.k,
        desc=f"sorting phi={p.phi:g} g={p.g:g}",
        unit="sample",
        disable=not p.progress,
        leave=False,
    )
    dead = False
    frame_times = np.zeros(0)
    if p.track_every is not None:
        t_first = p.snapshot_start * p.t_end
        frame_times = t_first + p.track_every * np.arange(
            int(np.floor((p.t_end - t_first) / p.track_every)) + 1
        )
    while rec.k < p.n_samples:
        t_next = times[rec.k]
        # snapshots and track frames falling before the next sample, in time order
        while True:
            ts_snap = snap_times[len(rec.snap_t)] if len(rec.snap_t) < n_snap else np.inf
            ts_frame = frame_times[rec.n_frames] if rec.n_frames < len(frame_times) else np.inf
            ts = min(ts_snap, ts_frame)
            if ts > t_next:
                break
            _advance(st, par, ipar, ts, rec)
            if ts_snap <= ts_frame:
                rec.snapshot(st)
            else:
                rec.frame(st)
        rc = _advance(st, par, ipar, t_next, rec)
        dead = dead or rc == K.RC_DEAD
        rec.sample(st)
        bar.update(1)
        if time.perf_counter() - last_ckpt > p.checkpoint_every and rec.k < p.n_samples:
            _save_checkpoint(ckpt, st, rec, digest)
            last_ckpt = time.perf_counter()
    bar.close()
    wall = time.perf_counter() - wall0
    events = int(st.si[K.S_NHOP] + st.si[K.S_NINS] + st.si[K.S_NEXT] - ev0)
    alive_i, alive_f = K.flush_alive(st)
    rec.deaths_i.append(alive_i)
    rec.deaths_f.append(alive_f)
    arrays = rec.to_arrays()
    summary = _finish(p, out, arrays, st, config, digest, wall, events, dead)
    ckpt.unlink(missing_ok=True)
    return summary


def _advance(st: K.SortState, par: np.ndarray, ipar: np.ndarray, t: float, rec: Recorder) -> int:
    while True:
        rc = K.run(st, par, ipar, t, 1 << 62)
        rec.drain(st)
        if rc != K.RC_BUFFER:
            return rc


# ----------------------------------------------------------------------------- outputs


def _domains_table(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    di, df = arrays["deaths_i"], arrays["deaths_f"]
    order = np.argsort(di[:, K.D_REC], kind="stable")
    di, df = di[order], df[order]
    final = resolve_fates(di[:, K.D_REC], di[:, K.D_FATE], di[:, K.D_OTHER])
    lineage = lineage_birth_time(
        di[:, K.D_REC], df[:, 0], df[:, 1], di[:, K.D_FATE], di[:, K.D_OTHER]
    )
    return {
        "id": di[:, K.D_REC],
        "birth_time": df[:, 0],
        "death_time": df[:, 1],
        "lifetime": df[:, 1] - df[:, 0],
        # the earliest birth among the domains that merged into this one (the group's count)
        "lineage_birth_time": lineage,
        "lineage_lifetime": df[:, 1] - lineage,
        "birth_size": di[:, K.D_BN],
        "max_size": di[:, K.D_MAX],
        "fate": di[:, K.D_FATE],
        "final_fate": final,
        "merged_into": di[:, K.D_OTHER],
        "birth_kind": di[:, K.D_KIND],
        "parent": di[:, K.D_PARENT],
    }


FATE_NAMES = {
    K.ALIVE: "alive",
    K.EXTRACTED: "extracted",
    K.DISSOLVED: "dissolved",
    K.MERGED: "merged",
}


def _finish(
    p: SortingParams,
    out: Path,
    a: dict[str, np.ndarray],
    st: K.SortState,
    config: dict[str, Any] | None,
    digest: str,
    wall: float,
    events: int,
    dead: bool,
) -> dict[str, Any]:
    from glassml.sorting import plots

    n_sites = p.nx * p.ny
    series = {k: a[f"series_{k}"] for k in SERIES}
    t = series["t"]
    dom = _domains_table(a)
    ext = a["ext"]
    warnings: list[str] = []

    stat_rho = stationary_mean(series["density"])
    start = stat_rho.start
    t0 = float(t[start - 1]) if start > 0 else 0.0
    window = float(t[-1] - t0)
    if start > len(t) // 3:
        warnings.append(
            f"long transient: the density settles only after {start}/{len(t)} samples "
            f"(t = {t0:.4g})"
        )
    if stat_rho.drift_sigma > 3.0:
        warnings.append(
            f"not stationary: the density drifts by {stat_rho.drift_sigma:.1f} sigma between the "
            "halves of the averaging window; increase simulator.t_end"
        )
    stat_dom = stationary_mean(series["n_domains"], start)
    stat_free = stationary_mean(series["free"] / n_sites, start)
    stat_mono = stationary_mean(series["monomers"] / n_sites, start)
    rho, drho = stat_rho.mean, stat_rho.err

    # Little's law: tau = N / J_in with J_in = k_I * (empty sites)
    res: dict[str, Any] = {}
    if p.k_I > 0:
        tau = rho / (p.k_I * (1.0 - rho))
        dtau = drho / (p.k_I * (1.0 - rho) ** 2)
        res["residence_time_little"] = {"mean": tau, "err": dtau}
    late = ext[:, 0] > t0 if len(ext) else np.zeros(0, bool)
    n_ext_mol = float(ext[late, 2].sum()) if len(ext) else 0.0
    if n_ext_mol > 0:
        tags = ext[late]
        tau_tag = float(tags[:, 1].sum() / tags[:, 2].sum())
        blocks = np.array_split(np.arange(len(tags)), min(20, len(tags)))
        per = np.array([tags[b, 1].sum() / tags[b, 2].sum() for b in blocks if len(b)])
        err = float(per.std(ddof=1) / np.sqrt(len(per))) if len(per) > 1 else float("nan")
        res["residence_time_tagged"] = {"mean": tau_tag, "err": err, "molecules": n_ext_mol}
    else:
        warnings.append("no extraction after the transient: residence time from tags unavailable")
    flux_out = n_ext_mol / (window * n_sites) if window > 0 else float("nan")
    flux_in = p.k_I * (1.0 - rho)
    res["flux_in"] = flux_in
    res["flux_out"] = flux_out
    if p.k_I > 0 and n_ext_mol > 0 and abs(flux_out - flux_in) > 0.2 * flux_in:
        warnings.append(
            f"extracted flux {flux_out:.3g} differs from the inserted flux {flux_in:.3g} by more "
            "than "
            "20%: the run is too short to be stationary"
        )
    if dead:
        warnings.append(
            "no possible event left (frozen lattice): the clock was advanced without events"
        )

    # domains: productive (extracted) vs unproductive (dissolved), own fate
    own = dom["fate"]
    prod = own == K.EXTRACTED
    unprod = own == K.DISSOLVED
    after = dom["birth_time"] >= t0

    def describe(mask: np.ndarray, life: str = "lifetime") -> dict[str, float]:
        m = mask & (dom["lineage_birth_time" if life != "lifetime" else "birth_time"] >= t0)
        if not m.any():
            return {"count": 0}
        return {
            "count": int(m.sum()),
            "lifetime_mean": float(dom[life][m].mean()),
            "lifetime_median": float(np.median(dom[life][m])),
            "max_size_mean": float(dom["max_size"][m].mean()),
            "max_size_median": float(np.median(dom["max_size"][m])),
        }

    n_max = p.M_eff if p.extraction == "size" else int(dom["max_size"].max(initial=1))
    comm = committor(
        dom["birth_size"][after], dom["max_size"][after], dom["final_fate"][after], n_max
    )
    # the same over the domains that grew out of the gas (not split off another domain, not
    # present at the start): the nuclei of nucleation theory, and the tracks an observer
    # sees appear from nothing. Fragments of large domains mostly merge back into them and
    # are extracted with them, which pulls the all-domain curve to smaller sizes.
    grown = after & (dom["birth_kind"] == K.BORN_GROWTH)
    comm_grown = committor(
        dom["birth_size"][grown], dom["max_size"][grown], dom["final_fate"][grown], n_max
    )

    cnt: dict[str, Any] = {}
    if p.g < G_C and p.k_I > 0:
        # supersaturation from the monomer density: in the dilute gas rho_1 ~ z (1-rho)^5,
        # and coexistence is at activity z = g^2 (zero Ising field); dmu/kT = ln(z / g^2)
        rho_gas, _ = coexisting_densities(p.g)
        rho1_coex = p.g**2 * (1.0 - rho_gas) ** 5
        dmu = float(np.log(stat_mono.mean / rho1_coex)) if stat_mono.mean > 0 else float("nan")
        disc, square = cnt_critical_size(p.g, dmu) if np.isfinite(dmu) else (float("nan"),) * 2
        cnt = {
            "line_tension": line_tension(p.g),
            "monomer_density": stat_mono.mean,
            "monomer_density_coexistence": rho1_coex,
            "supersaturation": dmu,
            "n_c_disc": disc,
            "n_c_square": square,
        }

    summary: dict[str, Any] = {
        "digest": digest,
        "params": p.physics(),
        "conventions": p.conventions(),
        "config": config,
        "seed": p.seed,
        "g_c": G_C,
        "stationary": {
            "start_time": t0,
            "window": window,
            "density": stat_rho.as_dict(),
            "n_domains": stat_dom.as_dict(),
            "domain_density": {"mean": stat_dom.mean / n_sites, "err": stat_dom.err / n_sites},
            "free_density": stat_free.as_dict(),
            "monomer_density": stat_mono.as_dict(),
        },
        "sorting": res,
        "domains": {
            "total": int(len(own)),
            "by_own_fate": {FATE_NAMES[f]: int((own == f).sum()) for f in FATE_NAMES},
            "productive": describe(prod),
            "unproductive": describe(unprod),
            # lifetimes from the earliest birth kept through merges (the group's count);
            # merged-away domains are part of their absorber's lineage, not counted apart
            "lineage": {
                "productive": describe(prod, "lineage_lifetime"),
                "unproductive": describe(unprod, "lineage_lifetime"),
            },
        },
        "committor": comm.as_dict(),
        "committor_grown": comm_grown.as_dict(),
        "cnt": cnt,
        "warnings": warnings,
        "performance": {
            "wall_s": wall,
            "events": events,
            "events_per_s": events / wall if wall > 0 else float("nan"),
            "null_events": int(st.si[K.S_NNULL]),
            "sim_time_per_s": (p.t_end / wall) if wall > 0 else float("nan"),
        },
    }
    for w in warnings:
        log.warning("%s: %s", out, w)

    meta = {"digest": np.array(digest), "config_json": np.array(json.dumps(summary["params"]))}
    atomic_save_npz(out / "timeseries.npz", **series, size_hist=a["hist"], **meta)
    atomic_save_npz(out / "domains.npz", **dom, **meta)
    atomic_save_npz(
        out / "extractions.npz",
        t=ext[:, 0],
        residence_sum=ext[:, 1],
        size=ext[:, 2].astype(np.int64),
        domain=ext[:, 3].astype(np.int64),
        **meta,
    )
    if len(a["snap_t"]):
        # coarse size trajectories of the domains alive at each snapshot
        traj = []
        for k, t_s in enumerate(a["snap_t"]):
            ids, sizes = np.unique(a["snap_rec"][k][a["snap_rec"][k] >= 0], return_counts=True)
            traj.append(np.column_stack([ids, np.full(len(ids), t_s), sizes]))
        traj = np.vstack(traj) if traj else np.zeros((0, 3))
        atomic_save_npz(
            out / "domain_trajectories.npz",
            domain=traj[:, 0].astype(np.int64),
            t=traj[:, 1],
            size=traj[:, 2].astype(np.int64),
            **meta,
        )
        atomic_save_npz(
            out / "snapshots.npz",
            t=a["snap_t"],
            occ_bits=a["snap_occ"],
            domain=a["snap_rec"],
            shape=np.array([p.ny, p.nx]),
            **meta,
        )
    if p.track_every is not None:
        tr = a["tracks"]
        atomic_save_npz(
            out / "domain_tracks.npz",
            domain=tr[:, 0].astype(np.int64),
            t=tr[:, 1],
            size=tr[:, 2].astype(np.int64),
            **meta,
        )
    plots.run_plots(out, p, series, dom, comm, t0, a)
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, default=_jsonable))
    return summary


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def run_sorting(cfg: DictConfig) -> dict[str, Any]:
    """Hydra target of ``simulator=sorting``: validate, pick the run directory, simulate."""
    scfg = cfg.simulator if "simulator" in cfg else cfg
    p = SortingParams.from_mapping(OmegaConf.to_container(scfg, resolve=True))
    out = p.output_dir
    if out is None:
        try:
            from hydra.core.hydra_config import HydraConfig

            out = HydraConfig.get().runtime.output_dir
        except ValueError as err:
            raise ConfigError(
                "simulator.output_dir is null and no Hydra run directory exists"
            ) from err
    config = OmegaConf.to_container(cfg, resolve=True)
    summary = simulate(p, out, config=config)
    log_run(summary, Path(out), cfg.get("tracking") or {})
    st = summary["stationary"]
    conv = summary.get("conventions") or p.conventions()  # older summaries lack it
    log.info(
        "%s: phi %.3g per molecule = %.3g per neighbour; density %.4f +- %.4f, domains "
        "%.1f +- %.1f, residence %s, n_c %.1f",
        out,
        conv["phi_molecule"],
        conv["phi_neighbour"],
        st["density"]["mean"],
        st["density"]["err"],
        st["n_domains"]["mean"],
        st["n_domains"]["err"],
        summary["sorting"].get("residence_time_little"),
        summary["committor"]["n_c"],
    )
    return {"output_dir": str(out), "digest": summary["digest"]}
