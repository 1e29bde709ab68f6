"""Command-line options shared by the feeder commands."""

from __future__ import annotations

import argparse

from apps.dms.engine.studies import REFRESH_ITERATIONS

MAX_ITERATIONS = 100  # the refresh stops early once the voltages settle; this bounds a feeder that will not


def _iterations(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of refreshes, not {text!r}") from None
    if not 0 <= value <= MAX_ITERATIONS:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_ITERATIONS}")
    return value


def add_iterations_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--iterations",
        type=_iterations,
        default=REFRESH_ITERATIONS,
        help=f"LinDist3Flow fixed-point refreshes, 0 to {MAX_ITERATIONS} (0 = the linear model alone)",
    )
