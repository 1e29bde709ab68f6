"""Reactive power across the EMS–DMS link: which way it points and how many feeders it covers.

Three frames meet here (DESIGN.md §7):

* the **EMS** (``DsoMessage``, the OPF's ``DsoInterface``): per feeder, Q **injected** into the
  transmission bus, measured from the feeder's base demand ``q_base_kvar`` the OPF assumed
  (the OPF puts ``q_base_kvar − q_injected_kvar`` of reactive load per feeder on the bus);
* the **wire** (point map ``EMS_DMS``): the substation Q **drawn from** the transmission system
  (+ = import), absolute, **total over the interface** (all its identical feeders);
* the **DMS** (``DispatchRequest``, ``DispatchRun``, capability curves): per modelled feeder, the
  substation Q drawn (+ = import), absolute.

Because drawing is the opposite of injecting, a DSO's capability range flips ends: the EMS's
``q_min`` (most negative injection) is the wire's ``q_max`` (largest import).
"""

from __future__ import annotations


def _checked(count: int) -> int:
    if count < 1:
        raise ValueError(f"An interface has at least one feeder, not {count}.")
    return count


def wire_q_drawn_kvar(q_injected_kvar: float, q_base_kvar: float, count: int) -> float:
    """EMS per-feeder injection (from its base demand) → the interface's total Q drawn, on the wire."""
    return _checked(count) * (q_base_kvar - q_injected_kvar)


def ems_q_injected_kvar(q_drawn_kvar: float, q_base_kvar: float, count: int) -> float:
    """The wire's total Q drawn → the EMS's per-feeder injection measured from its base demand."""
    return q_base_kvar - q_drawn_kvar / _checked(count)


def ems_q_range_kvar(
    q_min_drawn_kvar: float, q_max_drawn_kvar: float, q_base_kvar: float, count: int
) -> tuple[float, float]:
    """The wire's total drawn range → the EMS's per-feeder injection range (ends swap)."""
    return (
        ems_q_injected_kvar(q_max_drawn_kvar, q_base_kvar, count),
        ems_q_injected_kvar(q_min_drawn_kvar, q_base_kvar, count),
    )


def per_feeder(total: float, count: int) -> float:
    """A wire total (Q drawn, PV curtailment, DR) → the share of one modelled feeder (DMS side)."""
    return total / _checked(count)


def interface_total(value: float, count: int) -> float:
    """One modelled feeder's value → the interface's total for the wire (DMS side)."""
    return value * _checked(count)
