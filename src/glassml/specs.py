"""Frozen dataclass specs from config mappings, with errors that name the offending key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any


def build_spec(
    cls: type,
    data: Any,
    prefix: str,
    error: type[Exception],
    nested: Mapping[str, type] | None = None,
):
    """`cls(**data)`, rejecting unknown and missing keys with `error` naming `prefix.<key>`.

    Values under the keys of `nested` are built into those dataclasses first (one level).
    """
    if not isinstance(data, dict):
        raise error(f"{prefix} must be a mapping, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise error(
            f"unknown key(s) {', '.join(prefix + '.' + k for k in unknown)}; "
            f"expected some of: {', '.join(sorted(k for k in known if k != '_target_'))}"
        )
    nested = nested or {}
    kwargs = {
        k: build_spec(nested[k], v, f"{prefix}.{k}", error) if k in nested else v
        for k, v in data.items()
    }
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise error(f"{prefix}: {err}") from None
