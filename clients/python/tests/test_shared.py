"""Two SDK processes share users' assignments through one `serve`; DELETE /v1/profiles/{id} lets them bucket afresh."""

from __future__ import annotations

import copy
import json
import selectors
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

from support import EXAMPLE_DATAFILE, Serve, make_optimizely

FLAG = "new_search"
ATTRS = {"plan": "pro", "app_version": "3.2.0", "country": "de"}
HERE = Path(__file__).resolve().parent


class SDKProcess:
    """tests/sdk_process.py in its own interpreter, one request at a time, each bounded in time."""

    def __init__(self, base_url: str, datafile: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, str(HERE / "sdk_process.py"), base_url, str(datafile)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._sel = selectors.DefaultSelector()
        assert self.proc.stdout is not None
        self._sel.register(self.proc.stdout, selectors.EVENT_READ)
        assert self._read(30) == {"ready": True}

    def _read(self, timeout: float) -> Any:
        assert self.proc.stdout is not None
        if not self._sel.select(timeout):
            raise TimeoutError("the SDK process did not answer")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the SDK process ended ({self.proc.wait(5)})")
        return json.loads(line)

    def decide(self, user: str) -> Dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"user": user, "flag": FLAG, "attributes": ATTRS}) + "\n")
        self.proc.stdin.flush()
        return self._read(10)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._sel.close()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def fresh(datafile: Dict[str, Any], user: str) -> str:
    sdk = make_optimizely(datafile)
    try:
        return sdk.create_user_context(user, dict(ATTRS)).decide(FLAG).variation_key
    finally:
        sdk.close()


def test_two_processes_share_assignments_and_delete_rebuckets(serve: Serve, tmp_path: Path) -> None:
    v1 = json.loads(EXAMPLE_DATAFILE.read_text())
    # v2: search_experiment gives every user "semantic" (4006).
    v2 = copy.deepcopy(v1)
    exp = next(e for e in v2["experiments"] if e["key"] == "search_experiment")
    exp["trafficAllocation"] = [{"entityId": "4006", "endOfRange": 10000}]
    v2_path = tmp_path / "datafile-v2.json"
    v2_path.write_text(json.dumps(v2))
    # Users v1 buckets into "classic", so that v2 alone would move them.
    users: List[str] = [u for u in (f"shared-{i}" for i in range(200)) if fresh(v1, u) == "classic"][:8]
    assert len(users) == 8 and all(fresh(v2, u) == "semantic" for u in users)

    p1 = SDKProcess(serve.url, EXAMPLE_DATAFILE)
    p2 = SDKProcess(serve.url, v2_path)
    try:
        for u in users:
            assert p1.decide(u)["variation_key"] == "classic"  # p1 buckets and saves
        for u in users:
            # p2's datafile would say semantic; the profile p1 saved says classic.
            assert p2.decide(u)["variation_key"] == "classic"
            assert serve.profile(u) == {"3003": "4005"}
        deleted, kept = users[:4], users[4:]
        for u in deleted:
            assert serve.delete(u) == 204
            assert serve.profile(u) == {}
        t0 = time.monotonic()
        for u in deleted:
            assert p2.decide(u)["variation_key"] == "semantic"  # bucketed afresh, and saved
            assert serve.profile(u) == {"3003": "4006"}
            assert p1.decide(u)["variation_key"] == "semantic"  # p1 follows the new assignment
        for u in kept:
            assert p2.decide(u)["variation_key"] == "classic"
            last = p1.decide(u)
            assert last["variation_key"] == "classic"
        assert time.monotonic() - t0 < 10
        s1, s2 = last["stats"], p2.decide(kept[0])["stats"]
        for s in (s1, s2):
            assert s["lookup_failures"] == 0 and s["save_failures"] == 0
        assert s2["lookups_found"] > 0 and s1["saves_ok"] == len(users)
    finally:
        p1.close()
        p2.close()
    assert p1.proc.returncode == 0 and p2.proc.returncode == 0
