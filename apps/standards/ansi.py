"""ANSI C84.1 service voltage range A, per unit of nominal: the band every solve, dispatch, study
and chart holds node voltages to (seed 004 §IV-C; seed 000 §3)."""

from __future__ import annotations

V_MIN_PU = 0.95
V_MAX_PU = 1.05
