"""Search space: Hydra override strings -> Optuna distributions, checked before any trial.

Grammar (as the official plugin, on Optuna >= 4 distributions):
  choice(a, b, ...)              -> CategoricalDistribution
  range(start, stop[, step])     -> IntDistribution / FloatDistribution over the values
                                    Hydra's range yields (stop excluded, as in `-m` sweeps)
  interval(low, high)            -> FloatDistribution (IntDistribution if both are ints)
  tag(log, interval(low, high))  -> the same on a log scale
  anything else                  -> a fixed value passed to every trial
"""

from __future__ import annotations

import difflib
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    ChoiceSweep,
    IntervalSweep,
    Override,
    RangeSweep,
    Transformer,
)
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

_ABSENT = object()


class SweepConfigError(ValueError):
    """A sweep that cannot run as configured; raised before any trial starts."""


def _where(override: Override) -> str:
    return f"hydra.sweeper.params: {override.input_line}"


def distribution(override: Override) -> BaseDistribution:
    """The Optuna distribution of one sweep override, with the range checks Optuna skips."""
    value = override.value()
    where = _where(override)
    if override.is_choice_sweep() or (override.is_range_sweep() and value.shuffle):
        assert isinstance(value, (ChoiceSweep, RangeSweep))
        choices = list(override.sweep_iterator(transformer=Transformer.encode))
        if not choices:
            raise SweepConfigError(f"{where}: no values to choose from")
        return CategoricalDistribution(choices)
    if override.is_range_sweep():
        assert isinstance(value, RangeSweep)
        points = list(override.sweep_iterator(transformer=Transformer.identity))
        if value.step == 0 or not points:
            raise SweepConfigError(
                f"{where}: range({value.start}, {value.stop}, {value.step}) is empty "
                "(stop is excluded; step must move from start towards stop)"
            )
        if value.step < 0:
            raise SweepConfigError(f"{where}: use a positive step (Optuna ranges increase)")
        low, high = points[0], points[-1]
        if all(isinstance(p, int) for p in (value.start, value.stop, value.step)):
            return IntDistribution(int(low), int(high), step=int(value.step))
        return FloatDistribution(float(low), float(high), step=float(value.step))
    if override.is_interval_sweep():
        assert isinstance(value, IntervalSweep)
        low, high, log = value.start, value.end, "log" in value.tags
        if not low < high:
            raise SweepConfigError(f"{where}: the interval is empty: need low < high")
        if log and low <= 0:
            raise SweepConfigError(f"{where}: a log interval needs low > 0")
        if isinstance(low, int) and isinstance(high, int):
            return IntDistribution(low, high, log=log)
        return FloatDistribution(float(low), float(high), log=log)
    raise SweepConfigError(
        f"{where}: not supported by the Optuna sweeper (use choice, range, interval or "
        "tag(log, interval))"
    )


def parse_space(
    params: dict[str, Any] | None, arguments: list[str]
) -> tuple[dict[str, BaseDistribution], dict[str, str]]:
    """Distributions and fixed overrides from `hydra.sweeper.params` then the command line.

    A later override of the same key wins, so a fixed value on the command line takes a
    parameter out of the configured search space (as in the official plugin).
    """
    lines = [f"{k}={v}" for k, v in (params or {}).items()] + list(arguments)
    try:
        parsed = OverridesParser.create().parse_overrides(lines)
    except Exception as e:
        raise SweepConfigError(f"hydra.sweeper.params / command line: {e}") from e
    space: dict[str, BaseDistribution] = {}
    fixed: dict[str, str] = {}
    for override in parsed:
        key = override.get_key_element()
        space.pop(key, None)
        fixed.pop(key, None)
        if override.is_sweep_override():
            space[key] = distribution(override)
        else:
            fixed[key] = override.get_value_element_as_str()
    return space, fixed


def _leaf_keys(cfg: Any, prefix: str = "") -> list[str]:
    if not isinstance(cfg, DictConfig):
        return [prefix] if prefix else []
    keys = [prefix] if prefix else []
    for k in cfg:
        if prefix == "" and k == "hydra":
            continue
        node = cfg._get_node(k)
        keys += _leaf_keys(node, f"{prefix}.{k}" if prefix else str(k))
    return keys


def check_keys(config: DictConfig, keys: list[str], groups: set[str]) -> None:
    """Every swept key must be a config group or exist in the composed config.

    New keys must be written `+key`; those, deletions and group@package forms are
    checked when the trial configs are composed.
    """
    known: list[str] | None = None
    for key in keys:
        if key.startswith(("+", "~")) or "@" in key or "/" in key or key in groups:
            continue
        if OmegaConf.select(config, key, default=_ABSENT, throw_on_missing=False) is _ABSENT:
            known = known if known is not None else _leaf_keys(config)
            close = difflib.get_close_matches(key, known, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise SweepConfigError(
                f"hydra.sweeper.params: '{key}' is not a key of the composed config{hint}; "
                f"write '+{key}' to add a new key"
            )


def format_value(value: Any) -> str:
    """A sampled value as Hydra override text (None -> null, strings escaped)."""
    return Override._get_value_element_as_str(value)


def corner_points(space: dict[str, BaseDistribution]) -> list[dict[str, Any]]:
    """Parameter sets that reach every bound and every choice: what the dry run composes."""
    if not space:
        return [{}]

    def ends(d: BaseDistribution) -> list[Any]:
        if isinstance(d, CategoricalDistribution):
            return list(d.choices)
        assert isinstance(d, (IntDistribution, FloatDistribution))
        return [d.low, d.high]

    values = {k: ends(d) for k, d in space.items()}
    n = max(len(v) for v in values.values())
    return [{k: v[min(i, len(v) - 1)] for k, v in values.items()} for i in range(n)]
