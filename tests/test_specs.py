"""Config mappings to frozen dataclass specs, with errors naming the offending key."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from glassml.specs import build_spec


class SpecError(ValueError):
    pass


@dataclass(frozen=True)
class Inner:
    r_in: float = 1.4


@dataclass(frozen=True)
class Outer:
    name: str
    inner: Inner = field(default_factory=Inner)


def test_nested_mapping_becomes_a_dataclass() -> None:
    spec = build_spec(
        Outer, {"name": "x", "inner": {"r_in": 1.2}}, "sim", SpecError, {"inner": Inner}
    )
    assert spec == Outer("x", Inner(1.2))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x", "typo": 1}, r"unknown key\(s\) sim\.typo; expected some of: inner, name"),
        ({"name": "x", "inner": {"r_out": 2}}, r"unknown key\(s\) sim\.inner\.r_out"),
        ({"name": "x", "inner": 3}, r"sim\.inner must be a mapping, got int"),
        ({}, r"sim: .*missing 1 required positional argument: 'name'"),
    ],
)
def test_bad_keys_are_named(data: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        build_spec(Outer, data, "sim", SpecError, {"inner": Inner})
