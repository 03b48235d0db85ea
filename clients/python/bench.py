"""Benchmark: the SDK's decide with StickyBucketProfileService over loopback against an in-memory profile service.

    .venv/bin/python bench.py [--n 2000] [--warmup 200] [--url http://127.0.0.1:PORT]

Without --url it starts `stickybucket serve` ($STICKYBUCKET_BIN, else go build)
with the in-memory store. It decides flag new_search of examples/datafile-v1.json
with attributes {"plan": "pro", "app_version": "3.2.0", "country": "de"}, one
decide at a time on one thread, and prints p50/p99/mean per decide:

- returning user: one user over and over; each decide is a lookup that finds
  the stored variation (the SDK saves nothing);
- new users: a new user ID every time; each decide is a lookup and a save.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent / "tests"))

from optimizely.user_profile import UserProfileService  # noqa: E402

from stickybucket import StickyBucketProfileService  # noqa: E402
from support import EXAMPLE_DATAFILE, DictProfileService, Serve, make_optimizely  # noqa: E402

FLAG = "new_search"
ATTRS = {"plan": "pro", "app_version": "3.2.0", "country": "de"}


def measure(ups: Optional[UserProfileService], users: Callable[[int], str], n: int, warmup: int) -> List[float]:
    sdk = make_optimizely(EXAMPLE_DATAFILE.read_text(), ups)
    try:
        for i in range(warmup):
            sdk.create_user_context(users(-1 - i), dict(ATTRS)).decide(FLAG)
        took = []
        for i in range(n):
            t0 = time.perf_counter()
            d = sdk.create_user_context(users(i), dict(ATTRS)).decide(FLAG)
            took.append(time.perf_counter() - t0)
            assert d.variation_key is not None
        return took
    finally:
        sdk.close()


def row(name: str, took: List[float]) -> str:
    s = sorted(took)
    p = lambda q: s[min(len(s) - 1, int(q * len(s)))] * 1e6  # noqa: E731
    return f"| {name} | {p(0.50):.0f} | {p(0.99):.0f} | {statistics.fmean(took) * 1e6:.0f} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--url", help="a running serve (default: start one)")
    args = ap.parse_args()
    if not 1 <= args.n <= 100_000:
        ap.error("--n must be between 1 and 100000")

    serve = None if args.url else Serve()
    url = args.url or serve.url  # type: ignore[union-attr]
    run = uuid.uuid4().hex[:8]
    results: Dict[str, List[float]] = {}
    stats: Dict[str, Any] = {}
    try:
        returning = lambda i: f"bench-{run}-returning"  # noqa: E731
        fresh = lambda tag: (lambda i: f"bench-{run}-{tag}-{i}")  # noqa: E731

        results["in-memory dict, returning user"] = measure(DictProfileService(), returning, args.n, args.warmup)
        with StickyBucketProfileService(url) as ups:
            results["stickybucket, returning user (lookup)"] = measure(ups, returning, args.n, args.warmup)
            stats["returning"] = ups.stats()
        results["in-memory dict, new users"] = measure(DictProfileService(), fresh("dict"), args.n, args.warmup)
        with StickyBucketProfileService(url) as ups:
            results["stickybucket, new users (lookup + save)"] = measure(ups, fresh("sync"), args.n, args.warmup)
            stats["sync"] = ups.stats()
        with StickyBucketProfileService(url, async_save=True) as ups:
            results["stickybucket async_save, new users (lookup; save queued)"] = measure(
                ups, fresh("async"), args.n, args.warmup)
            ups.flush(30)
            stats["async"] = ups.stats()
        results["no profile service"] = measure(None, fresh("none"), args.n, args.warmup)
    finally:
        if serve is not None:
            serve.stop()

    print(f"{args.n} decides of {FLAG} after {args.warmup} warm-up, one thread; "
          f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}")
    print()
    print("| profile service | p50 µs | p99 µs | mean µs |")
    print("|---|---:|---:|---:|")
    for name, took in results.items():
        print(row(name, took))
    print()
    for name, st in stats.items():
        print(f"{name}: lookups={st.lookups} failures={st.lookup_failures.total} saves={st.saves} "
              f"saves_ok={st.saves_ok} save_failures={st.save_failures.total} dropped={st.saves_dropped}")


if __name__ == "__main__":
    main()
