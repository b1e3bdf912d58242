"""Optimiser and scheduler from config partials, in the form Lightning expects."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch


def optimizer_config(
    params: Iterable[torch.nn.Parameter],
    optimizer: Callable[..., torch.optim.Optimizer],
    scheduler: Callable[..., Any] | None,
    interval: str = "epoch",
    monitor: str = "val/loss",
) -> Any:
    """`configure_optimizers` return value: the optimiser alone, or with its scheduler."""
    opt = optimizer(params=params)
    if scheduler is None:
        return opt
    return {
        "optimizer": opt,
        "lr_scheduler": {
            "scheduler": scheduler(optimizer=opt),
            "interval": interval,
            "monitor": monitor,
            "frequency": 1,
        },
    }
