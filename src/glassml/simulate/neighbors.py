"""Verlet neighbour lists built from cell lists, with a skin and automatic rebuild.

Written with numba rather than taken from vesin because the MD loop rebuilds the list
thousands of times per trajectory: a library call would cost a copy of the positions and
a Python round trip per rebuild, and the compiled MD loop (md.py) calls the builder itself.

The list is full (each pair in both rows) and split by the neighbour's species: the force
kernel then needs no scattered writes and no per-pair table look-up, so it vectorises, and
threads need no private force buffers. Kernels work on [N, 3]
arrays; 2D systems carry a zero z column and `dim=2`.
"""

from __future__ import annotations

import numba as nb
import numpy as np

# cells of side >= rlist / CELL_SPLIT[d] along d: finer cells copy fewer candidates per cell,
# coarser ones mean fewer (short, mispredicted) ranges per cell; (2, 2, 1) was the fastest of
# the splits tried (2, 2, 2 / 2, 1, 1 / 3, 1, 1) for KA at rho = 1.2
CELL_SPLIT = np.array([2, 2, 1])


@nb.njit(cache=True)
def _stencil_rows(dim, kk, ncell, side, rlist):
    """Rows of the cell stencil along x: (dy, dz, reach in x) for each (dy, dz) whose cells
    can hold a particle within rlist, the reach trimmed to the cells that can."""
    rows = np.zeros(((2 * kk[1] + 1) * (2 * kk[2] + 1), 3), dtype=np.int64)
    m = 0
    kz = kk[2] if dim == 3 else 0
    for dz in range(-kz, kz + 1):
        for dy in range(-kk[1], kk[1] + 1):
            gy = max(abs(dy) - 1, 0) * side[1]
            gz = max(abs(dz) - 1, 0) * side[2]
            rest = rlist * rlist - gy * gy - gz * gz
            if rest <= 0.0:
                continue
            reach = min(kk[0], int(np.ceil(np.sqrt(rest) / side[0] - 1e-12)))
            rows[m, 0] = dy
            rows[m, 1] = dz
            rows[m, 2] = reach
            m += 1
    return rows[:m]


@nb.njit(inline="always", cache=True)
def _gather(qa, qb, sx, sy, sz, xs, index, pattern, mx, my, mz, hx, hy, hz, rlist2, cand, m):
    """Copy the particles q in [qa, qb) of the sorted arrays, shifted by (sx, sy, sz), into
    the candidate rows [x, y, z, index] if they lie within rlist of the cell (centre
    (mx, my, mz), half sides (hx, hy, hz)); `index[pattern]` gives the position (particle
    or ghost image) the list will name. Branch-free: each particle is written at the next
    free row, which only an accepted one keeps. Unsigned indices spare numba's
    negative-index checks."""
    um = np.uint64(m)
    one = np.uint64(1)
    zero = np.uint64(0)
    row = index[pattern]
    for q in range(np.uint64(qa), np.uint64(qb)):
        px = xs[q, 0] + sx
        py = xs[q, 1] + sy
        pz = xs[q, 2] + sz
        gx = abs(px - mx) - hx
        gy = abs(py - my) - hy
        gz = abs(pz - mz) - hz
        gx = gx if gx > 0.0 else 0.0
        gy = gy if gy > 0.0 else 0.0
        gz = gz if gz > 0.0 else 0.0
        cand[um, 0] = px
        cand[um, 1] = py
        cand[um, 2] = pz
        cand[um, 3] = row[q]
        um += one if gx * gx + gy * gy + gz * gz < rlist2 else zero
    return np.int64(um)


