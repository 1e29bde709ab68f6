"""Constants every layer shares, one definition each: the ANSI voltage band and the coordination
cycle's timing. Plain Python: engines import these as freely as adapters do."""
