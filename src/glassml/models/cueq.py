"""Optional cuEquivariance backend for the channel-wise ('uvu') convolution of `SE3GNN`.

NVIDIA's `cuequivariance-torch` fuses gather, tensor product and scatter of an
edge convolution into one GPU kernel. It is an optional dependency
(`pip install glassml[cuda]`); selecting `backend: cueq` without it is an error that says
so. The kernel must compute exactly what the e3nn path computes, with the same weights,
so that a model trained with one backend runs with the other:

* irreps use e3nn's conventions (real spherical harmonics basis, Clebsch-Gordan
  coefficients = e3nn's `wigner_3j` times sqrt(2 l_out + 1), "component" normalisation),
  via the `O3_e3nn` group defined below;
* cuEquivariance sorts the output irreps of a channel-wise product and orders the
  per-edge weights by sorted output; `glassml.models.se3.channelwise_instructions`
  builds the e3nn product in that same order, and the constructor checks that the two
  output layouts agree.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from e3nn import o3
from torch import nn

BACKENDS = ("e3nn", "cueq")


class BackendUnavailableError(ImportError):
    """The configured backend cannot run here (package or GPU missing)."""


def cueq_available() -> bool:
    """Whether `cuequivariance_torch` can be imported."""
    try:
        import cuequivariance  # noqa: F401
        import cuequivariance_torch  # noqa: F401
    except ImportError:
        return False
    return True


@lru_cache(maxsize=1)
def o3_e3nn_group() -> Any:
    """cuEquivariance's O(3) group with e3nn's basis and Clebsch-Gordan conventions."""
    import cuequivariance as cue

    class O3_e3nn(cue.O3):  # noqa: N801 - the name cuEquivariance users know
        def __mul__(rep1: O3_e3nn, rep2: O3_e3nn) -> Iterator[O3_e3nn]:  # noqa: N805
            return [O3_e3nn(l=ir.l, p=ir.p) for ir in cue.O3.__mul__(rep1, rep2)]

        @classmethod
        def clebsch_gordan(cls, rep1: O3_e3nn, rep2: O3_e3nn, rep3: O3_e3nn) -> np.ndarray:
            rep1, rep2, rep3 = cls._from(rep1), cls._from(rep2), cls._from(rep3)
            if rep1.p * rep2.p != rep3.p:
                return np.zeros((0, rep1.dim, rep2.dim, rep3.dim))
            cg = o3.wigner_3j(rep1.l, rep2.l, rep3.l).numpy()
            return cg[None] * np.sqrt(rep3.dim)

        def __lt__(rep1: O3_e3nn, rep2: O3_e3nn) -> bool:  # noqa: N805
            rep2 = rep1._from(rep2)
            return (rep1.l, rep1.p) < (rep2.l, rep2.p)

        @classmethod
        def iterator(cls) -> Iterator[O3_e3nn]:
            for ell in itertools.count(0):
                yield O3_e3nn(l=ell, p=(-1) ** ell)
                yield O3_e3nn(l=ell, p=-((-1) ** ell))

    return O3_e3nn


def _drop_constants(module: nn.Module, state_dict: dict, prefix: str, *_: Any) -> None:
    for key in [k for k in state_dict if k.startswith(prefix + "tp.")]:
        del state_dict[key]


def _fill_constants(module: nn.Module, state_dict: dict, prefix: str, *_: Any) -> None:
    for name, value in module.tp.state_dict().items():
        state_dict.setdefault(prefix + "tp." + name, value)


class CueqChannelwiseConv(nn.Module):
    """Fused gather - channel-wise tensor product - scatter-sum on the GPU.

    `forward(x, sh, weight, src, dst, num_nodes)` returns, for every node i,
    sum over edges (j -> i) of TP(x_j, sh_ij; weight_ij): the same as
    `scatter_sum(e3nn_tp(x[src], sh, weight), dst)`.
    """

    def __init__(self, irreps_in: o3.Irreps, irreps_sh: o3.Irreps, irreps_mid: o3.Irreps) -> None:
        super().__init__()
        if not cueq_available():
            raise BackendUnavailableError(
                "model.net.backend=cueq needs cuequivariance-torch (and its CUDA ops): "
                "`pip install glassml[cuda]` on a machine with an NVIDIA GPU, or set "
                "model.net.backend=e3nn"
            )
        import cuequivariance as cue
        import cuequivariance_torch as cuet

        group = o3_e3nn_group()
        # without a GPU, cuEquivariance's plain-PyTorch implementation (for tests)
        extra = {} if torch.cuda.is_available() else {"method": "naive"}
        self.tp = cuet.ChannelWiseTensorProduct(
            cue.Irreps(group, str(irreps_in)),
            cue.Irreps(group, str(irreps_sh)),
            filter_irreps_out=cue.Irreps(group, str(irreps_mid.simplify())),
            layout=cue.mul_ir,
            shared_weights=False,
            internal_weights=False,
            dtype=torch.get_default_dtype(),
            **extra,
        )
        got = o3.Irreps(str(self.tp.irreps_out))
        if got != irreps_mid:
            raise RuntimeError(
                f"cuEquivariance's channel-wise product gives irreps {got}, the e3nn "
                f"convolution {irreps_mid}: the two backends would not share weights"
            )
        self.weight_numel = int(self.tp.weight_numel)
        # the kernel's constants (Clebsch-Gordan tables) are rebuilt from the irreps: keep
        # them out of checkpoints, so that e3nn and cueq checkpoints are interchangeable
        self.register_state_dict_post_hook(_drop_constants)
        self.register_load_state_dict_pre_hook(_fill_constants)

    def forward(
        self,
        x: torch.Tensor,
        sh: torch.Tensor,
        weight: torch.Tensor,
        src: torch.Tensor,
        dst: torch.Tensor,
        num_nodes: int,
    ) -> torch.Tensor:
        if not x.is_cuda and getattr(self.tp, "method", "naive") != "naive":
            # with cuEquivariance's CUDA ops installed, even its PyTorch path dispatches
            # layout changes to CUDA-only operators (seen with cuequivariance 0.13)
            raise BackendUnavailableError(
                "model.net.backend=cueq was built for the GPU and cannot run on CPU tensors; "
                "use model.net.backend=e3nn on the CPU (checkpoints are interchangeable)"
            )
        return self.tp(x, sh, weight, indices_1=src, indices_out=dst, size_out=num_nodes)
