"""OpenDSS (DSS C-API) is one engine per process, and driving it from a second thread crashes the
process (seen: a web server's request thread after the main thread had used it). Every call into
it goes through this one dedicated thread, which also serializes concurrent requests."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")
_PREFIX = "opendss-engine"
_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix=_PREFIX)


def on_dss_thread(fn: Callable[P, T]) -> Callable[P, T]:
    """Run `fn` on the OpenDSS thread (directly when already there, e.g. nested calls)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        if threading.current_thread().name.startswith(_PREFIX):
            return fn(*args, **kwargs)
        return _EXECUTOR.submit(fn, *args, **kwargs).result()

    return wrapper
