"""The `Network`'s JSON form: complex numbers as [re, im]; tuples as lists; exact float round trip."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any


def encode(value: object) -> object:
    if isinstance(value, complex):
        return [value.real, value.imag]
    if isinstance(value, tuple | list):
        return [encode(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: encode(getattr(value, f.name)) for f in fields(value)}  # type: ignore[arg-type]
    return value


def decode_matrix(rows: list[list[Any]], kind: type) -> tuple[tuple[Any, ...], ...]:
    if kind is complex:
        return tuple(tuple(complex(re, im) for re, im in row) for row in rows)
    return tuple(tuple(float(v) for v in row) for row in rows)


def build(cls: type, data: Mapping[str, Any]) -> Any:
    args: dict[str, Any] = {}
    for key, value in data.items():
        if key == "z_ohm":
            args[key] = decode_matrix(value, complex)
        elif key == "b_shunt_us":
            args[key] = decode_matrix(value, float)
        elif isinstance(value, list):
            args[key] = tuple(value)
        else:
            args[key] = value
    return cls(**args)
