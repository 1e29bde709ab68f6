"""Field-protocol benchmarks of the 5-minute cycle's messaging stages, in one run:

* DNP3: set point + confirmation to 1,000 DER outstations on loopback (target ≤ 10 s; the cycle
  budgets 120 s for DER messaging), with the one-DER-at-a-time peer from the same run;
* IEEE 2030.5 (issue #16 item 11): the server with 1,000 clients polling at the demo's pollRate
  (20 s) plus an extra stream asked for 100 requests/s; targets p95 ≤ 100 ms over all requests
  and over the polling clients' own, the stream reaching the rate asked. Measured open loop
  (latency from the moment each request is due), the load in processes of its own, for the server
  as shipped (one worker process per CPU) and for its peer in the same run (one worker process).

    .venv/bin/python benchmarks/protocols.py [--only dnp3|sep2] [--quick]

`--quick` is a smoke run (100 outstations / clients, a 20 s window). Each part also runs alone:
benchmarks/_dnp3_bench.py and benchmarks/_sep2_bench.py take their own options (--help). The figures
and their targets are recorded in docs/performance.md ("Field protocols").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this tree's packages, before theirs
# This folder is on sys.path when run as a script.
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
        extra = ["--duration", "20", "--drain", "10"] if args.quick else []
        _sep2_bench.main(["--clients", n, *extra])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
