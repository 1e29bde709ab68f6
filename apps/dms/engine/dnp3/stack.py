"""The shared `yadnp3` manager, TLS settings and the channel-state listener."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import opendnp3 as dnp3

_lock = threading.Lock()
_manager: Any = None


def manager(threads: int = 2) -> Any:
    """One DNP3 manager (thread pool) per process: channels share it, as opendnp3 intends."""
    global _manager
    with _lock:
        if _manager is None:
            _manager = dnp3.DNP3Manager(threads)
        return _manager


def shutdown_manager() -> None:
    global _manager
    with _lock:
        if _manager is not None:
            _manager.Shutdown()
            _manager = None


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for DNP3 over TLS (IEC 62351-3 style): the peer's CA, our certificate and key."""

    peer_ca: str
    cert: str
    key: str

    def config(self) -> Any:
        return dnp3.TLSConfig(self.peer_ca, self.cert, self.key)

    @classmethod
    def in_folder(cls, folder: Path | None, side: str) -> TlsFiles | None:
        """`ca.pem`, `<side>.pem`, `<side>.key` in `folder` (None: no TLS); FileNotFoundError names
        the missing ones."""
        if folder is None:
            return None
        files = [folder / n for n in ("ca.pem", f"{side}.pem", f"{side}.key")]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise FileNotFoundError(f"TLS files not found: {', '.join(missing)}")
        return cls(*(str(f) for f in files))


def now_ms() -> int:
    return int(time.time() * 1000)


class ChannelListener(dnp3.IChannelListener):  # type: ignore[misc]
    """Relays OPEN / CLOSED / OPENING / SHUTDOWN to a callback taking the state name."""

    def __init__(self, on_state: Callable[[str], None]) -> None:
        super().__init__()
        self._on_state = on_state

    def OnStateChange(self, state: Any) -> None:
        self._on_state(str(state.name))


def retry(min_s: float, max_s: float) -> Any:
    """Reconnect back-off: opendnp3 doubles the delay from min to max after each failed open."""
    return dnp3.ChannelRetry(
        dnp3.TimeDuration.Milliseconds(int(min_s * 1000)), dnp3.TimeDuration.Milliseconds(int(max_s * 1000))
    )
