"""Optional W&B record of a finished sorting run: parameters, headline numbers and plots.

Off by default (`tracking.wandb=false` in conf/simulate.yaml). The run's own files stay
the record of truth; W&B gets a copy so that sweeps can be browsed and compared. Runs of
one Hydra multirun share a W&B group (the sweep directory's name) unless one is given.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger("glassml.sorting")

#: Sections of summary.json whose scalar entries become W&B summary values.
SUMMARY_SECTIONS = ("stationary", "sorting", "committor", "cnt", "performance")


def flat_scalars(summary: Mapping[str, Any]) -> dict[str, float]:
    """`section/key[/field]` -> number, for the numeric entries of `SUMMARY_SECTIONS`."""
    out: dict[str, float] = {}

    def visit(prefix: str, value: Any) -> None:
        if isinstance(value, bool):
            return
        if isinstance(value, int | float):
            out[prefix] = float(value)
        elif isinstance(value, Mapping):
            for k, v in value.items():
                visit(f"{prefix}/{k}", v)

    for section in SUMMARY_SECTIONS:
        visit(section, summary.get(section, {}))
    return out


def default_group() -> str | None:
    """Name of the Hydra sweep directory when running under `-m`, else None."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
    except (ImportError, ValueError):
        return None
    return Path(hc.sweep.dir).name if hc.mode == RunMode.MULTIRUN else None


def log_run(summary: Mapping[str, Any], out_dir: Path, tracking: Mapping[str, Any]) -> str | None:
    """Send one finished run to W&B if `tracking.wandb` is true; returns the W&B run id."""
    if not tracking.get("wandb", False):
        return None
    import wandb

    out_dir = Path(out_dir)
    run = wandb.init(
        project=tracking.get("project", "glassml-sorting"),
        mode=tracking.get("mode", "offline"),
        group=tracking.get("group") or default_group(),
        tags=list(tracking.get("tags", [])),
        name=out_dir.name,
        job_type="sorting",
        dir=str(out_dir),
        config=dict(summary.get("params", {})),
        reinit="finish_previous",
    )
    try:
        run.summary.update(flat_scalars(summary))
        run.summary["warnings"] = list(summary.get("warnings", []))
        images = {p.stem: wandb.Image(str(p)) for p in sorted(out_dir.glob("*.png"))}
        if images:
            run.log(images)
        return run.id
    finally:
        run.finish()
