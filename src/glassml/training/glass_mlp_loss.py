"""GlassMLP's loss as the authors' code defines it (GerhardJung/StructDynGlass,
machine_learning/KA3D/ and machine_learning/KA2D/machine_learning_mlptrain.py,
`loss_carrier`).

Per configuration, trained species s and time scale t, over the species-s particles only:

    L = |y - yhat|_mean / std(y)
        + f_C sum_{d in D} |C_true(d) - C_pred(d)| / |C_true(d_first) - C_true(d_last)|
        + f_V |Var(yhat) - Var(y)| / Var(y)

with a mobility q of the physical target p, dq = q - mean(q), and the spatial correlation
of mobility

    C(d) = sum_i dq_i (sum_j G_d(r_ij) dq_j / sum_j G_d(r_ij)) / sum_i dq_i^2,
    G_d(r) = exp(-(r - d)^2 / 2),

over all pairs of species-s particles (minimum image, j = i included). The mobility
(`CorrelationTerms.mobility`, model.mobility) is either

- `soft`: q = (tanh(k (p - p*)) + 1) / 2 = sigmoid(2 k (p - p*)), their KA 3D run on the
  displacement propensity ("MD", p* = 0.44, k = 20), or
- `linear`: q = p, their KA 2D run on the bond-breaking observable ("BB"), where q is
  1 - their label C_loc (the fraction of initial neighbours still bonded), i.e. the
  fraction of broken bonds, glassml's `bb_prop`. C(d) does not change under q -> a q + b
  (a != 0), nor do the MAE and variance terms under p -> 1 - p: the loss on `bb_prop` is
  theirs on C_loc, and either convention of the stored label gives the same loss.

Targets here are standardised per time scale over the trained species together, so the
per-particle term is the mean absolute (or squared) error of the standardised values
times the species' `point_scale` = pooled std / the species' own std
(DataInfo.species_target_std): the error over the species' own std, as the authors
divide it. The variance ratio is the same in either unit.

Numerics (ours): the soft q is computed as h + (1 - 2h) sigmoid(-|x|), h = [x > 0], in
float64, so that the small side of the sigmoid keeps its relative precision when every
particle is (im)mobile (early and late times); the linear dq = p - mean(p) in float64.
dq is then rescaled by its largest magnitude (C does not change under dq -> a dq). A
configuration whose q do not fluctuate beyond rounding (max |dq| <= FLUCT_EPS times the
scale of q) has no spatial structure: its C is 0, and when this is the truth the
correlation term is left out (0) for that configuration and time. The denominator
|C_true(d_first) - C_true(d_last)| is floored at CORR_EPS, Var(y) at VAR_EPS (below it
the variance term is left out). No NaN reaches the optimiser.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch_geometric.data import Batch

#: the authors' distances d of G_d per dimension [code]
DEFAULT_DISTANCES: dict[int, tuple[float, ...]] = {2: (2.0, 5.0, 8.0), 3: (2.0, 4.0, 6.0)}
#: relative size of dq below which q does not fluctuate (float64 rounding) [ours]
FLUCT_EPS = 1e-12
#: floor of |C_true(d_first) - C_true(d_last)| [ours]
CORR_EPS = 1e-6
#: floor of the per-configuration variance of the standardised truth [ours]
VAR_EPS = 1e-12
#: rows of the pair-distance block handled at once (bounds the [rows, n, dim] temporary)
ROWS = 2048
#: the mobilities q of the correlation term (model.mobility): the authors' tanh step of
#: their KA 3D displacement run, or the target itself as in their KA 2D bond-breaking run
MOBILITIES: tuple[str, ...] = ("soft", "linear")

PointLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class CorrelationTerms:
    """Weights and parameters of the correlation and variance terms; `threshold` and
    `sharpness` are those of the soft mobility (unused, and may be None, when linear)."""

    correlation_weight: float = 0.5
    variance_weight: float = 1.0
    distances: tuple[float, ...] = DEFAULT_DISTANCES[3]
    threshold: float | None = 0.44
    sharpness: float | None = 20.0
    mobility: str = "soft"

    def __post_init__(self) -> None:
        if self.correlation_weight < 0 or self.variance_weight < 0:
            raise ValueError(
                "model.correlation_weight and model.variance_weight must be >= 0, got "
                f"{self.correlation_weight} and {self.variance_weight}"
            )
        if len(self.distances) < 2 or self.distances[0] == self.distances[-1]:
            raise ValueError(
                f"model.correlation_distances={list(self.distances)}: need at least two "
                "values, the first and last different (they normalise the term)"
            )
        check_mobility(self.mobility)
        if self.mobility == "soft":
            if self.threshold is None or self.sharpness is None:
                raise ValueError(
                    f"model.mobility_threshold={self.threshold} and model.mobility_sharpness="
                    f"{self.sharpness}: model.mobility=soft needs both numbers"
                )
            if not self.sharpness > 0:
                raise ValueError(f"model.mobility_sharpness={self.sharpness}: must be > 0")

    def fluctuation(self, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """dq and `flat` of the physical targets p [n, K] with this mobility."""
        if self.mobility == "linear":
            return linear_mobility_fluctuation(p)
        assert self.threshold is not None and self.sharpness is not None
        return soft_mobility_fluctuation(p, self.threshold, self.sharpness)


def check_mobility(mobility: str) -> None:
    """A clear error for a mobility that is not one of MOBILITIES."""
    if mobility not in MOBILITIES:
        raise ValueError(f"model.mobility={mobility!r}: expected one of {list(MOBILITIES)}")


def _rescaled(dq: torch.Tensor, scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """dq [n, K] rescaled to max |dq| = 1 per column, 0 and flat where max |dq| is within
    rounding of `scale` [K], the magnitude of q."""
    size = dq.detach().abs().amax(0)
    flat = size <= FLUCT_EPS * scale
    dq = torch.where(
        flat, torch.zeros_like(dq), dq / torch.where(flat, torch.ones_like(size), size)
    )
    return dq, flat


def soft_mobility_fluctuation(p: torch.Tensor, threshold: float, sharpness: float):
    """dq [n, K] (float64, rescaled to max |dq| = 1 per column; 0 where flat) of the soft
    mobility of physical propensities p [n, K], and a [K] flag `flat`: True where q does
    not fluctuate beyond rounding."""
    x = 2.0 * sharpness * (p.double() - threshold)
    h = (x > 0).double()
    v = (1.0 - 2.0 * h) * torch.sigmoid(-x.abs())  # q = h + v, both parts exact
    dq = (h - h.mean(0)) + (v - v.mean(0))
    scale = torch.maximum((h - h.mean(0)).abs().amax(0), v.abs().amax(0))
    return _rescaled(dq, scale.detach())


def linear_mobility_fluctuation(p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """dq [n, K] (float64, rescaled to max |dq| = 1 per column; 0 where flat) of the linear
    mobility q = p of physical targets p [n, K], and a [K] flag `flat`: True where p does
    not fluctuate beyond rounding of its own magnitude."""
    q = p.double()
    return _rescaled(q - q.mean(0), q.detach().abs().amax(0))


def pair_distances(pos: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """Minimum-image distances [n, n] of positions [n, dim] in the periodic `box` [dim]."""
    rows = []
    for start in range(0, pos.shape[0], ROWS):
        d = pos[start : start + ROWS, None, :] - pos[None, :, :]
        d = d - box * torch.round(d / box)
        rows.append(d.norm(dim=-1))
    return torch.cat(rows)


def mobility_correlation(
    dq: torch.Tensor, r: torch.Tensor, distances: Sequence[float]
) -> torch.Tensor:
    """C(d) [D, K] of the mobility fluctuations dq [n, K] at pair distances r [n, n]."""
    norm = (dq * dq).sum(0)
    out = []
    for d in distances:
        g = torch.exp(-0.5 * (r - d) ** 2)
        smooth = (g @ dq) / g.sum(1, keepdim=True)
        out.append((dq * smooth).sum(0) / norm.clamp_min(torch.finfo(dq.dtype).tiny))
    return torch.stack(out)


def configuration_loss(
    pred: torch.Tensor,
    true: torch.Tensor,
    mean: torch.Tensor,
    std: torch.Tensor,
    pos: torch.Tensor,
    box: torch.Tensor,
    point_loss: PointLoss,
    terms: CorrelationTerms | None,
    point_scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """Loss [T] of one configuration's particles of one species: standardised predictions
    and targets [n, T], target mean/std [T], positions [n, dim], box [dim]; `point_scale`
    [T] multiplies the per-particle term (the species' factor that makes it the error over
    its own target std). Without `terms` only the per-particle term (the authors' "free"
    loss)."""
    loss = point_loss(pred, true).mean(0)
    if point_scale is not None:
        loss = loss * point_scale.to(loss.dtype)
    if terms is None:
        return loss
    if terms.correlation_weight > 0:
        t = pred.shape[1]
        phys = torch.cat([pred, true.to(pred.dtype)], dim=1) * torch.cat([std, std]) + torch.cat(
            [mean, mean]
        )
        dq, flat = terms.fluctuation(phys)
        r = pair_distances(pos.to(pred.dtype), box.to(pred.dtype))
        c = mobility_correlation(dq.to(pred.dtype), r, terms.distances)
        c_pred, c_true = c[:, :t], c[:, t:].detach()  # C = 0 where q is flat
        span = (c_true[0] - c_true[-1]).abs().clamp_min(CORR_EPS)
        corr = ((c_true - c_pred).abs() / span).sum(0)
        loss = loss + terms.correlation_weight * torch.where(flat[t:], torch.zeros_like(corr), corr)
    if terms.variance_weight > 0:
        var_true = true.var(0, unbiased=False).to(pred.dtype)
        var_pred = pred.var(0, unbiased=False)
        ok = var_true > VAR_EPS
        rel = (var_pred - var_true).abs() / torch.where(ok, var_true, torch.ones_like(var_true))
        loss = loss + terms.variance_weight * torch.where(ok, rel, torch.zeros_like(rel))
    return loss


def glass_mlp_losses(
    preds: torch.Tensor,
    batch: Batch,
    species: Sequence[int],
    mean: torch.Tensor,
    std: torch.Tensor,
    point_loss: PointLoss,
    terms: CorrelationTerms | None,
    point_scale: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The loss of a batch, the mean over configurations, trained species and time scales of
    `configuration_loss` (each GlassMLP network, one per species and time, gets the authors'
    loss up to a constant factor; needs `batch.pos`, the thermal positions, and `batch.box`),
    and its parts per network: (loss, sums [S, T], counts [S, T]) with
    sums[k, t] the sum over the batch's configurations of the loss of species `species[k]`
    at time t (detached) and counts[k, t] the number of those configurations. GlassMLP's
    networks share no parameters, so the loss of the network of (species[k], t) is
    sums[k, t] / counts[k, t] and the scalar loss is their mean over configurations."""
    box = batch.box.reshape(batch.num_graphs, -1)
    t = preds.shape[1]
    sums = preds.new_zeros(len(species), t)
    counts = preds.new_zeros(len(species), t)
    losses = []
    for g in range(int(batch.num_graphs)):
        in_graph = batch.batch == g
        for k, s in enumerate(species):
            sel = in_graph & (batch.species == s)
            if int(sel.sum()) < 2:
                continue
            loss = configuration_loss(
                preds[sel],
                batch.y[sel],
                mean,
                std,
                batch.pos[sel],
                box[g],
                point_loss,
                terms,
                None if point_scale is None else point_scale[s],
            )
            losses.append(loss)
            sums[k] += loss.detach()
            counts[k] += 1
    if not losses:
        return preds.sum() * 0.0, sums, counts
    return torch.stack(losses).mean(), sums, counts


def pooled_network_losses(
    preds: torch.Tensor,
    true: torch.Tensor,
    particle_species: torch.Tensor,
    species: Sequence[int],
    point_loss: PointLoss,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The pooled per-particle loss split per network: (sums [S, T], counts [S, T]) of
    `point_loss` over the particles of species `species[k]` at every time t (detached)."""
    err = point_loss(preds.detach(), true.to(preds.dtype))
    sums = preds.new_zeros(len(species), preds.shape[1])
    counts = torch.zeros_like(sums)
    for k, s in enumerate(species):
        sel = particle_species == s
        sums[k] = err[sel].sum(0)
        counts[k] = float(sel.sum())
    return sums, counts
