"""The users whose lookup failed, so that the save that follows writes only new entries."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Callable, Tuple

_Key = Tuple[str, int]


class FailedLookups:
    """Remembers (user, thread) pairs whose last lookup failed, bounded in size and time.

    The SDK looks a profile up and saves it back on the thread that decides,
    one after the other, so the pair names exactly the save that follows a
    failed lookup: another thread's save of the same user, which followed a
    lookup that worked, is not held back. A successful lookup on the same
    thread forgets the pair; so does the save that uses it, and time (ttl).
    When cap pairs are held the oldest is forgotten first (counted in evicted).
    """

    def __init__(self, cap: int, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        if cap < 1:
            raise ValueError("failed_lookup_cap must be at least 1")
        self._cap = cap
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        # Insertion order is expiry order: every entry lives ttl from its (re)insertion.
        self._expiry: "OrderedDict[_Key, float]" = OrderedDict()
        self.evicted = 0

    def _purge(self, now: float) -> None:
        expiry = self._expiry
        while expiry:
            key, deadline = next(iter(expiry.items()))
            if deadline > now:
                return
            del expiry[key]

    def failed(self, user_id: str) -> None:
        key = (user_id, threading.get_ident())
        now = self._clock()
        with self._lock:
            self._purge(now)
            self._expiry.pop(key, None)
            self._expiry[key] = now + self._ttl
            while len(self._expiry) > self._cap:
                self._expiry.popitem(last=False)
                self.evicted += 1

    def succeeded(self, user_id: str) -> None:
        if not self._expiry:  # the common case costs no lock
            return
        with self._lock:
            self._expiry.pop((user_id, threading.get_ident()), None)

    def take(self, user_id: str) -> bool:
        """True (and forgotten) if this thread's last lookup of user_id failed within ttl."""
        if not self._expiry:
            return False
        now = self._clock()
        with self._lock:
            deadline = self._expiry.pop((user_id, threading.get_ident()), None)
            return deadline is not None and deadline > now

    def __len__(self) -> int:
        with self._lock:
            self._purge(self._clock())
            return len(self._expiry)
