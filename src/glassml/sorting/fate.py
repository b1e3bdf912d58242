"""Domain-fate dataset: will this domain be extracted or dissolve, given its surroundings?

Built from the snapshots of finished sorting runs. Every tracked domain in
every snapshot is one sample; its label is its final fate (merged domains take
the fate of the domain that absorbed them; domains still alive at the end of
the run are censored and left out). Inputs:

- tabular features (``FEATURES``): size, perimeter, radius of gyration, local
  densities of free molecules and of all molecules around the domain, distance
  to and size of the nearest other domain, number of domains nearby, and the
  run's phi and g (so runs can be pooled);
- a graph per domain: the occupied sites in a (2R+1)^2 window centred on the
  domain, node features [in this domain, in another domain, free molecule],
  positions relative to the centre; edges are 4-neighbour bonds (built by the
  reader, so the file stays small).

File: one ``.npz`` (atomic write) with the arrays below and the builder's
arguments plus the source runs' parameters as JSON.
CLI: ``python -m glassml.sorting.fate build RUN_DIR... --out FILE`` and
``python -m glassml.sorting.fate evaluate FILE`` (logistic-regression baseline:
ROC-AUC of size alone against all features).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.stats import rankdata

from glassml.io import atomic_save_npz
from glassml.sorting import kernel as K

FEATURES = (
    "size",
    "perimeter",
    "gyration_radius",
    "free_density_local",
    "density_local",
    "nearest_domain_distance",
    "nearest_domain_size",
    "domains_nearby",
    "log10_phi",
    "g",
)


def _window_sums(a: np.ndarray, r: int) -> np.ndarray:
    """Sum of `a` over the periodic (2r+1)^2 window centred on every site (summed-area table)."""
    p = np.pad(a.astype(np.float64), r, mode="wrap")
    c = np.zeros((p.shape[0] + 1, p.shape[1] + 1))
    c[1:, 1:] = p.cumsum(0).cumsum(1)
    w = 2 * r + 1
    ny, nx = a.shape
    return c[w : w + ny, w : w + nx] - c[:ny, w : w + nx] - c[w : w + ny, :nx] + c[:ny, :nx]


def _snapshot_samples(
    occ: np.ndarray, rec: np.ndarray, radius: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """Features, record ids and centres of all tracked domains of one snapshot, plus graphs."""
    ny, nx = occ.shape
    ids, inv = np.unique(rec[rec >= 0], return_inverse=True)
    nd = len(ids)
    if nd == 0:
        return np.zeros((0, 8)), ids, np.zeros((0, 2)), []
    lab = np.full(occ.shape, -1)
    lab[rec >= 0] = inv
    ys, xs = np.nonzero(lab >= 0)
    li = lab[ys, xs]
    size = np.bincount(li, minlength=nd).astype(float)
    empty_nb = sum((~np.roll(occ, s, a))[ys, xs] for s in (1, -1) for a in (0, 1)).astype(float)
    perim = np.bincount(li, weights=empty_nb, minlength=nd)
    # periodic centroids from circular means, then minimum-image radius of gyration
    cen = np.zeros((nd, 2))
    for k, (coord, n) in enumerate(((ys, ny), (xs, nx))):
        ang = 2 * np.pi * coord / n
        cs = np.bincount(li, np.cos(ang), nd)
        sn = np.bincount(li, np.sin(ang), nd)
        cen[:, k] = (np.arctan2(sn, cs) / (2 * np.pi) * n) % n
    dy = (ys - cen[li, 0] + ny / 2) % ny - ny / 2
    dx = (xs - cen[li, 1] + nx / 2) % nx - nx / 2
    rg = np.sqrt(np.bincount(li, dy**2 + dx**2, nd) / size)
    free = occ & (rec < 0)
    area = (2 * radius + 1) ** 2
    free_w = _window_sums(free, radius) / area
    occ_w = _window_sums(occ, radius)
    iy = np.round(cen[:, 0]).astype(int) % ny
    ix = np.round(cen[:, 1]).astype(int) % nx
    free_loc = free_w[iy, ix]
    dens_loc = occ_w[iy, ix] / area
    # nearest other domain (centre to centre, minimum image)
    if nd > 1:
        ddy = (cen[:, None, 0] - cen[None, :, 0] + ny / 2) % ny - ny / 2
        ddx = (cen[:, None, 1] - cen[None, :, 1] + nx / 2) % nx - nx / 2
        dist = np.hypot(ddy, ddx)
        np.fill_diagonal(dist, np.inf)
        j = dist.argmin(1)
        near_d = dist[np.arange(nd), j]
        near_s = size[j]
        nearby = (dist < 2 * radius).sum(1).astype(float)
    else:
        near_d = np.full(nd, float(max(nx, ny)))
        near_s = np.zeros(nd)
        nearby = np.zeros(nd)
    feats = np.column_stack([size, perim, rg, free_loc, dens_loc, near_d, near_s, nearby])
    # graphs: occupied sites in the window around each centre
    pad_lab = np.pad(lab, radius, mode="wrap")
    pad_occ = np.pad(occ, radius, mode="wrap")
    graphs = []
    rel = np.stack(
        np.meshgrid(np.arange(-radius, radius + 1), np.arange(-radius, radius + 1), indexing="ij"),
        -1,
    )
    for d in range(nd):
        wl = pad_lab[iy[d] : iy[d] + 2 * radius + 1, ix[d] : ix[d] + 2 * radius + 1]
        wo = pad_occ[iy[d] : iy[d] + 2 * radius + 1, ix[d] : ix[d] + 2 * radius + 1]
        m = wo
        node = np.column_stack([wl[m] == d, (wl[m] >= 0) & (wl[m] != d), wl[m] < 0]).astype(
            np.uint8
        )
        graphs.append((rel[m].astype(np.int16), node))
    return feats, ids, cen, graphs


def build_fate_dataset(run_dirs: list[Path], out: Path, radius: int = 8) -> dict[str, Any]:
    """Samples from every snapshot of the given run directories, written to ``out`` (.npz)."""
    rows, labels, meta, node_pos, node_feat, offsets = [], [], [], [], [], [0]
    sources = []
    for r, run in enumerate(run_dirs):
        run = Path(run)
        summary = json.loads((run / "summary.json").read_text())
        p = summary["params"]
        sources.append({"dir": str(run), "params": p})
        dom = np.load(run / "domains.npz")
        snaps = np.load(run / "snapshots.npz")
        ids, final = dom["id"], dom["final_fate"]
        order = np.argsort(ids)
        ids, final = ids[order], final[order]
        ny, nx = (int(v) for v in snaps["shape"])
        for k in range(len(snaps["t"])):
            occ = np.unpackbits(snaps["occ_bits"][k])[: nx * ny].astype(bool).reshape(ny, nx)
            rec = snaps["domain"][k].reshape(ny, nx)
            feats, rid, _cen, graphs = _snapshot_samples(occ, rec, radius)
            if not len(rid):
                continue
            pos = np.searchsorted(ids, rid)
            f = final[np.clip(pos, 0, len(ids) - 1)]
            keep = (ids[np.clip(pos, 0, len(ids) - 1)] == rid) & (
                (f == K.EXTRACTED) | (f == K.DISSOLVED)
            )
            extra = np.column_stack(
                [np.full(len(rid), np.log10(max(p["phi"], 1e-300))), np.full(len(rid), p["g"])]
            )
            rows.append(np.hstack([feats, extra])[keep])
            labels.append((f[keep] == K.EXTRACTED).astype(np.int8))
            meta.append(
                np.column_stack([np.full(keep.sum(), r), np.full(keep.sum(), k), rid[keep]])
            )
            for d in np.flatnonzero(keep):
                node_pos.append(graphs[d][0])
                node_feat.append(graphs[d][1])
                offsets.append(offsets[-1] + len(graphs[d][0]))
    if not rows:
        raise SystemExit("no labelled domains in the snapshots of these runs")
    x = np.vstack(rows)
    y = np.concatenate(labels)
    info = {"radius": radius, "features": list(FEATURES), "sources": sources}
    atomic_save_npz(
        out,
        x=x,
        y=y,
        meta=np.vstack(meta).astype(np.int64),
        feature_names=np.array(FEATURES),
        node_offsets=np.array(offsets, np.int64),
        node_pos=np.vstack(node_pos),
        node_feat=np.vstack(node_feat),
        info_json=np.array(json.dumps(info)),
    )
    return {"samples": len(y), "extracted_fraction": float(y.mean()), "out": str(out)}


# ----------------------------------------------------------------------------- reader


def load_fate_dataset(path: Path) -> dict[str, Any]:
    """Arrays of a fate dataset; ``meta`` columns are (run index, snapshot index, domain id)."""
    with np.load(path) as z:
        data = {k: z[k] for k in z.files}
    data["info"] = json.loads(str(data.pop("info_json")))
    missing = {"x", "y", "node_offsets", "node_pos", "node_feat"} - set(data)
    if missing:
        raise ValueError(f"{path}: not a domain-fate dataset, missing arrays {sorted(missing)}")
    return data


def graph(data: dict[str, Any], i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Node features, positions and 4-neighbour edge index [2, E] of sample i."""
    a, b = data["node_offsets"][i], data["node_offsets"][i + 1]
    pos = data["node_pos"][a:b].astype(np.int64)
    feat = data["node_feat"][a:b].astype(np.float32)
    # look the four neighbours up in a dense window holding each site's node index
    lo = pos.min(0) - 1 if len(pos) else np.zeros(2, np.int64)
    span = pos.max(0) - lo + 2 if len(pos) else np.ones(2, np.int64)
    grid = np.full(tuple(span), -1, np.int64)
    local = pos - lo
    grid[local[:, 0], local[:, 1]] = np.arange(len(pos))
    src, dst = [], []
    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        nb = grid[local[:, 0] + dy, local[:, 1] + dx]
        has = nb >= 0
        src.append(np.flatnonzero(has))
        dst.append(nb[has])
    return feat, pos, np.stack([np.concatenate(src), np.concatenate(dst)]).astype(np.int64)


