"""Numba kernels of the molecular-sorting lattice gas.

Exact continuous-time kinetic Monte Carlo (BKL / n-fold way). Every occupied site
with ``n`` occupied neighbours is in rate class ``n``; classes 0..3 keep member
lists. For the ``g**n`` rule every molecule of class ``n`` hops to each of its
``4 - n`` empty neighbours at rate ``k_D / 4 * g**n``, so picking a class by its
total weight, a member uniformly and one of its empty neighbours uniformly is
rejection-free. Insertion (rate ``k_I`` per empty site) and the Metropolis rule
``k_D / 4 * min(1, g**(n - n'))`` use thinning: proposals at a bounding rate, a
rejected one is a null event whose time still counts, which is exact as well.

Domains (4-connected clusters) are tracked incrementally: each cluster has a
slot with its size and an anchor site (lone molecules have none when domains
start at two molecules); merges relabel the smaller cluster by BFS, and a
departure that may split a cluster is first checked on the 8-site ring around
the vacated site and only then by lockstep BFS from the disconnected neighbours,
whose cost is that of the smaller fragments. A molecule with at most one
neighbour cannot split its domain: it leaves it and joins the clusters at its
new site like an inserted molecule, so passing between two domains merges
nothing.

All state lives in a ``SortState`` named tuple of arrays (see ``new_state``) so
that it can be check-pointed and resumed bit for bit (the RNG, xoshiro256**, is
part of the state).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

EMPTY = 5
NCLS = 6
# Label of a molecule with no occupied neighbour when domains start at two molecules
# (domain_min_size >= 2): its one-site cluster has no slot (no record, never
# extracted), so the dilute gas's hops and its molecules joining domains touch no
# cluster data (most events of a typical lattice).
MONO = -2
NLIST = 4  # only classes 0..3 (molecules that can hop) keep member lists

# domain fates and birth kinds
ALIVE, EXTRACTED, DISSOLVED, MERGED = 0, 1, 2, 3
BORN_GROWTH, BORN_SPLIT, BORN_INITIAL = 0, 1, 2

# float parameters (par)
P_KI, P_KD, P_G, P_KE = 0, 1, 2, 3
NPAR = 4
# int parameters (ipar)
I_RULE, I_CRIT, I_M, I_SQ, I_MINDOM, I_NX, I_NY = 0, 1, 2, 3, 4, 5, 6
NIPAR = 7
RULE_GN, RULE_METROPOLIS = 0, 1
CRIT_SIZE, CRIT_SQUARE = 0, 1

# float scalars (sf)
F_T = 0
NSF = 1
# int scalars (si)
(
    S_NFREE,
    S_NELIG,
    S_NEXTREC,
    S_STAMP,
    S_NDOM,
    S_NHOP,
    S_NINS,
    S_NEXT,
    S_NNULL,
    S_NEXTBUF,
    S_NDEATHBUF,
    S_NWAIT,
) = range(12)
NSI = 12

# columns of the death buffer (int64): rec, birth_size, max_size, fate, other, birth_kind
D_REC, D_BN, D_MAX, D_FATE, D_OTHER, D_KIND, D_PARENT = range(7)
ND = 7
# columns of the death-time buffer (float64): birth_t, death_t
# extraction buffer: float (t, residence_sum), int (size, rec)

RC_TIME, RC_BUFFER, RC_DEAD, RC_EVENTS = 0, 1, 2, 3
MODE_RUN, MODE_FILL = 0, 1

# Per-cluster data, one row of 8 int64 (one cache line) per cluster slot: size,
# anchor site, number of full m x m squares, position in the eligible list,
# record id, size at record start, max size, birth kind: a cluster touched by an
# event costs one cache line instead of one per field.
C_SIZE, C_ANCHOR, C_FULL, C_ELIG, C_REC, C_BN, C_MAX, C_KIND = range(8)
NCD = 8


class SortState(NamedTuple):
    """All arrays of one lattice (sites are indexed y * nx + x); built by ``new_state``."""

    site: np.ndarray
    pos: np.ndarray
    members: np.ndarray
    cnt: np.ndarray
    t_ins: np.ndarray
    lab: np.ndarray
    cd: np.ndarray
    cpar: np.ndarray
    cbt: np.ndarray
    free_slots: np.ndarray
    elig: np.ndarray
    sq: np.ndarray
    vis: np.ndarray
    visg: np.ndarray
    queues: np.ndarray
    rng: np.ndarray
    sf: np.ndarray
    si: np.ndarray
    ext_f: np.ndarray
    ext_i: np.ndarray
    death_i: np.ndarray
    death_f: np.ndarray
    wait: np.ndarray

    @property
    def occ(self) -> np.ndarray:
        """1 on occupied sites, else 0 (a copy: bit 0 of ``site``)."""
        return self.site & 1

    @property
    def nocc(self) -> np.ndarray:
        """Occupied neighbours of each site (a copy: bits 1-3 of ``site``)."""
        return self.site >> 1

    @property
    def cls(self) -> np.ndarray:
        """Rate class of each site: its occupied neighbours, EMPTY on empty sites."""
        return np.where(self.occ == 1, self.nocc, EMPTY).astype(np.uint8)


SCRATCH_FIELDS = ("vis", "visg", "queues")


def clone(st: SortState) -> SortState:
    """Deep copy that keeps the interleaved per-site layout (and so the compiled kernel)."""
    n = st.site.shape[0]
    out = new_state(n, 1, 0, buffer=st.ext_f.shape[0], wait_buffer=st.wait.shape[0])
    for a, b in zip(out, st, strict=True):
        a[...] = b
    return out


def seed_rng(seed: int) -> np.ndarray:
    """xoshiro256** state from numpy's SeedSequence (never all zero)."""
    st = np.random.SeedSequence(seed).generate_state(4, np.uint64)
    if not st.any():  # pragma: no cover - probability 2**-256
        st[0] = 1
    return st


