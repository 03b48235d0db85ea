"""Test helpers: a real `stickybucket serve` process, SDK instances that never touch the network."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import requests
from optimizely import optimizely
from optimizely import logger as optimizely_logger
from optimizely.event.event_processor import ForwardingEventProcessor
from optimizely.helpers.sdk_settings import OptimizelySdkSettings
from optimizely.user_profile import UserProfileService

CLIENT_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = CLIENT_DIR.parent.parent
FIXTURE_DIR = REPO_ROOT / "clients" / "testdata" / "sticky"
EXAMPLE_DATAFILE = REPO_ROOT / "examples" / "datafile-v1.json"

_built: Optional[str] = None
_build_lock = threading.Lock()


def stickybucket_bin() -> str:
    """The server binary: $STICKYBUCKET_BIN, else built once with go build."""
    global _built
    env = os.environ.get("STICKYBUCKET_BIN")
    if env:
        return env
    with _build_lock:
        if _built is None:
            out = Path(tempfile.mkdtemp(prefix="stickybucket-py-")) / "stickybucket"
            subprocess.run(["go", "build", "-o", str(out), "./cmd/stickybucket"], cwd=REPO_ROOT,
                           check=True, timeout=300)
            _built = str(out)
        return _built


class Serve:
    """One `stickybucket serve` process on a free loopback port, in-memory store."""

    def __init__(self, tokens: Sequence[str] = (), datafile: Path = EXAMPLE_DATAFILE) -> None:
        env = dict(os.environ)
        env.pop("STICKYBUCKET_API_TOKENS", None)
        if tokens:
            env["STICKYBUCKET_API_TOKENS"] = ",".join(tokens)
        self.log: List[str] = []
        self._ready = threading.Event()
        self._paused = False
        self.port = 0
        self.proc = subprocess.Popen(
            [stickybucket_bin(), "serve", "--listen", "127.0.0.1:0", "--admin-listen", "off",
             "--datafile", f"k={datafile}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(15) or not self.port:
            self.stop()
            raise RuntimeError("stickybucket serve did not get ready:\n" + "\n".join(self.log[-20:]))
        self.url = f"http://127.0.0.1:{self.port}"
        self.http = requests.Session()
        self.http.trust_env = False
        if tokens:
            self.http.headers["Authorization"] = f"Bearer {tokens[0]}"

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:  # drains the pipe until the process ends
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.log.append(line)
            if not self._ready.is_set():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec.get("msg") == "ready to serve":
                    self.port = int(rec["listen"][0].rsplit(":", 1)[1])
                    self._ready.set()
        self._ready.set()

    # -- the process ----------------------------------------------------------

    def _states(self) -> List[str]:
        """The scheduler state of each of the process's threads (R, S, T for stopped, ...)."""
        states = []
        for stat in Path(f"/proc/{self.proc.pid}/task").glob("*/stat"):
            try:
                states.append(stat.read_text().rsplit(")", 1)[1].split()[0])
            except (OSError, IndexError):
                pass
        return states

    def pause(self) -> None:
        """SIGSTOP, and wait until every thread is stopped (kill returns before they are)."""
        self.proc.send_signal(signal.SIGSTOP)
        self._paused = True
        if not wait_until(lambda: all(s == "T" for s in self._states()), 5, 0.001):
            raise RuntimeError(f"serve did not stop: {self._states()}")

    def resume(self) -> None:
        if self._paused:
            self.proc.send_signal(signal.SIGCONT)
            self._paused = False
            wait_until(lambda: "T" not in self._states(), 5, 0.001)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.resume()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(5)
        http = getattr(self, "http", None)
        if http is not None:
            http.close()

    def __enter__(self) -> "Serve":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the routes, straight ---------------------------------------------------

    def profile(self, user_id: str) -> Dict[str, str]:
        """GET /v1/profiles/{id}: experiment ID -> variation ID."""
        r = self.http.get(f"{self.url}/v1/profiles/{requests.utils.quote(user_id, safe='')}", timeout=5)
        r.raise_for_status()
        return {k: v["variation_id"] for k, v in r.json()["experimentBucketMap"].items()}

    def delete(self, user_id: str) -> int:
        r = self.http.delete(f"{self.url}/v1/profiles/{requests.utils.quote(user_id, safe='')}", timeout=5)
        return r.status_code

    def save(self, user_id: str, bucket_map: Dict[str, str], only_new: bool = False) -> Dict[str, int]:
        r = self.http.post(f"{self.url}/v1/ups/save" + ("?only_new=true" if only_new else ""),
                           json={"user_id": user_id,
                                 "experiment_bucket_map": {k: {"variation_id": v} for k, v in bucket_map.items()}},
                           timeout=5)
        r.raise_for_status()
        return r.json()


class NoDispatch:
    """An event dispatcher that sends nothing."""

    @staticmethod
    def dispatch_event(event: Any) -> None:
        pass


def make_optimizely(datafile: Any, ups: Optional[UserProfileService] = None,
                    logger: Optional[optimizely_logger.Logger] = None) -> optimizely.Optimizely:
    """An SDK instance on datafile (a dict or JSON text) that sends no events and does no ODP."""
    text = datafile if isinstance(datafile, str) else json.dumps(datafile)
    client = optimizely.Optimizely(
        text,
        user_profile_service=ups,
        logger=logger,
        event_processor=ForwardingEventProcessor(NoDispatch()),
        settings=OptimizelySdkSettings(odp_disabled=True),
    )
    if not client.is_valid or client.config_manager.get_config() is None:
        raise AssertionError("the SDK rejected the datafile")
    return client


class DictProfileService(UserProfileService):
    """The in-memory profile service the differential compares against."""

    def __init__(self) -> None:
        self.profiles: Dict[str, Dict[str, Any]] = {}

    def lookup(self, user_id: str) -> Dict[str, Any]:
        p = self.profiles.get(user_id)
        if p is None:
            return {"user_id": user_id, "experiment_bucket_map": {}}
        return json.loads(json.dumps(p))  # a copy: the SDK changes the dict it gets

    def save(self, user_profile: Dict[str, Any]) -> None:
        self.profiles[user_profile["user_id"]] = json.loads(json.dumps(user_profile))


def decision_tuple(d: Any) -> tuple:
    """What two decisions must agree on."""
    return (d.flag_key, d.variation_key, d.enabled, d.rule_key, json.dumps(d.variables, sort_keys=True))


def wait_until(cond: Any, timeout: float, interval: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(interval)
    return bool(cond())
