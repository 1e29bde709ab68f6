"""Per-point configuration of an opendnp3 outstation database under the yadnp3 binding.

`opendnp3.DatabaseConfig(n)` makes n points of every object type, and its per-type maps hold
element types the binding never registered, so they could be emptied but not filled. Importing this
package registers those types; `points(template, indices)` then builds a map of exactly the given
indices, each a copy of the binding's own default settings with the changes asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import opendnp3

from opendnp3_points._configs import AnalogConfig, AOStatusConfig, BinaryConfig, BOStatusConfig

__all__ = ["AOStatusConfig", "AnalogConfig", "BOStatusConfig", "BinaryConfig", "defaults", "points"]

Config = TypeVar("Config", BinaryConfig, BOStatusConfig, AnalogConfig, AOStatusConfig)


class LayoutMismatch(RuntimeError):
    """The installed binding's point settings are not laid out as this package assumes."""


def defaults() -> dict[str, Any]:
    """The binding's default settings of one point of each type this package registers."""
    config = opendnp3.DatabaseConfig(1)
    return {
        name: getattr(config, name)[0]
        for name in ("binary_input", "binary_output_status", "analog_input", "analog_output_status")
    }


def _check_layout() -> None:
    """opendnp3's defaults (Group1Var2 / Group2Var1 for binaries, Group30Var1 / Group32Var1 for
    analogs, class 1, no dead band) read through these definitions: anything else means the binding
    changed under them, and writing settings through them would corrupt its memory."""
    seen = {
        name: (c.svariation, c.clazz, c.evariation, getattr(c, "deadband", 0.0))
        for name, c in defaults().items()
    }
    expected = {
        "binary_input": (int(opendnp3.StaticBinaryVariation.Group1Var2), 2, 0, 0.0),
        "binary_output_status": (int(opendnp3.StaticBinaryOutputStatusVariation.Group10Var2), 2, 0, 0.0),
        "analog_input": (int(opendnp3.StaticAnalogVariation.Group30Var1), 2, 0, 0.0),
        "analog_output_status": (int(opendnp3.StaticAnalogOutputStatusVariation.Group40Var1), 2, 0, 0.0),
    }
    if seen != expected:
        raise LayoutMismatch(
            f"opendnp3 point settings read {seen}, expected {expected}: has the binding changed?"
        )


def points(
    template: Config, settings: Mapping[int, Mapping[str, float]] | Iterable[int]
) -> dict[int, Config]:
    """A per-type map for `DatabaseConfig`: one copy of `template` per index, with the settings
    given for it (svariation, clazz, evariation, deadband) applied."""
    if not isinstance(settings, Mapping):
        settings = {index: {} for index in settings}
    made: dict[int, Config] = {}
    for index, changes in settings.items():
        config = type(template)(template)
        for name, value in changes.items():
            setattr(config, name, value)
        made[index] = config
    return made


_check_layout()