def new_state(
    nx: int, ny: int, seed: int, buffer: int = 1 << 16, wait_buffer: int = 0
) -> SortState:
    """Empty lattice with all bookkeeping arrays allocated.

    Sites: ``site`` (bit 0: occupied, bits 1-3: occupied neighbours; the rate class
    is derived from it), ``pos`` (index in its class list), ``lab`` (cluster slot or
    -1), ``t_ins`` (insertion time of the molecule there; not moved with hops when no
    extraction can happen, as nothing reads it then). Classes: ``members``/``cnt``.
    Clusters (by slot): ``cd`` (columns C_*), ``cpar`` (parent record of a split),
    ``cbt`` (record start time), ``free_slots``, ``elig`` (extractable, rate mode),
    ``sq`` (occupied sites per m x m square, by origin). Scratch: ``vis``, ``visg``,
    ``queues``. Scalars: ``sf`` (time), ``si`` (S_* counters). Buffers drained by
    Python: extractions (``ext_f``, ``ext_i``), finished domain records (``death_*``),
    and optional ``wait`` (dt and total rate of each event, for tests).
    """
    n = nx * ny
    # Every event scans the occupation of some 20 sites around it but reads labels and
    # list positions only of the few it changes: one byte per site for the scan (1 MB
    # at L = 1024, like the naive loop's lattice) and an 8-byte (label, position)
    # record per site for the rest. Against one 16-byte record holding all fields:
    # +4% events/s at L = 256, the same at L = 1024, and 9 instead of 16 MB there.
    site = np.zeros(n, np.uint8)
    cold = np.zeros((n, 2), np.int32)
    cold[:, 0] = -1
    members = np.zeros((NLIST, n), dtype=np.int32)
    cnt = np.zeros(NLIST, dtype=np.int64)
    si = np.zeros(NSI, dtype=np.int64)
    si[S_NFREE] = n
    cd = np.zeros((n, NCD), np.int64)
    cd[:, C_ANCHOR] = -1
    cd[:, C_ELIG] = -1
    cd[:, C_REC] = -1
    return SortState(
        site=site,
        pos=cold[:, 1],
        members=members,
        cnt=cnt,
        t_ins=np.zeros(n, np.float64),
        lab=cold[:, 0],
        cd=cd,
        cpar=np.full(n, -1, np.int64),
        cbt=np.zeros(n, np.float64),
        free_slots=np.arange(n - 1, -1, -1, dtype=np.int32),
        elig=np.zeros(n, np.int32),
        sq=np.zeros(n, np.int16),
        vis=np.zeros(n, np.int32),
        visg=np.zeros(n, np.uint8),
        queues=np.zeros((4, n), np.int32),
        rng=seed_rng(seed),
        sf=np.zeros(NSF, np.float64),
        si=si,
        ext_f=np.zeros((buffer, 2), np.float64),
        ext_i=np.zeros((buffer, 2), np.int64),
        death_i=np.zeros((buffer, ND), np.int64),
        death_f=np.zeros((buffer, 2), np.float64),
        wait=np.zeros((max(wait_buffer, 1), 2), np.float64),
    )


# ----------------------------------------------------------------------------- RNG


@njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(cache=True)
def rng_next(s):
    """xoshiro256** (Blackman & Vigna): 64 random bits."""
    result = _rotl(s[1] * np.uint64(5), 7) * np.uint64(9)
    t = s[1] << np.uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return result


@njit(cache=True, inline="always")
def rng_uniform(s):
    """Uniform double in [0, 1) from the top 53 bits."""
    return np.float64(rng_next(s) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, inline="always")
def _randint(s, n):
    k = np.int64(rng_uniform(s) * n)
    return k if k < n else n - 1


