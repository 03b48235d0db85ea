"""Logging at most one line per interval for each kind of message."""

from __future__ import annotations

import threading
import time
from typing import Callable, Dict, List


class RateLimitedLog:
    """Emits the first message of a kind, then at most one per interval.

    The messages of a kind that come within the interval are counted, and
    the next line of that kind says how many were suppressed.
    """

    def __init__(self, emit: Callable[[str], None], interval: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._emit = emit
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        # kind -> [time of the last line, messages suppressed since]
        self._state: Dict[str, List[float]] = {}

    def log(self, kind: str, message: str) -> bool:
        """Log message unless one of kind went out within the interval; True if it went out."""
        now = self._clock()
        with self._lock:
            state = self._state.get(kind)
            if state is not None and now - state[0] < self._interval:
                state[1] += 1
                return False
            suppressed = int(state[1]) if state is not None else 0
            self._state[kind] = [now, 0]
        if suppressed:
            message = f"{message} ({suppressed} more suppressed since the last such line)"
        try:
            self._emit(message)
        except Exception:  # a broken logger must not break the SDK's decisions
            pass
        return True