def to_pyg(data: dict[str, Any]) -> list:
    """The samples as torch_geometric ``Data`` (x, pos, edge_index, y, tabular features u)."""
    import torch
    from torch_geometric.data import Data

    out = []
    for i in range(len(data["y"])):
        feat, pos, ei = graph(data, i)
        out.append(
            Data(
                x=torch.from_numpy(feat),
                pos=torch.from_numpy(pos.astype(np.float32)),
                edge_index=torch.from_numpy(ei),
                y=torch.tensor([float(data["y"][i])]),
                u=torch.from_numpy(data["x"][i : i + 1].astype(np.float32)),
            )
        )
    return out


# ----------------------------------------------------------------------------- baseline


#: Features that are counts or lengths, spanning decades: modelled through log(1 + x).
LOG_FEATURES = (
    "size",
    "perimeter",
    "gyration_radius",
    "nearest_domain_distance",
    "nearest_domain_size",
    "domains_nearby",
)


def log_counts(x: np.ndarray, names: list[str]) -> np.ndarray:
    """Copy of the feature matrix with `LOG_FEATURES` columns mapped to log(1 + x)."""
    out = np.array(x, dtype=np.float64)
    for k, name in enumerate(names):
        if name in LOG_FEATURES:
            out[:, k] = np.log1p(out[:, k])
    return out