@nb.njit(inline="always", cache=True)
def _select(i, s, xi, yi, zi, r2, cand, m, nbr_idx):
    """Write the candidates closer than sqrt(r2) to (xi, yi, zi), other than i, into row
    (i, s) of the list; returns their number (which may exceed the row, then nothing is
    written past it)."""
    cnt = 0
    cap = nbr_idx.shape[2]
    fi = float(i)
    if m <= cap:
        row = nbr_idx[i, s]
        uc = np.uint64(0)
        one = np.uint64(1)
        zero = np.uint64(0)
        for q in range(np.uint64(m)):
            dx = xi - cand[q, 0]
            dy = yi - cand[q, 1]
            dz = zi - cand[q, 2]
            row[uc] = int(cand[q, 3])
            uc += one if (dx * dx + dy * dy + dz * dz < r2) & (cand[q, 3] != fi) else zero
        cnt = np.int64(uc)
    else:
        for q in range(m):
            dx = xi - cand[q, 0]
            dy = yi - cand[q, 1]
            dz = zi - cand[q, 2]
            if cnt < cap:
                nbr_idx[i, s, cnt] = int(cand[q, 3])
            cnt += (dx * dx + dy * dy + dz * dz < r2) & (cand[q, 3] != fi)
    return cnt


@nb.njit(parallel=True, cache=True)
def _build_cells(
    x, types, box, dim, rlist, kk, rl2, nbr_idx, nbr_cnt, n_threads, xe, ghost_src, ghost_shift,
    ghost_first, ghost_count,
):  # fmt: skip
    """Full list from cells of side >= rlist/kk[d] along d, rows by neighbour species.

    Particles are counting-sorted by species, then cell (x fastest), so that the 2kk[0]+1
    cells of a stencil row hold one contiguous range per species (two across the periodic x
    boundary), each with one periodic image shift. For each cell, the particles of its
    stencil that can lie within rlist of the cell are copied once, shifted to the right
    image, into per-species candidate buffers; each particle of the cell then scans these
    long contiguous buffers (no minimum image, no table look-up, few mispredicted loop
    exits). Periodic images are ghost particles: particles in the kk[d] cells next to a face
    get an image beyond the opposite face (and images of images at edges and corners),
    stored after the N particles in `xe` (xe[:N] are the positions) with their source in
    `ghost_src`; the list names ghosts, so the force kernel needs no minimum image.
    Needs at least 2kk[d]+1 cells along each periodic dimension d. Work is split in 8
    chunks of cells per thread. Returns (the longest row, N + number of ghosts).
    """
    n = x.shape[0]
    n_species = nbr_idx.shape[1]
    ncell = np.ones(3, dtype=np.int64)
    side = np.ones(3)
    for d in range(dim):
        ncell[d] = int(np.floor(box[d] * kk[d] / rlist))
        side[d] = box[d] / ncell[d]
    total = ncell[0] * ncell[1] * ncell[2]
    slot = np.empty(n, dtype=np.int64)  # species * total + cell
    for i in range(n):
        c = 0
        stride = 1
        for d in range(dim):
            ci = int(x[i, d] / box[d] * ncell[d])
            c += min(max(ci, 0), ncell[d] - 1) * stride
            stride *= ncell[d]
        slot[i] = types[i] * total + c
    start = np.zeros(n_species * total + 1, dtype=np.int64)
    for i in range(n):
        start[slot[i] + 1] += 1
    for c in range(n_species * total):
        start[c + 1] += start[c]
    fill = start[:-1].copy()
    order = np.empty(n, dtype=np.int32)
    for i in range(n):
        order[fill[slot[i]]] = i
        fill[slot[i]] += 1
    xs = np.empty((n, 3))
    for q in range(n):
        xs[q] = x[order[q]]
    # ghost images: per sorted particle, the dims in which it has one (bit d of `dims`),
    # the sign of that image's shift, and the index of its first ghost
    dims = np.zeros(n, dtype=np.int64)
    first = np.empty(n, dtype=np.int64)
    sign = np.zeros((n, 3))
    n_ghost = 0
    for q in range(n):
        i = order[q]
        count = 1
        for d in range(dim):
            c = min(max(int(x[i, d] / box[d] * ncell[d]), 0), ncell[d] - 1)
            if c < kk[d]:
                sign[q, d] = 1.0
            elif c >= ncell[d] - kk[d]:
                sign[q, d] = -1.0
            if sign[q, d] != 0.0:
                dims[q] |= 1 << d
                count *= 2
        first[q] = n + n_ghost - 1  # ghost b (1 <= b < count) is first + b
        n_ghost += count - 1
    if n + n_ghost > xe.shape[0]:
        return 0, n + n_ghost
    for q in range(n):
        i = order[q]
        dq = dims[q]
        count = 1 << ((dq & 1) + ((dq >> 1) & 1) + ((dq >> 2) & 1))
        for b in range(1, count):
            g = first[q] + b
            bit = 0
            for d in range(3):
                shift = 0.0
                if dq >> d & 1:
                    if b >> bit & 1:
                        shift = sign[q, d] * box[d]
                    bit += 1
                ghost_shift[g - n, d] = shift
                xe[g, d] = x[i, d] + shift
            ghost_src[g - n] = i
        ghost_first[i] = first[q] + 1  # particle i's ghosts, for the step's update
        ghost_count[i] = count - 1
    # the index each range of a given shift pattern names: the particle or its ghost
    index = np.empty((8, n), dtype=np.int64)
    for q in range(n):
        dq = dims[q]
        for pattern in range(8):
            b = 0
            bit = 0
            for d in range(3):
                if dq >> d & 1:
                    b |= (pattern >> d & 1) << bit
                    bit += 1
            index[pattern, q] = order[q] if pattern == 0 else first[q] + b
    most = 0  # a bound on the candidates of one cell: stencil cells x fullest cell
    for c in range(n_species * total):
        most = max(most, start[c + 1] - start[c])

    rows = _stencil_rows(dim, kk, ncell, side, rlist)
    room = most * (2 * kk[0] + 1) * rows.shape[0]
    nx = ncell[0]
    ny = ncell[1]
    nz = ncell[2]
    rlist2 = rlist * rlist
    n_chunks = min(total, 8 * n_threads)
    for chunk in nb.prange(n_chunks):
        # candidates of the current cell: [x, y, z, index] rows per species
        cand = np.empty((n_species, room, 4))
        m = np.zeros(n_species, dtype=np.int64)
        hx = 0.5 * side[0]
        hy = 0.5 * side[1]
        hz = 0.5 * side[2]
        for c in range(chunk * total // n_chunks, (chunk + 1) * total // n_chunks):
            empty = True
            for s in range(n_species):
                empty &= start[s * total + c + 1] == start[s * total + c]
            if empty:
                continue
            gx = c % nx
            gy = (c // nx) % ny
            gz = c // (nx * ny)
            mx = (gx + 0.5) * side[0]
            my = (gy + 0.5) * side[1]
            mz = (gz + 0.5) * side[2]
            for s in range(n_species):
                ms = 0
                cs = cand[s]  # one view per cell and species (each costs a refcount)
                for r in range(rows.shape[0]):
                    yy = gy + rows[r, 0]
                    zz = gz + rows[r, 1]
                    reach = rows[r, 2]
                    sy = 0.0
                    sz = 0.0
                    pattern = 0
                    if yy < 0:
                        yy += ny
                        sy = -box[1]
                        pattern = 2
                    elif yy >= ny:
                        yy -= ny
                        sy = box[1]
                        pattern = 2
                    if zz < 0:
                        zz += nz
                        sz = -box[2]
                        pattern |= 4
                    elif zz >= nz:
                        zz -= nz
                        sz = box[2]
                        pattern |= 4
                    base = s * total + (zz * ny + yy) * nx
                    xlo = gx - reach
                    xhi = gx + reach
                    if xlo < 0:
                        qa = start[base + xlo + nx]
                        qb = start[base + nx]
                        ms = _gather(
                            qa, qb, -box[0], sy, sz, xs, index, pattern | 1, mx, my, mz, hx, hy, hz,
                            rlist2, cs, ms,
                        )  # fmt: skip
                        xlo = 0
                    if xhi >= nx:
                        qa = start[base]
                        qb = start[base + xhi - nx + 1]
                        ms = _gather(
                            qa, qb, box[0], sy, sz, xs, index, pattern | 1, mx, my, mz, hx, hy, hz,
                            rlist2, cs, ms,
                        )  # fmt: skip
                        xhi = nx - 1
                    qa = start[base + xlo]
                    qb = start[base + xhi + 1]
                    ms = _gather(
                        qa, qb, 0.0, sy, sz, xs, index, pattern, mx, my, mz, hx, hy, hz,
                        rlist2, cs, ms,
                    )  # fmt: skip
                m[s] = ms
            for s in range(n_species):
                cs = cand[s]
                for si in range(n_species):
                    for p in range(start[si * total + c], start[si * total + c + 1]):
                        i = order[p]
                        nbr_cnt[i, s] = _select(
                            i, s, xs[p, 0], xs[p, 1], xs[p, 2], rl2[si, s],
                            cs, m[s], nbr_idx,
                        )  # fmt: skip
    return int(nbr_cnt.max()), n + n_ghost


@nb.njit(parallel=True, cache=True)
def _build_all_pairs(
    x, types, box, dim, rlist, k, rl2, nbr_idx, nbr_cnt, n_threads, xe, ghost_src, ghost_shift,
    ghost_first, ghost_count,
):  # fmt: skip
    """O(N^2) full list, rows by species, for boxes too small for 2k+1 cells per side.
    Every particle gets all 26 images as ghosts (27 slots, the middle one unused); each
    pair names the minimum image."""
    n = x.shape[0]
    if n + 27 * n > xe.shape[0]:
        return 0, 28 * n
    for j in range(n):
        ghost_first[j] = n + 27 * j
        ghost_count[j] = 27
        for c in range(27):
            g = 27 * j + c
            ghost_src[g] = j
            for d in range(3):
                shift = ((c // 3**d) % 3 - 1) * box[d]
                ghost_shift[g, d] = shift
                xe[n + g, d] = x[j, d] + shift
    cap = nbr_idx.shape[2]
    for i in nb.prange(n):
        cnt = np.zeros(nbr_idx.shape[1], dtype=np.int32)
        for j in range(n):
            dx = x[i, 0] - x[j, 0]
            dy = x[i, 1] - x[j, 1]
            dz = x[i, 2] - x[j, 2]
            a = np.rint(dx / box[0])
            b = np.rint(dy / box[1])
            c = np.rint(dz / box[2])
            dx -= box[0] * a
            dy -= box[1] * b
            dz -= box[2] * c
            tj = types[j]
            if j != i and dx * dx + dy * dy + dz * dz < rl2[types[i], tj]:
                code = int(a + 1) + 3 * int(b + 1) + 9 * int(c + 1)
                if cnt[tj] < cap:
                    nbr_idx[i, tj, cnt[tj]] = j if code == 13 else n + 27 * j + code
                cnt[tj] += 1
        nbr_cnt[i] = cnt
    return int(nbr_cnt.max()), 28 * n


@nb.njit(parallel=True, cache=True)
def update_ghosts(xe, n, n_ext, ghost_src, ghost_shift):
    """Ghost images follow their particles: xe[n + g] = xe[ghost_src[g]] + ghost_shift[g]."""
    for g in nb.prange(n_ext - n):
        src = ghost_src[g]
        for d in range(3):
            xe[n + g, d] = xe[src, d] + ghost_shift[g, d]


class NeighborList:
    """Full Verlet list, rebuilt by the caller when any particle moved more than skin/2.

    A pair (a, b) is listed if closer than `rcut[a, b] + skin` (per-pair radii as in LAMMPS,
    which keeps lists of unlike, shorter-ranged pairs short). Needs `max(rcut) + skin` below
    half the box; a skin that would break this is shrunk (the cut-off never is). Owns the
    positions: `xe[:n]` are the particles (wrapped into the box before each build), the
    rows after them `n_ext - n` ghost images that the list names for pairs across the box.
    """

    def __init__(self, rcut: np.ndarray, skin: float, box: np.ndarray, dim: int, types: np.ndarray):
        self.cutoff = float(np.max(rcut))
        self.box = np.asarray(box, dtype=np.float64)
        self.dim = int(dim)
        self.types = types
        n = types.shape[0]
        half = 0.5 * float(self.box[:dim].min())
        if self.cutoff >= half:
            raise ValueError(
                f"cut-off {self.cutoff:.4g} must be smaller than half the box ({half:.4g}); "
                f"use more particles or a lower density"
            )
        self.skin = float(min(skin, 0.999 * (half - self.cutoff)))
        self.rlist = self.cutoff + self.skin
        self.rlist2 = np.ascontiguousarray((np.asarray(rcut, dtype=np.float64) + self.skin) ** 2)
        split = CELL_SPLIT[:dim]
        cells_per_side = np.floor(self.box[:dim] * split / self.rlist)
        self.cell_factor = CELL_SPLIT.copy()
        self.use_cells = bool(np.all(cells_per_side >= 2 * split + 1))
        density = n / float(np.prod(self.box[:dim]))
        ball = np.pi * self.rlist**2 if dim == 2 else 4.0 / 3.0 * np.pi * self.rlist**3
        n_species = rcut.shape[0]
        most = np.bincount(types, minlength=n_species).max() / n  # most common species
        cap = int(min(n, 1.5 * most * density * ball + 16))
        self.nbr_idx = np.zeros((n, n_species, max(cap, 1)), dtype=np.int32)
        self.nbr_cnt = np.zeros((n, n_species), dtype=np.int32)
        if self.use_cells:  # particles within kk[d] cells of a face, and their images
            frac = np.ones(3)
            frac[:dim] = 1.0 + 2.0 * split / cells_per_side
            ghosts = int(1.3 * n * (np.prod(frac) - 1.0)) + 64
        else:
            ghosts = 27 * n
        self.xe = np.zeros((n + ghosts, 3))
        self.ghost_src = np.zeros(ghosts, dtype=np.int32)
        self.ghost_shift = np.zeros((ghosts, 3))
        self.ghost_first = np.zeros(n, dtype=np.int64)  # particle i's ghosts: ghost_first[i]
        self.ghost_count = np.zeros(n, dtype=np.int64)  # + [0, ghost_count[i]) in xe
        self.n_ext = n
        self.n_builds = 0

    @property
    def n(self) -> int:
        return self.nbr_cnt.shape[0]

    def builder_args(self) -> tuple:
        """(builder, its arguments after the positions and before the list arrays)."""
        builder = _build_cells if self.use_cells else _build_all_pairs
        return builder, (self.types, self.box, self.dim, self.rlist, self.cell_factor, self.rlist2)

    def build(self) -> None:
        """Rebuild from the positions xe[:n] (wrapped into the box)."""
        builder, args = self.builder_args()
        threads = nb.get_num_threads()
        while True:
            x = self.xe[: self.n]
            needed, n_ext = builder(x, *args, *self.tables(threads))
            if n_ext > self.xe.shape[0]:
                self.grow_ghosts(n_ext)
            elif needed > self.nbr_idx.shape[2]:  # rare dense fluctuation: grow and redo
                self.grow(needed)
            else:
                break
        self.n_ext = n_ext
        self.n_builds += 1

    def tables(self, threads: int) -> tuple:
        """The builders' arguments after the list parameters."""
        return (
            self.nbr_idx, self.nbr_cnt, threads, self.xe, self.ghost_src, self.ghost_shift,
            self.ghost_first, self.ghost_count,
        )  # fmt: skip

    def update_ghosts(self) -> None:
        """Move the ghost images with their particles (after the positions changed)."""
        update_ghosts(self.xe, self.n, self.n_ext, self.ghost_src, self.ghost_shift)

    def grow(self, needed: int) -> None:
        """Room for rows of `needed` neighbours (and some margin)."""
        shape = (*self.nbr_cnt.shape, int(needed * 1.2) + 8)
        self.nbr_idx = np.zeros(shape, dtype=np.int32)

    def grow_ghosts(self, n_ext: int) -> None:
        """Room for `n_ext` positions (particles and ghosts), the particles kept."""
        xe = np.zeros((int(n_ext * 1.2) + 64, 3))
        xe[: self.n] = self.xe[: self.n]
        self.xe = xe
        self.ghost_src = np.zeros(xe.shape[0] - self.n, dtype=np.int32)
        self.ghost_shift = np.zeros((xe.shape[0] - self.n, 3))

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(i, j) arrays of the listed pairs, each pair once (i < j; a ghost is named by its
        particle), for analysis and tests."""
        n, n_species = self.nbr_cnt.shape
        i = np.repeat(np.arange(n), self.nbr_cnt.sum(axis=1))
        j = np.concatenate(
            [self.nbr_idx[a, s, : self.nbr_cnt[a, s]] for a in range(n) for s in range(n_species)]
        ).astype(np.int64)
        ghost = j >= n
        j[ghost] = self.ghost_src[j[ghost] - n]
        keep = i < j
        return i[keep], j[keep]
