"""Field-protocol benchmarks of the 5-minute cycle's messaging stages, in one run:

* DNP3: set point + confirmation to 1,000 DER outstations on loopback (target ≤ 10 s; the cycle
  budgets 120 s for DER messaging), with the one-DER-at-a-time peer from the same run;
* IEEE 2030.5: the server with 1,000 clients polling at their pollRate plus 100 requests/s
  sustained (target p95 ≤ 100 ms).

    .venv/bin/python benchmarks/protocols.py [--only dnp3|sep2] [--quick]

`--quick` is a smoke run (100 outstations / clients, a 20 s window). Each part also runs alone:
benchmarks/_dnp3_bench.py and benchmarks/_sep2_bench.py take their own options (--help).
"""

from __future__ import annotations

import argparse
import sys

import _dnp3_bench
import _sep2_bench


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", choices=("dnp3", "sep2"), help="run one of the two parts")
    parser.add_argument("--quick", action="store_true", help="smoke run: 100 devices, a 20 s window")
    args = parser.parse_args(argv)
    n = "100" if args.quick else "1000"
    if args.only in (None, "dnp3"):
        print("== DNP3 ==", flush=True)
        _dnp3_bench.main(["--n", n])
    if args.only in (None, "sep2"):
        print("== IEEE 2030.5 ==", flush=True)
        extra = ["--duration", "20", "--poll-rate", "20"] if args.quick else []
        _sep2_bench.main(["--clients", n, *extra])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