def latest_snapshots(
    meta: np.ndarray, fraction: float, before: np.ndarray | None = None
) -> np.ndarray:
    """Mask of each run's latest `fraction` of samples by snapshot, outside `before` (>= 1).

    Held-out sets are later snapshots rather than random samples: the same domain appears
    in consecutive snapshots, so a random split would leak it between train and test.
    """
    taken = np.zeros(len(meta), bool) if before is None else before
    out = np.zeros(len(meta), bool)
    if fraction <= 0:
        return out
    for r in np.unique(meta[:, 0]):
        m = (meta[:, 0] == r) & ~taken
        if not m.any():
            continue
        cut = np.quantile(meta[m, 1], 1 - fraction)
        chosen = m & (meta[:, 1] > cut)
        if not chosen.any():  # few snapshots: at least the latest one
            chosen = m & (meta[:, 1] == meta[m, 1].max())
        out |= chosen
    return out


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC-AUC as the Mann-Whitney statistic (ties count one half)."""
    y = np.asarray(y).astype(bool)
    n1, n0 = y.sum(), (~y).sum()
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(score)
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3) -> np.ndarray:
    xb = np.hstack([x, np.ones((len(x), 1))])

    def f(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = xb @ w
        p = 1 / (1 + np.exp(-z))
        loss = np.logaddexp(0, z).sum() - y @ z + l2 * w[:-1] @ w[:-1]
        grad = xb.T @ (p - y) + 2 * l2 * np.r_[w[:-1], 0]
        return loss / len(y), grad / len(y)

    return minimize(f, np.zeros(xb.shape[1]), jac=True, method="L-BFGS-B").x


def evaluate_fate(data: dict[str, Any], test_fraction: float = 0.3) -> dict[str, Any]:
    """Logistic regression on size alone vs all features; test = the latest snapshots of each run.

    Features get log(1 + x) for sizes/distances and standardisation; quadratic terms let
    the boundary bend. The gap in test ROC-AUC measures how much the environment moves
    the fate beyond what the size already says.
    """
    x, y, meta = data["x"].astype(float), data["y"].astype(float), data["meta"]
    test = latest_snapshots(meta, test_fraction)
    xt = log_counts(x, list(FEATURES))

    def design(cols: list[int]) -> np.ndarray:
        z = xt[:, cols]
        mu, sd = z[~test].mean(0), z[~test].std(0) + 1e-12
        z = (z - mu) / sd
        quad = np.column_stack(
            [z[:, i] * z[:, j] for i in range(z.shape[1]) for j in range(i, z.shape[1])]
        )
        return np.hstack([z, quad])

    out: dict[str, Any] = {
        "n_train": int((~test).sum()),
        "n_test": int(test.sum()),
        "extracted_fraction": float(y.mean()),
        "auc_size_rank": roc_auc(y[test], x[test, 0]),
    }
    sets = {
        "size": [0],
        "size_and_run": [0, 8, 9],  # size plus the run's phi and g
        "all": list(range(x.shape[1])),
    }
    scores = {}
    for name, cols in sets.items():
        d = design(cols)
        w = _logistic(d[~test], y[~test])
        scores[name] = np.hstack([d[test], np.ones((test.sum(), 1))]) @ w
        out[f"auc_{name}"] = roc_auc(y[test], scores[name])
    # within single runs (fixed phi, g): what the environment adds to size
    per_run = []
    runs_test = meta[test, 0]
    for r in np.unique(runs_test):
        m = runs_test == r
        yt = y[test][m]
        if yt.min() == yt.max() or m.sum() < 50:
            continue
        per_run.append((roc_auc(yt, x[test][m, 0]), roc_auc(yt, scores["all"][m])))
    if per_run:
        arr = np.array(per_run)
        out["per_run_auc_size_mean"] = float(arr[:, 0].mean())
        out["per_run_auc_all_mean"] = float(arr[:, 1].mean())
        out["per_run_count"] = len(per_run)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="domain-fate dataset: build or evaluate")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="samples from the snapshots of finished runs")
    b.add_argument("runs", type=Path, nargs="+", help="run directories (or a sweep directory)")
    b.add_argument("--out", type=Path, required=True)
    b.add_argument("--radius", type=int, default=8)
    e = sub.add_parser("evaluate", help="logistic baseline: size alone vs all features")
    e.add_argument("dataset", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "build":
        dirs = []
        for r in args.runs:
            found = sorted(p.parent for p in Path(r).rglob("snapshots.npz"))
            dirs.extend(d for d in found if (d / "summary.json").exists())
        print(json.dumps(build_fate_dataset(dirs, args.out, args.radius), indent=1))
    else:
        print(json.dumps(evaluate_fate(load_fate_dataset(args.dataset)), indent=1))


if __name__ == "__main__":
    main()
