"""How good the server's clock is, for the 2030.5 Time resource's `quality`. The server serves its host's
clock; whether that clock is disciplined by NTP (or PTP) the kernel knows: adjtimex(2) with no changes
answers TIME_ERROR, and sets STA_UNSYNC, while no time source has synchronised it."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

# 2030.5 Time.quality values the server can claim (the schema's documentation of Time.quality).
FROM_AUTHORITATIVE_SOURCE = 3  # "Time obtained from external authoritative source such as NTP"
MANUALLY_SET = 5  # "Time manually set or obtained from level 4 source"
_TIME_ERROR, _STA_UNSYNC = 5, 0x0040


class _Timex(ctypes.Structure):
    # struct timex (Linux, <sys/timex.h>): only `modes` (0: read only) and `status` are used.
    _fields_ = [
        ("modes", ctypes.c_uint),
        *((name, ctypes.c_long) for name in ("offset", "freq", "maxerror", "esterror")),
        ("status", ctypes.c_int),
        *((name, ctypes.c_long) for name in ("constant", "precision", "tolerance", "sec", "usec", "tick")),
        *((name, ctypes.c_long) for name in ("ppsfreq", "jitter")),
        ("shift", ctypes.c_int),
        *((name, ctypes.c_long) for name in ("stabil", "jitcnt", "calcnt", "errcnt", "stbcnt")),
        ("tai", ctypes.c_int),
        ("padding", ctypes.c_int * 11),
    ]


@functools.cache
def _libc() -> ctypes.CDLL:
    # Looked up once: find_library runs ldconfig in a child process, and every GET /tm asks.
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def synchronised() -> bool | None:
    """Whether the kernel has the clock synchronised to a time source; None where it cannot say."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = _libc()
        timex = _Timex()
        state = int(libc.adjtimex(ctypes.byref(timex)))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != _TIME_ERROR and not timex.status & _STA_UNSYNC


def time_quality(synced: bool | None) -> int:
    """A clock kept by NTP is an external authoritative source; one nothing keeps is as good as
    whoever set it — never "intentionally uncoordinated" (7), which is what the server said before."""
    return FROM_AUTHORITATIVE_SOURCE if synced else MANUALLY_SET