@intrinsic
def _prefetch(typingctx, arr, idx):
    """Hint that arr[idx] (1D) will be read soon; no effect on results."""
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        k = context.cast(builder, args[1], signature.args[1], types.intp)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [k], wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        # read, high temporal locality, data cache
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


# ----------------------------------------------------------------------------- kernel
#
# Helpers are closures inside one jitted function: numba inlines them and the
# arrays stay plain locals. Passing the state as a named tuple and reading its
# fields inside helpers cost ~15 ns per field access (reference counting),
# which made a hop ~3.5 us instead of ~0.4 us (measured at L = 256).


@njit(cache=True)
def _kernel(
    mode,
    site,
    pos,
    members,
    cnt,
    t_ins,
    lab,
    cd,
    cpar,
    cbt,
    free_slots,
    elig,
    sq,
    vis,
    visg,
    queues,
    rng,
    sf,
    si,
    ext_f,
    ext_i,
    death_i,
    death_f,
    wait,
    par,
    ipar,
    t_end,
    max_events,
    sites,
):
    k_i = par[P_KI]
    k_d4 = par[P_KD] / 4.0
    g = par[P_G]
    k_e = par[P_KE]
    metro = ipar[I_RULE] == RULE_METROPOLIS
    sqmode = ipar[I_CRIT] == CRIT_SQUARE
    msq = ipar[I_SQ]
    full = msq * msq
    nx = ipar[I_NX]
    ny = ipar[I_NY]
    big_m = ipar[I_M]
    mind = ipar[I_MINDOM]
    mono = mind >= 2
    n_sites = site.shape[0]
    # insertion times are only read by extraction; without any they are not moved
    track_t = sqmode or big_m <= n_sites
    w = np.empty(NCLS + 1)
    gp = np.empty(5)
    for n in range(5):
        gp[n] = g**n
    ring = np.empty(8, np.int32)
    reps = np.empty(4, np.int32)
    labs = np.empty(4, np.int32)
    monos = np.empty(4, np.int32)
    head = np.zeros(4, np.int64)
    tail = np.zeros(4, np.int64)
    gpar = np.zeros(4, np.int64)
    touched = np.empty(16, np.int32)
    to_ext = np.empty(16, np.int64)
    rp = np.empty(4, np.uint64)
    cdf = cd.reshape(cd.size)
    # Beyond the cache every event starts with misses on a random site; the site of
    # the next event is known exactly once this event's class lists are final, so
    # its neighbourhood is prefetched while this event's cluster work runs (closed
    # g = 0.2 at L = 1024: +50-70% hops/s). Small lattices fit in cache: no prefetch.
    pf = n_sites >= 1 << 18
    xmask = nx - 1 if (nx & (nx - 1)) == 0 else -1

    # Neighbours by arithmetic (order +x, -x, +y, -y; site = y * nx + x): a
    # neighbour table is 16 MB at L = 1024 and pushed the working set out of L3
    # (hops/s at L = 256 went from 2.0M to 5.6M).
    def nbr(s, d):
        if d >= 2:
            if d == 2:
                return s + nx if s + nx < n_sites else s + nx - n_sites
            return s - nx if s >= nx else s - nx + n_sites
        x = s & xmask if xmask >= 0 else s % nx
        if d == 0:
            return s + 1 if x != nx - 1 else s + 1 - nx
        return s - 1 if x != 0 else s - 1 + nx

    # ------------------------------------------------------------------ rates, prefetch
    def rates():
        for n in range(4):
            w[n] = cnt[n] * (4 - n) * k_d4 * (1.0 if metro else gp[n])
        w[4] = 0.0
        w[EMPTY] = n_sites * k_i
        w[NCLS] = si[S_NELIG] * k_e if k_e > 0.0 else 0.0
        total = 0.0
        for n in range(NCLS + 1):
            total += w[n]
        return total

    def prefetch_site(s):
        # occupation of rows y - 2 .. y + 2 around s (a hop, the split ring and the
        # first BFS steps); labels and list positions of rows y - 1 .. y + 1
        for dy in range(-2, 3):
            r = s + dy * nx
            r = r + n_sites if r < 0 else (r - n_sites if r >= n_sites else r)
            _prefetch(site, r - 1 if r > 0 else r)
            _prefetch(site, r + 1 if r + 1 < n_sites else r)
            if -2 < dy < 2:
                _prefetch(lab, r)
        if track_t:
            _prefetch(t_ins, s)

    def pick_class(r):
        # the rate class whose cumulative weight first exceeds r (r uniform in [0, total))
        c = 0
        acc = w[0]
        while r >= acc and c < NCLS:
            c += 1
            acc += w[c]
        return c

    def draw_next(total):
        # site of the next event from a copy of the RNG (the event loop's own draws) and
        # the current lists and rates; -1 when that event is not at a site
        for q in range(4):
            rp[q] = rng[q]
        rng_uniform(rp)
        c = pick_class(rng_uniform(rp) * total)
        if c < 4:
            return members[c, _randint(rp, cnt[c])] if cnt[c] > 0 else -1
        if c == EMPTY:
            return _randint(rp, n_sites)
        return -1

    def guess_next(total):
        # The event after this one, guessed before this one changes the class lists:
        # right whenever this event leaves the drawn class's count and list slot alone,
        # as a lone molecule's step does. Its neighbourhood then loads while this event
        # waits for its own; `peek` repeats the exact draw once the lists are final.
        k = draw_next(total)
        if k >= 0:
            prefetch_site(k)

    def peek():
        # site of the next event, prefetched (same draws as the event loop)
        if not pf:
            return -1
        k = draw_next(rates())
        if k >= 0:
            prefetch_site(k)
        for c in range(NLIST):
            # a removal from a class list moves its last member and writes its `pos`
            if cnt[c] > 0:
                _prefetch(pos, members[c, cnt[c] - 1])
        return k

    # ------------------------------------------------------------------ classes
    # site[s]: bit 0 occupied, bits 1-3 occupied neighbours; an occupied site's rate
    # class is its neighbour count, and classes below NLIST keep member lists.
    def remove_at(c, p):
        last = members[c, cnt[c] - 1]
        members[c, p] = last
        pos[last] = p
        cnt[c] -= 1

    def list_remove(s, c):
        remove_at(c, pos[s])

    def list_add(s, c):
        q = cnt[c]
        members[c, q] = s
        pos[s] = q
        cnt[c] += 1

    def reclass(s, old, new):
        if old < NLIST:
            list_remove(s, old)
        if new < NLIST:
            list_add(s, new)

    def gain_neighbour(k):
        site[k] += 2
        if site[k] & 1:
            n = site[k] >> 1
            reclass(k, n - 1, n)

    def lose_neighbour(k):
        site[k] -= 2
        if site[k] & 1:
            n = site[k] >> 1
            reclass(k, n + 1, n)

    def occupy(s):
        site[s] += 1
        c = site[s] >> 1
        if c < NLIST:
            list_add(s, c)
        for d in range(4):
            gain_neighbour(nbr(s, d))

    def vacate(s):
        c = site[s] >> 1
        if c < NLIST:
            list_remove(s, c)
        site[s] -= 1
        for d in range(4):
            lose_neighbour(nbr(s, d))

    def move(i, j, pi):
        # A hop i -> j. Each removal from a class list writes the `pos` of a random
        # site (the member moved into the gap), a cache miss on large lattices: i
        # leaves its list once (not first changing class as a neighbour of j), and
        # when j ends in i's class (a lone molecule's step) j takes i's list slot.
        c = site[i] >> 1
        site[i] -= 1  # i stays in its list until j's class is known
        for d in range(4):
            lose_neighbour(nbr(i, d))
        site[j] += 1
        for d in range(4):
            gain_neighbour(nbr(j, d))
        cj = site[j] >> 1
        # i's list slot is known from the draw unless a neighbour's change of class
        # moved it (reading pos[i] is a cache miss on large lattices)
        p = pi if pi < cnt[c] and members[c, pi] == i else pos[i]
        if cj == c:
            members[c, p] = j
            pos[j] = p
        else:
            remove_at(c, p)
            if cj < NLIST:
                list_add(j, cj)

    # ------------------------------------------------------------------ squares
    def square_update(s, delta):
        # occupied sites of every m x m square containing s, indexed by the square's origin
        x0 = s % nx
        y0 = s // nx
        for dy in range(msq):
            y = (y0 - dy) % ny
            for dx in range(msq):
                o = y * nx + (x0 - dx) % nx
                if delta > 0:
                    sq[o] += 1
                    if sq[o] == full:
                        cd[lab[s], C_FULL] += 1
                else:
                    if sq[o] == full:
                        cd[lab[s], C_FULL] -= 1
                    sq[o] -= 1

    # ------------------------------------------------------------------ records
    def start_record(c, kind, parent):
        cd[c, C_REC] = si[S_NEXTREC]
        si[S_NEXTREC] += 1
        cbt[c] = sf[F_T]
        cd[c, C_BN] = cd[c, C_SIZE]
        cd[c, C_MAX] = cd[c, C_SIZE]
        cd[c, C_KIND] = kind
        cpar[c] = parent
        si[S_NDOM] += 1

    def end_record(c, fate, other):
        if cd[c, C_REC] < 0:
            return
        k = si[S_NDEATHBUF]
        death_i[k, D_REC] = cd[c, C_REC]
        death_i[k, D_BN] = cd[c, C_BN]
        death_i[k, D_MAX] = cd[c, C_MAX]
        death_i[k, D_FATE] = fate
        death_i[k, D_OTHER] = other
        death_i[k, D_KIND] = cd[c, C_KIND]
        death_i[k, D_PARENT] = cpar[c]
        death_f[k, 0] = cbt[c]
        death_f[k, 1] = sf[F_T]
        si[S_NDEATHBUF] = k + 1
        cd[c, C_REC] = -1
        si[S_NDOM] -= 1

    # ------------------------------------------------------------------ cluster slots
    def new_slot():
        si[S_NFREE] -= 1
        c = free_slots[si[S_NFREE]]
        cd[c, C_SIZE] = 0
        cd[c, C_ANCHOR] = -1
        cd[c, C_FULL] = 0
        cd[c, C_ELIG] = -1
        cd[c, C_REC] = -1
        cd[c, C_KIND] = BORN_GROWTH
        cpar[c] = -1
        return c

    def elig_remove(c):
        p = cd[c, C_ELIG]
        if p < 0:
            return
        n = si[S_NELIG] - 1
        last = elig[n]
        elig[p] = last
        cd[last, C_ELIG] = p
        si[S_NELIG] = n
        cd[c, C_ELIG] = -1

    def elig_add(c):
        if cd[c, C_ELIG] >= 0:
            return
        n = si[S_NELIG]
        elig[n] = c
        cd[c, C_ELIG] = n
        si[S_NELIG] = n + 1

    def free_slot(c):
        elig_remove(c)
        cd[c, C_SIZE] = 0
        cd[c, C_ANCHOR] = -1
        free_slots[si[S_NFREE]] = c
        si[S_NFREE] += 1

    # Clusters keep no member lists, only an anchor site: relabelling by BFS
    # from the anchor touches memory near the domain, while linked lists cost
    # a cache miss per member (with this and arithmetic neighbours, closed g = 0.2 at
    # L = 1024 went from 0.43M to 1.2M hops/s, measured on one core).
    def link(c, s):
        if cd[c, C_ANCHOR] < 0:
            cd[c, C_ANCHOR] = s
        lab[s] = c
        cd[c, C_SIZE] += 1

    def unlink(c, s):
        if cd[c, C_ANCHOR] == s:
            cd[c, C_ANCHOR] = -1
        lab[s] = -1
        cd[c, C_SIZE] -= 1

    def relabel(start, old, new, dep):
        # BFS over the sites labelled `old` that are connected to `start`; labels are
        # read only on occupied sites and on `dep`, a hop's departure site, which is
        # vacated but keeps its label until its cluster is updated
        lab[start] = new
        qh = 0
        qt = 1
        queues[0, 0] = start
        while qh < qt:
            x = queues[0, qh]
            qh += 1
            for d in range(4):
                y = nbr(x, d)
                if (site[y] & 1 or y == dep) and lab[y] == old:
                    lab[y] = new
                    queues[0, qt] = y
                    qt += 1
        return qt

    def merge_into(a, b, dep):
        # relabel cluster b into a
        relabel(cd[b, C_ANCHOR], b, a, dep)
        cd[a, C_SIZE] += cd[b, C_SIZE]
        cd[a, C_FULL] += cd[b, C_FULL]
        end_record(b, MERGED, cd[a, C_REC])
        free_slot(b)

    def cluster_add(s, dep):
        # attach occupied site s to its neighbours' clusters (largest absorbs the rest,
        # lone molecules join it); a hop's departure site `dep` is vacated but still
        # counts here by its label. Returns the cluster, or -1 for a new lone molecule.
        nl = 0
        nm = 0
        for d in range(4):
            k = nbr(s, d)
            c = lab[k] if site[k] & 1 or k == dep else -1
            if c == MONO:
                monos[nm] = k
                nm += 1
            elif c >= 0:
                dup = False
                for q in range(nl):
                    if labs[q] == c:
                        dup = True
                if not dup:
                    labs[nl] = c
                    nl += 1
        if nl == 0:
            if mono and nm == 0:
                lab[s] = MONO
                return -1
            a = new_slot()
        else:
            a = labs[0]
            for q in range(1, nl):
                c = labs[q]
                if cd[c, C_SIZE] > cd[a, C_SIZE] or (
                    cd[c, C_SIZE] == cd[a, C_SIZE] and cd[c, C_REC] >= 0 and cd[a, C_REC] < 0
                ):
                    a = c
            for q in range(nl):
                if labs[q] != a:
                    merge_into(a, labs[q], dep)
        link(a, s)
        for q in range(nm):
            link(a, monos[q])
        return a

    def find(gg):
        while gpar[gg] != gg:
            gg = gpar[gg]
        return gg

    def cluster_remove(s, nt):
        # detach vacated site s (already marked empty) and split its cluster if needed;
        # the remainder and new fragments are appended to `touched`
        c = lab[s]
        if c == MONO:
            lab[s] = -1
            return nt
        unlink(c, s)
        if cd[c, C_SIZE] == 0:
            end_record(c, DISSOLVED, -1)
            free_slot(c)
            return nt
        touched[nt] = c
        nt += 1
        if cd[c, C_ANCHOR] < 0:
            for d in range(4):
                if site[nbr(s, d)] & 1:
                    cd[c, C_ANCHOR] = nbr(s, d)
                    break
        if site[s] >> 1 <= 1:  # a single occupied neighbour cannot be cut off
            return nt
        # ring E, NE, N, NW, W, SW, S, SE: consecutive ring sites are 4-adjacent
        e = nbr(s, 0)
        n_ = nbr(s, 2)
        w = nbr(s, 1)
        so = nbr(s, 3)
        ring[0] = e
        ring[1] = nbr(e, 2)
        ring[2] = n_
        ring[3] = nbr(n_, 1)
        ring[4] = w
        ring[5] = nbr(w, 3)
        ring[6] = so
        ring[7] = nbr(so, 0)
        nocc4 = 0
        for q in range(0, 8, 2):
            if site[ring[q]] & 1:
                nocc4 += 1
        if nocc4 <= 1:
            return nt
        start = -1
        for q in range(8):
            if not site[ring[q]] & 1:
                start = q
                break
        if start < 0:
            return nt
        ng = 0
        in_run = False
        run_has = False
        for step in range(1, 9):
            q = (start + step) % 8
            if site[ring[q]] & 1:
                if not in_run:
                    in_run = True
                    run_has = False
                if q % 2 == 0 and not run_has:
                    run_has = True
                    reps[ng] = ring[q]
                    ng += 1
            else:
                in_run = False
        if ng <= 1:
            return nt
        # lockstep BFS from one site of each local group; stops as soon as all
        # groups but one are exhausted (complete fragments) or all have met
        si[S_STAMP] += 1
        stamp = si[S_STAMP]
        for gg in range(ng):
            r = reps[gg]
            vis[r] = stamp
            visg[r] = gg
            queues[gg, 0] = r
            head[gg] = 0
            tail[gg] = 1
            gpar[gg] = gg
        while True:
            nroots = 0
            live = 0
            for gg in range(ng):
                if gpar[gg] == gg:
                    nroots += 1
                    for h in range(ng):
                        if find(h) == gg and head[h] < tail[h]:
                            live += 1
                            break
            if nroots <= 1 or live <= 1:
                break
            for gg in range(ng):
                if head[gg] < tail[gg]:
                    x = queues[gg, head[gg]]
                    head[gg] += 1
                    for d in range(4):
                        y = nbr(x, d)
                        if site[y] & 1:
                            if vis[y] == stamp:
                                ra = find(visg[y])
                                rb = find(gg)
                                if ra != rb:
                                    gpar[max(ra, rb)] = min(ra, rb)
                            else:
                                vis[y] = stamp
                                visg[y] = gg
                                queues[gg, tail[gg]] = y
                                tail[gg] += 1
        if nroots <= 1:
            return nt
        keeper = -1
        best = -1
        for gg in range(ng):
            if gpar[gg] != gg:
                continue
            busy = False
            size = 0
            for h in range(ng):
                if find(h) == gg:
                    size += tail[h]
                    if head[h] < tail[h]:
                        busy = True
            if busy:
                keeper = gg
                best = 1 << 62
            elif size > best:
                best = size
                keeper = gg
        for gg in range(ng):
            if gpar[gg] != gg or gg == keeper:
                continue
            c2 = new_slot()
            nfull = 0
            for h in range(ng):
                if find(h) == gg:
                    for k in range(tail[h]):
                        x = queues[h, k]
                        lab[x] = c2
                        if sqmode and sq[x] == full:
                            nfull += 1
                    cd[c2, C_SIZE] += tail[h]
            cd[c, C_SIZE] -= cd[c2, C_SIZE]
            cd[c2, C_ANCHOR] = reps[gg]
            cd[c2, C_FULL] = nfull
            cd[c, C_FULL] -= nfull
            cd[c2, C_KIND] = BORN_SPLIT
            cpar[c2] = cd[c, C_REC]
            touched[nt] = c2
            nt += 1
        cd[c, C_ANCHOR] = reps[keeper]
        return nt

    # ------------------------------------------------------------------ extraction
    def extract(c):
        t = sf[F_T]
        k = si[S_NEXTBUF]
        size = cd[c, C_SIZE]
        res = 0.0
        nsite = relabel(cd[c, C_ANCHOR], c, -1, -1)
        for q in range(nsite):
            s = queues[0, q]
            if sqmode:
                lab[s] = c  # square_update reads the label of a full square's sites
                square_update(s, -1)
                lab[s] = -1
            vacate(s)
            res += t - t_ins[s]
        ext_f[k, 0] = t
        ext_f[k, 1] = res
        ext_i[k, 0] = size
        ext_i[k, 1] = cd[c, C_REC]
        si[S_NEXTBUF] = k + 1
        si[S_NEXT] += 1
        end_record(c, EXTRACTED, -1)
        free_slot(c)

    def eligible(c):
        if sqmode:
            return cd[c, C_FULL] > 0
        return cd[c, C_SIZE] >= big_m

    def post_update(c, n_ext):
        # bookkeeping after an event for a cluster whose size may have changed;
        # clusters to extract instantly are queued (one extraction site in the code)
        size = cd[c, C_SIZE]
        if cd[c, C_REC] < 0:
            if size >= mind:
                start_record(c, cd[c, C_KIND], cpar[c])
            else:
                cd[c, C_KIND] = BORN_GROWTH
                cpar[c] = -1
        elif size < mind:
            end_record(c, DISSOLVED, -1)
            cd[c, C_KIND] = BORN_GROWTH
            cpar[c] = -1
        elif size > cd[c, C_MAX]:
            cd[c, C_MAX] = size
        if mono and size == 1:
            lab[cd[c, C_ANCHOR]] = MONO
            free_slot(c)
            return n_ext
        if eligible(c):
            if k_e <= 0.0:
                to_ext[n_ext] = c
                return n_ext + 1
            elig_add(c)
        else:
            elig_remove(c)
        return n_ext

    # ------------------------------------------------------------------ event loop
    # MODE_FILL inserts the given sites at the current time (initial conditions)
    # through the same code path as an insertion event.
    buf = ext_f.shape[0] - 16
    nwait = wait.shape[0] if wait.shape[0] > 1 else 0
    fill = mode == MODE_FILL
    n_iter = len(sites) if fill else max_events
    for ev in range(n_iter):
        n_ext = 0
        s = -1
        nxt = -1
        if fill:
            s = sites[ev]
            if site[s] & 1:
                continue
            cl = EMPTY
        else:
            if si[S_NEXTBUF] >= buf or si[S_NDEATHBUF] >= buf:
                return RC_BUFFER
            total = rates()
            if total <= 0.0:
                sf[F_T] = t_end
                return RC_DEAD
            dt = -np.log(1.0 - rng_uniform(rng)) / total
            if sf[F_T] + dt >= t_end:
                # memoryless clock: stopping here and restarting later is exact
                sf[F_T] = t_end
                return RC_TIME
            sf[F_T] += dt
            if nwait > 0 and si[S_NWAIT] < nwait:
                wait[si[S_NWAIT], 0] = dt
                wait[si[S_NWAIT], 1] = total
                si[S_NWAIT] += 1
            cl = pick_class(rng_uniform(rng) * total)
            if cl == EMPTY:
                # insertion by thinning: every site at rate k_I, occupied ones are null
                # events; this spares the empty-site list two updates per hop
                s = _randint(rng, n_sites)
                if site[s] & 1:
                    si[S_NNULL] += 1
                    continue
        if cl < 4:
            if cnt[cl] == 0:
                continue
            pi = _randint(rng, cnt[cl])
            i = members[cl, pi]
            kk = _randint(rng, 4 - cl)
            if pf:
                guess_next(total)
            j = -1
            for d in range(4):
                y = nbr(i, d)
                if not site[y] & 1:
                    if kk == 0:
                        j = y
                        break
                    kk -= 1
            if metro:
                dn = cl - ((site[j] >> 1) - 1)
                if dn > 0 and rng_uniform(rng) >= gp[dn]:
                    si[S_NNULL] += 1
                    continue
            # clusters: add j first, then remove i: a molecule sliding along a domain
            # never splits it spuriously (cluster_add sees i by its label)
            if track_t:
                t_ins[j] = t_ins[i]
            move(i, j, pi)
            nxt = peek()
            si[S_NHOP] += 1
            if cl == 0 and site[j] >> 1 == 0 and not sqmode:
                # a lone molecule stepping to a site with no other neighbour (most hops of
                # the dilute gas): its label (or one-site cluster) moves along, nothing
                # else changes (the general path gives the same state at several times
                # the cost)
                c = MONO if mono else lab[i]
                lab[j] = c
                lab[i] = -1
                if c >= 0:
                    cd[c, C_ANCHOR] = j
            elif cl <= 1 and mind >= 2:
                # i had at most one occupied neighbour, so its leaving cannot split its
                # cluster: it leaves that cluster (a lone molecule only drops its MONO
                # label) and j attaches to its neighbours' clusters as an inserted
                # molecule would. The general path below would
                # first merge i's cluster with the clusters next to j through i, then
                # split them again: a molecule passing from one domain to another would
                # end the smaller domain's record (merged) and start a new one (split).
                # Here the domains keep their records and only real bridges merge.
                c = MONO if cl == 0 else lab[i]  # no label to read for a lone molecule
                if sqmode:
                    square_update(i, -1)
                if c == MONO:
                    lab[i] = -1
                else:
                    unlink(c, i)  # at least its neighbour stays
                    if cd[c, C_ANCHOR] < 0:
                        for d in range(4):
                            k = nbr(i, d)
                            if site[k] & 1 and k != j:
                                cd[c, C_ANCHOR] = k
                                break
                a = cluster_add(j, -1)
                if sqmode:
                    square_update(j, 1)
                if a >= 0:
                    n_ext = post_update(a, 0)
                if c >= 0 and c != a and cd[c, C_SIZE] > 0:
                    n_ext = post_update(c, n_ext)
            else:
                cluster_add(j, i)
                if sqmode:
                    square_update(j, 1)
                    square_update(i, -1)
                nt = cluster_remove(i, 0)
                touched[nt] = lab[j]
                nt += 1
                for q in range(nt):
                    c = touched[q]
                    dup = c < 0
                    for p in range(q):
                        if touched[p] == c:
                            dup = True
                    if not dup and cd[c, C_SIZE] > 0:
                        n_ext = post_update(c, n_ext)
        elif cl == EMPTY:
            t_ins[s] = sf[F_T]
            occupy(s)
            if not fill:
                nxt = peek()
            a = cluster_add(s, -1)
            if sqmode:
                square_update(s, 1)
            if fill:
                if a >= 0 and cd[a, C_REC] < 0:
                    cd[a, C_KIND] = BORN_INITIAL
            else:
                si[S_NINS] += 1
            if a >= 0:
                n_ext = post_update(a, 0)
        else:
            nel = si[S_NELIG]
            if nel == 0:
                continue
            extract(elig[_randint(rng, nel)])
        for q in range(n_ext):
            c = to_ext[q]
            if cd[c, C_SIZE] > 0:
                extract(c)
        # the next event's cluster row (lone molecules and empty sites have none)
        if nxt >= 0 and site[nxt] & 1 and not (mono and site[nxt] >> 1 == 0):
            _prefetch(cdf, lab[nxt] * NCD)
    return RC_TIME if fill else RC_EVENTS


