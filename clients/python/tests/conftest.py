from __future__ import annotations

from typing import Iterator

import pytest

from support import Serve


@pytest.fixture
def serve() -> Iterator[Serve]:
    """A fresh `stickybucket serve` (in-memory store), stopped after the test."""
    s = Serve()
    try:
        yield s
    finally:
        s.stop()
