"""Counters of the profile service and their typed snapshot."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Dict, Mapping

# Kinds of failure, as counted and as logged.
TIMEOUT = "timeout"
CONNECTION = "connection"
HTTP_STATUS = "http_status"
BAD_RESPONSE = "bad_response"
OTHER = "other"
CLOSED = "closed"


@dataclass(frozen=True)
class FailureCounts:
    """Failed calls of one kind (lookup or save), by cause."""

    timeout: int = 0
    """No answer within the timeout (connect or read)."""
    connection: int = 0
    """Refused, reset or otherwise broken connections."""
    http_status: Mapping[int, int] = field(default_factory=lambda: MappingProxyType({}))
    """Answers other than 200, by status code (401, 503, ...)."""
    bad_response: int = 0
    """A 200 whose body is not the JSON expected."""
    other: int = 0
    """Anything else (an argument the service could not send, a bug)."""
    closed: int = 0
    """Lookups made after close(), answered "no profile" without asking the server."""

    @property
    def total(self) -> int:
        return (self.timeout + self.connection + sum(self.http_status.values()) + self.bad_response
                + self.other + self.closed)


@dataclass(frozen=True)
class Stats:
    """A snapshot of the service's counters since it was made."""

    lookups: int
    """lookup() calls."""
    lookups_found: int
    """Lookups that answered at least one stored assignment."""
    lookup_failures: FailureCounts
    """Lookups that answered "no profile" because the server could not be asked."""
    saves: int
    """save() calls."""
    saves_only_new: int
    """Saves sent (or queued) with ?only_new=true, after a failed lookup of that user."""
    saves_ok: int
    """Saves the server answered 200 to."""
    save_failures: FailureCounts
    """Saves given up (after their retries, with async_save), by the last cause."""
    save_retries: int
    """Attempts repeated by the background queue (async_save)."""
    saves_dropped_queue_full: int
    """Saves dropped because the background queue was full (async_save)."""
    saves_dropped_closed: int
    """Saves dropped because the service was closed, or left unsent when close() timed out."""
    queue_depth: int
    """Saves waiting in the background queue now, the one being sent included."""
    entries_written: int
    """Assignments the server wrote, as its save answers count them."""
    entries_unchanged: int
    """Assignments the server already held."""
    entries_lost: int
    """Assignments another writer had written first (first writer wins)."""
    failed_lookups_remembered: int
    """Users whose next save will go with only_new=true, now."""

    @property
    def saves_dropped(self) -> int:
        return self.saves_dropped_queue_full + self.saves_dropped_closed


class _FailureCounter:
    __slots__ = ("timeout", "connection", "http_status", "bad_response", "other", "closed")

    def __init__(self) -> None:
        self.timeout = 0
        self.connection = 0
        self.http_status: Dict[int, int] = {}
        self.bad_response = 0
        self.other = 0
        self.closed = 0

    def add(self, kind: str, status: int = 0) -> None:
        if kind == HTTP_STATUS:
            self.http_status[status] = self.http_status.get(status, 0) + 1
        elif kind == TIMEOUT:
            self.timeout += 1
        elif kind == CONNECTION:
            self.connection += 1
        elif kind == BAD_RESPONSE:
            self.bad_response += 1
        elif kind == CLOSED:
            self.closed += 1
        else:
            self.other += 1

    def snapshot(self) -> FailureCounts:
        return FailureCounts(
            timeout=self.timeout,
            connection=self.connection,
            http_status=MappingProxyType(dict(self.http_status)),
            bad_response=self.bad_response,
            other=self.other,
            closed=self.closed,
        )


class Counters:
    """The live counters; every change holds the lock (increments are not atomic in Python)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lookups = 0
        self.lookups_found = 0
        self.lookup_failures = _FailureCounter()
        self.saves = 0
        self.saves_only_new = 0
        self.saves_ok = 0
        self.save_failures = _FailureCounter()
        self.save_retries = 0
        self.saves_dropped_queue_full = 0
        self.saves_dropped_closed = 0
        self.entries_written = 0
        self.entries_unchanged = 0
        self.entries_lost = 0

    def snapshot(self, queue_depth: int, failed_lookups_remembered: int) -> Stats:
        with self.lock:
            return Stats(
                lookups=self.lookups,
                lookups_found=self.lookups_found,
                lookup_failures=self.lookup_failures.snapshot(),
                saves=self.saves,
                saves_only_new=self.saves_only_new,
                saves_ok=self.saves_ok,
                save_failures=self.save_failures.snapshot(),
                save_retries=self.save_retries,
                saves_dropped_queue_full=self.saves_dropped_queue_full,
                saves_dropped_closed=self.saves_dropped_closed,
                queue_depth=queue_depth,
                entries_written=self.entries_written,
                entries_unchanged=self.entries_unchanged,
                entries_lost=self.entries_lost,
                failed_lookups_remembered=failed_lookups_remembered,
            )
