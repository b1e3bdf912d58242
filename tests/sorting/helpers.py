"""Shared helpers of the sorting tests: an independent rate enumeration and invariant checks."""

from __future__ import annotations

import itertools

import numpy as np

from glassml.sorting import kernel as K
from glassml.sorting.clusters import periodic_label


def neighbours(nx: int, ny: int, s: int) -> list[int]:
    x, y = s % nx, s // nx
    return [
        y * nx + (x + 1) % nx,
        y * nx + (x - 1) % nx,
        ((y + 1) % ny) * nx + x,
        ((y - 1) % ny) * nx + x,
    ]


def transitions(
    occ: tuple[int, ...], nx: int, ny: int, g: float, k_d: float, k_i: float, rule: str
):
    """Every transition out of `occ` with its rate, written from the model's definition."""
    out: dict[tuple[int, ...], float] = {}
    n_sites = nx * ny
    for i in range(n_sites):
        if occ[i]:
            n_i = sum(occ[k] for k in neighbours(nx, ny, i))
            for j in neighbours(nx, ny, i):
                if occ[j]:
                    continue
                n_j = sum(occ[k] for k in neighbours(nx, ny, j)) - 1  # without i
                gn = rule == "gn"
                r = k_d / 4 * (g**n_i if gn else min(1.0, g ** (n_i - n_j)))
                new = list(occ)
                new[i], new[j] = 0, 1
                out[tuple(new)] = out.get(tuple(new), 0.0) + r
        elif k_i > 0:
            new = list(occ)
            new[i] = 1
            out[tuple(new)] = out.get(tuple(new), 0.0) + k_i
    return out


def pairs(occ, nx: int, ny: int) -> int:
    a = np.asarray(occ).reshape(ny, nx)
    return int((a & np.roll(a, 1, 0)).sum() + (a & np.roll(a, 1, 1)).sum())


def configurations(n_sites: int, n_mol: int):
    for sites in itertools.combinations(range(n_sites), n_mol):
        occ = [0] * n_sites
        for s in sites:
            occ[s] = 1
        yield tuple(occ)


def copy_state(st: K.SortState) -> K.SortState:
    return K.clone(st)


def check_invariants(
    st: K.SortState, nx: int, ny: int, min_dom: int, msq: int | None = None
) -> None:
    """The incremental bookkeeping equals a full recomputation (scipy.ndimage.label, wrapped)."""
    occ = st.occ.reshape(ny, nx).astype(bool)
    lab, n = periodic_label(occ)
    tl = st.lab.reshape(ny, nx).astype(np.int64)
    assert ((tl != -1) == occ).all()
    nocc = sum(np.roll(occ, sh, ax) for sh in (1, -1) for ax in (0, 1))
    lone = tl == K.MONO
    # a molecule with no slot is alone exactly when domains start at two molecules
    if min_dom >= 2:
        assert (lone == (occ & (nocc == 0))).all()
    else:
        assert not lone.any()
    tl[lone] = -2 - np.arange(lone.sum())  # each its own cluster
    pairs_ = set(zip(lab[occ].tolist(), tl[occ].tolist(), strict=True))
    assert len(pairs_) == n, "a tracked cluster spans several true clusters or vice versa"
    assert len({b for _, b in pairs_}) == n
    sizes = np.bincount(lab.ravel())
    n_dom = 0
    for a, b in pairs_:
        size = sizes[a]
        if b < 0:
            assert size == 1
            continue
        assert st.cd[b, K.C_SIZE] == size
        assert st.lab[st.cd[b, K.C_ANCHOR]] == b
        tracked = st.cd[b, K.C_REC] >= 0
        assert tracked == (size >= min_dom)
        n_dom += tracked
        if tracked:
            assert st.cd[b, K.C_MAX] >= size
        if msq is not None:
            full = 0
            for s in np.flatnonzero(st.lab == b):
                x, y = s % nx, s // nx
                rows = [(y + dy) % ny for dy in range(msq)]
                cols = [(x + dx) % nx for dx in range(msq)]
                full += occ[np.ix_(rows, cols)].all()
            assert st.cd[b, K.C_FULL] == full
    assert st.si[K.S_NDOM] == n_dom
    slots = {b for _, b in pairs_ if b >= 0}
    assert np.count_nonzero(st.cd[:, K.C_SIZE]) == len(slots), "a freed cluster slot kept a size"
    assert st.si[K.S_NFREE] == nx * ny - len(slots), "cluster slots leaked"
    assert (st.nocc == nocc.ravel()).all()
    for c in range(K.NLIST):
        m = st.members[c, : st.cnt[c]]
        assert (st.cls[m] == c).all()
        assert (st.pos[m] == np.arange(len(m))).all()
    assert st.cnt.sum() == ((st.occ == 1) & (st.nocc < 4)).sum()
