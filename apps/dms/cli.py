"""Command-line options shared by the feeder commands."""

from __future__ import annotations

import argparse

from apps.dms.engine.studies import REFRESH_ITERATIONS


def _iterations(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 20:
        raise argparse.ArgumentTypeError("must be between 0 and 20")
    return value


def add_iterations_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--iterations",
        type=_iterations,
        default=REFRESH_ITERATIONS,
        help="LinDist3Flow fixed-point refreshes, 0 to 20 (0 = the linear model alone)",
    )