_NO_SITES = np.zeros(0, np.int64)


def _call(st: SortState, mode: int, par, ipar, t_end: float, max_events: int, sites) -> int:
    return int(_kernel(mode, *st, par, ipar, float(t_end), int(max_events), sites))


def run(st: SortState, par: np.ndarray, ipar: np.ndarray, t_end: float, max_events: int) -> int:
    """Advance until time t_end, max_events events or a full buffer; returns RC_*."""
    return _call(st, MODE_RUN, par, ipar, t_end, max_events, _NO_SITES)


def fill_sites(st: SortState, par: np.ndarray, ipar: np.ndarray, sites: np.ndarray) -> None:
    """Occupy the given sites (initial condition); domains get records, big ones are extracted."""
    _call(st, MODE_FILL, par, ipar, 0.0, 0, np.asarray(sites, dtype=np.int64))


@njit(cache=True)
def _flush_alive(cd, cpar, cbt, t):
    n = cd.shape[0]
    k = 0
    for c in range(n):
        if cd[c, C_SIZE] > 0 and cd[c, C_ANCHOR] >= 0 and cd[c, C_REC] >= 0:
            k += 1
    out_i = np.empty((k, ND), np.int64)
    out_f = np.empty((k, 2), np.float64)
    k = 0
    for c in range(n):
        if cd[c, C_SIZE] > 0 and cd[c, C_ANCHOR] >= 0 and cd[c, C_REC] >= 0:
            out_i[k, D_REC] = cd[c, C_REC]
            out_i[k, D_BN] = cd[c, C_BN]
            out_i[k, D_MAX] = cd[c, C_MAX]
            out_i[k, D_FATE] = ALIVE
            out_i[k, D_OTHER] = -1
            out_i[k, D_KIND] = cd[c, C_KIND]
            out_i[k, D_PARENT] = cpar[c]
            out_f[k, 0] = cbt[c]
            out_f[k, 1] = t
            k += 1
    return out_i, out_f


def flush_alive(st: SortState) -> tuple[np.ndarray, np.ndarray]:
    """Records (fate ALIVE) of every live tracked domain, for the end of a run."""
    return _flush_alive(st.cd, st.cpar, st.cbt, float(st.sf[F_T]))


def cluster_sizes(st: SortState) -> np.ndarray:
    """Size of every cluster, lone molecules without a slot (label MONO) included."""
    sizes = st.cd[:, C_SIZE]
    live = sizes[sizes > 0]
    return np.concatenate([live, np.ones(np.count_nonzero(st.lab == MONO), live.dtype)])


def site_records(st: SortState) -> np.ndarray:
    """Record id of the domain holding each site (-1: empty or not a tracked domain)."""
    out = np.full(st.site.shape[0], -1, np.int64)
    occupied = st.lab >= 0
    out[occupied] = st.cd[st.lab[occupied], C_REC]
    return out
