"""Argument types shared by the management commands."""

from __future__ import annotations


def positive(text: str) -> float:
    """A number above zero (argparse turns the ValueError into "invalid positive value")."""
    value = float(text)
    if not value > 0:
        raise ValueError(text)
    return value
