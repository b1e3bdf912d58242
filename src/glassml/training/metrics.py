"""Pearson correlation metrics per time scale and species, accumulated over a whole split.

Two numbers per (species, time), because they differ a lot at long times (REFERENCE.md):

* pooled: one Pearson over all particles of the split (torchmetrics' `PearsonCorrCoef`,
  which accumulates sufficient statistics and syncs them across DDP ranks);
* per configuration: the Pearson of each configuration separately, averaged over the
  configurations of the split (`PerConfigPearson`, a torchmetrics `Metric`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import nn
from torchmetrics import Metric, PearsonCorrCoef


class PerConfigPearson(Metric):
    """Mean over configurations of the per-configuration Pearson correlation, per output.

    `update(preds, target, group)` takes [n, T] predictions and targets and a [n] index
    saying which configuration each row belongs to; every configuration must arrive
    whole in one update (true for graph batches). Configurations with fewer than two
    particles or zero variance are skipped, not counted as zero.
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, num_outputs: int = 1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_outputs = num_outputs
        self.add_state("total", torch.zeros(num_outputs, dtype=torch.float64), "sum")
        self.add_state("count", torch.zeros(num_outputs, dtype=torch.float64), "sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor, group: torch.Tensor) -> None:
        if preds.numel() == 0:
            return
        preds = preds.reshape(preds.shape[0], -1).double()
        target = target.reshape(target.shape[0], -1).double()
        _, group = torch.unique(group, return_inverse=True)
        n_groups = int(group.max()) + 1
        ones = torch.ones_like(preds[:, :1])

        def seg(v: torch.Tensor) -> torch.Tensor:
            out = torch.zeros(n_groups, v.shape[1], dtype=v.dtype, device=v.device)
            return out.index_add(0, group, v)

        n = seg(ones)
        mx, my = seg(preds) / n, seg(target) / n
        dx, dy = preds - mx[group], target - my[group]
        sxy, sxx, syy = seg(dx * dy), seg(dx * dx), seg(dy * dy)
        valid = (n >= 2) & (sxx > 0) & (syy > 0)
        r = torch.where(valid, sxy / torch.sqrt(sxx * syy).clamp_min(1e-300), 0.0)
        self.total += r.sum(dim=0)
        self.count += valid.to(torch.float64).sum(dim=0)

    def compute(self) -> torch.Tensor:
        return (self.total / self.count).float()


class SpeciesPearson(nn.Module):
    """Pooled and per-configuration Pearson per species, for one split (val or test)."""

    def __init__(self, species: Sequence[int], num_outputs: int) -> None:
        super().__init__()
        self.species = [int(s) for s in species]
        self.num_outputs = num_outputs
        # float64 states: the running moments cover up to millions of particles
        self.pooled = nn.ModuleDict(
            {
                str(s): PearsonCorrCoef(num_outputs=num_outputs).set_dtype(torch.float64)
                for s in self.species
            }
        )
        self.per_config = nn.ModuleDict(
            {str(s): PerConfigPearson(num_outputs=num_outputs) for s in self.species}
        )

    def update(
        self, preds: torch.Tensor, target: torch.Tensor, species: torch.Tensor, group: torch.Tensor
    ) -> None:
        for s in self.species:
            m = species == s
            if int(m.sum()) == 0:
                continue
            p, t = preds[m].double(), target[m].double()
            if self.num_outputs == 1:  # torchmetrics wants 1-D input for a single output
                self.pooled[str(s)].update(p.reshape(-1), t.reshape(-1))
            else:
                self.pooled[str(s)].update(p, t)
            self.per_config[str(s)].update(p, t, group[m])

    def compute(self) -> dict[tuple[str, int], torch.Tensor]:
        """{("pooled"|"per_config", species): [num_outputs] tensor}.

        Every metric is computed on every rank (compute is a collective under DDP);
        a species absent from the split gives NaN, which callers drop.
        """
        out: dict[tuple[str, int], torch.Tensor] = {}
        for s in self.species:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # empty/constant species: NaN, dropped later
                out[("pooled", s)] = self.pooled[str(s)].compute().reshape(-1).float()
                out[("per_config", s)] = self.per_config[str(s)].compute().reshape(-1)
        return out

    def reset(self) -> None:
        for m in list(self.pooled.values()) + list(self.per_config.values()):
            m.reset()
