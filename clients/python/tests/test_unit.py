"""The client alone, against a scripted local HTTP server (tests/localserver.py)."""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from typing import Iterator, List

import pytest
from optimizely import logger as optimizely_logger
from optimizely.user_profile import UserProfileService

from localserver import LocalServer, Reply, Request, default_reply, ok_json, profile_reply
from stickybucket import FailureCounts, Stats, StickyBucketProfileService
from stickybucket._marks import FailedLookups
from stickybucket._ratelimit import RateLimitedLog
from support import CLIENT_DIR, wait_until

PROFILE = {"user_id": "u1", "experiment_bucket_map": {"e1": {"variation_id": "v1"}}}


@pytest.fixture
def local() -> Iterator[LocalServer]:
    srv = LocalServer()
    try:
        yield srv
    finally:
        srv.close()


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def list_logger(name: str) -> "tuple[logging.Logger, ListHandler]":
    log = logging.getLogger(name)
    log.handlers = []
    handler = ListHandler()
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.DEBUG)
    return log, handler


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the interface ---------------------------------------------------------------


def test_is_the_sdks_user_profile_service() -> None:
    svc = StickyBucketProfileService("http://127.0.0.1:1")
    assert isinstance(svc, UserProfileService)
    svc.close()


def test_lookup_answers_the_stored_profile(local: LocalServer) -> None:
    local.respond = profile_reply({"e1": "v1", "e2": "v2"}, user_id="someone-else")
    with StickyBucketProfileService(local.url + "/") as svc:
        got = svc.lookup("u1")
        assert got == {"user_id": "u1", "experiment_bucket_map": {"e1": {"variation_id": "v1"},
                                                                    "e2": {"variation_id": "v2"}}}
        got["experiment_bucket_map"]["e3"] = {"variation_id": "x"}  # the SDK changes what it gets
        assert "e3" not in svc.lookup("u1")["experiment_bucket_map"]
        st = svc.stats()
    req = local.of("/v1/ups/lookup")[0]
    assert req.method == "POST" and req.path == "/v1/ups/lookup"
    assert req.json() == {"user_id": "u1"}
    assert req.headers["content-type"] == "application/json"
    assert "authorization" not in req.headers
    assert st.lookups == 2 and st.lookups_found == 2 and st.lookup_failures.total == 0


def test_unknown_user_is_an_empty_profile(local: LocalServer) -> None:
    with StickyBucketProfileService(local.url) as svc:
        assert svc.lookup("new") == {"user_id": "new", "experiment_bucket_map": {}}
        st = svc.stats()
    assert st.lookups == 1 and st.lookups_found == 0 and st.lookup_failures.total == 0


def test_token_is_sent_as_bearer(local: LocalServer) -> None:
    with StickyBucketProfileService(local.url, token="t0ken-of-16-bytes!") as svc:
        svc.lookup("u1")
        svc.save(PROFILE)
    assert [r.headers.get("authorization") for r in local.requests] == ["Bearer t0ken-of-16-bytes!"] * 2


def test_trust_env_reads_the_environment(local: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with StickyBucketProfileService(local.url, trust_env=True) as svc:
        assert svc.lookup("u1") == {"user_id": "u1", "experiment_bucket_map": {}}
        svc.save(PROFILE)
        st = svc.stats()
    assert st.lookup_failures.total == 0 and st.saves_ok == 1


def test_redirects_are_not_followed(local: LocalServer) -> None:
    local.respond = lambda req: (Reply(307, b"", content_type="text/plain", headers={"Location": "/elsewhere"})
                                 if req.path.startswith("/v1/") else default_reply(req))
    with StickyBucketProfileService(local.url) as svc:
        assert svc.lookup("u1") == {"user_id": "u1", "experiment_bucket_map": {}}
        st = svc.stats()
    assert dict(st.lookup_failures.http_status) == {307: 1} and len(local.requests) == 1


def test_bad_arguments_to_the_constructor() -> None:
    for kwargs in ({"base_url": "127.0.0.1:8080"}, {"base_url": "http://x", "token": ""},
                   {"base_url": "http://x", "token": "a\r\nX-Evil: 1"}, {"base_url": "http://x", "timeout": 0}):
        with pytest.raises(ValueError):
            StickyBucketProfileService(**kwargs)  # type: ignore[arg-type]


def test_save_sends_the_whole_profile(local: LocalServer) -> None:
    with StickyBucketProfileService(local.url) as svc:
        svc.save({"user_id": "u1", "experiment_bucket_map": {"e1": {"variation_id": "v1"},
                                                             "e2": {"variation_id": "v2"}}})
        st = svc.stats()
    req = local.of("/v1/ups/save")[0]
    assert req.path == "/v1/ups/save"
    assert req.json() == {"user_id": "u1", "experiment_bucket_map": {"e1": {"variation_id": "v1"},
                                                                     "e2": {"variation_id": "v2"}}}
    assert st.saves == 1 and st.saves_ok == 1 and st.entries_written == 2 and st.saves_only_new == 0


def test_stats_is_a_frozen_typed_snapshot(local: LocalServer) -> None:
    with StickyBucketProfileService(local.url) as svc:
        st = svc.stats()
    assert isinstance(st, Stats) and isinstance(st.lookup_failures, FailureCounts)
    with pytest.raises(dataclasses.FrozenInstanceError):
        st.lookups = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        st.lookup_failures.http_status[500] = 1  # type: ignore[index]


# -- fail open ---------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"experiment_bucket_map": []}',
                                  b'{"user_id": "u1", "experiment_bucket_map": {"e1": {}}}',
                                  b'{"user_id": "u1", "experiment_bucket_map": {"e1": {"variation_id": 7}}}'])
def test_bad_json_is_no_profile(local: LocalServer, body: bytes) -> None:
    local.respond = lambda req: Reply(200, body) if req.path.startswith("/v1/ups/lookup") else default_reply(req)
    with StickyBucketProfileService(local.url) as svc:
        assert svc.lookup("u1") == {"user_id": "u1", "experiment_bucket_map": {}}
        svc.save(PROFILE)
        st = svc.stats()
    assert st.lookup_failures.bad_response == 1 and st.lookup_failures.total == 1
    assert local.of("/v1/ups/save")[0].path == "/v1/ups/save?only_new=true"


@pytest.mark.parametrize("status", [500, 503, 401, 400])
def test_http_errors_are_counted_by_status(local: LocalServer, status: int) -> None:
    local.respond = lambda req: Reply(status, b'{"error":"nope"}')
    with StickyBucketProfileService(local.url) as svc:
        assert svc.lookup("u1") == {"user_id": "u1", "experiment_bucket_map": {}}
        assert svc.lookup("u1") == {"user_id": "u1", "experiment_bucket_map": {}}
        svc.save(PROFILE)  # must not raise
        st = svc.stats()
    assert dict(st.lookup_failures.http_status) == {status: 2}
    assert dict(st.save_failures.http_status) == {status: 1}
    assert st.saves_ok == 0 and st.saves == 1


def test_slow_answer_times_out(local: LocalServer) -> None:
    local.respond = lambda req: Reply(200, b'{"user_id":"u1","experiment_bucket_map":{}}', delay=3)
    with StickyBucketProfileService(local.url, timeout=0.2) as svc:
        t0 = time.monotonic()
        assert svc.lookup("u1") == {"user_id": "u1", "experiment_bucket_map": {}}
        elapsed = time.monotonic() - t0
        st = svc.stats()
    assert 0.15 <= elapsed < 1.0, elapsed
    assert st.lookup_failures.timeout == 1 and st.lookup_failures.total == 1


def test_refused_connection() -> None:
    with StickyBucketProfileService(f"http://127.0.0.1:{closed_port()}") as svc:
        assert svc.lookup("u1") == {"user_id": "u1", "experiment_bucket_map": {}}
        svc.save(PROFILE)
        st = svc.stats()
    assert st.lookup_failures.connection == 1 and st.save_failures.connection == 1
    assert st.saves_only_new == 1


def test_garbage_from_the_caller_never_raises(local: LocalServer) -> None:
    with StickyBucketProfileService(local.url) as svc:
        svc.save(None)  # type: ignore[arg-type]
        svc.save({"user_id": 5, "experiment_bucket_map": {}})
        svc.save({"user_id": "u", "experiment_bucket_map": {"e": "not a dict"}})
        assert svc.lookup(object())["experiment_bucket_map"] == {}  # type: ignore[arg-type]
        st = svc.stats()
    assert st.save_failures.other == 3 and st.lookup_failures.other == 1
    assert local.requests == []


# -- only_new after a failed lookup --------------------------------------------------


def test_only_new_follows_a_failed_lookup_once(local: LocalServer) -> None:
    fail = {"on": True}

    def respond(req: Request) -> Reply:
        if req.path.startswith("/v1/ups/lookup") and fail["on"]:
            return Reply(503, b'{"error":"store unavailable"}')
        return default_reply(req)

    local.respond = respond
    with StickyBucketProfileService(local.url) as svc:
        svc.lookup("u1")
        svc.save(PROFILE)  # follows the failed lookup
        svc.save(PROFILE)  # the mark was used
        fail["on"] = False
        svc.lookup("u2")
        svc.save({"user_id": "u2", "experiment_bucket_map": {}})
        fail["on"] = True
        svc.lookup("u3")
        fail["on"] = False
        svc.lookup("u3")  # a lookup that worked forgets the failed one
        svc.save({"user_id": "u3", "experiment_bucket_map": {}})
        st = svc.stats()
    assert [r.path for r in local.of("/v1/ups/save")] == [
        "/v1/ups/save?only_new=true", "/v1/ups/save", "/v1/ups/save", "/v1/ups/save"]
    assert st.saves_only_new == 1 and st.failed_lookups_remembered == 0


def test_only_new_pairs_lookup_and_save_on_one_thread(local: LocalServer) -> None:
    local.respond = lambda req: (Reply(500, b"{}") if req.path.startswith("/v1/ups/lookup")
                                 else default_reply(req))
    with StickyBucketProfileService(local.url) as svc:
        t = threading.Thread(target=svc.lookup, args=("u1",))
        t.start()
        t.join()
        svc.save(PROFILE)  # this thread's lookup of u1 did not fail
        assert svc.stats().failed_lookups_remembered == 1
        svc.lookup("u1")
        svc.save(PROFILE)
    assert [r.path for r in local.of("/v1/ups/save")] == ["/v1/ups/save", "/v1/ups/save?only_new=true"]


def test_failed_lookups_are_bounded_in_size_and_time() -> None:
    now = [0.0]
    marks = FailedLookups(cap=3, ttl=60, clock=lambda: now[0])
    for u in ("a", "b", "c", "d"):
        marks.failed(u)
    assert len(marks) == 3 and marks.evicted == 1
    assert not marks.take("a")  # the oldest went first
    assert marks.take("b") and not marks.take("b")
    now[0] = 59.9
    assert marks.take("c")
    now[0] = 60.1
    assert not marks.take("d") and len(marks) == 0
    marks.failed("e")
    marks.succeeded("e")
    assert not marks.take("e")


# -- connections -----------------------------------------------------------------


def test_keep_alive_reuses_one_connection(local: LocalServer) -> None:
    with StickyBucketProfileService(local.url) as svc:
        for i in range(20):
            svc.lookup(f"u{i}")
            svc.save({"user_id": f"u{i}", "experiment_bucket_map": {}})
    assert len(local.requests) == 40
    assert len({r.client for r in local.requests}) == 1


def test_concurrent_callers_share_a_bounded_pool(local: LocalServer) -> None:
    with StickyBucketProfileService(local.url, pool_maxsize=4) as svc:
        def work(n: int) -> None:
            for i in range(25):
                svc.lookup(f"t{n}-{i}")

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        st = svc.stats()
    assert st.lookups == 100 and st.lookup_failures.total == 0
    assert len({r.client for r in local.requests}) <= 4


# -- logging -----------------------------------------------------------------------


def test_failures_are_logged_rate_limited_per_kind(local: LocalServer) -> None:
    log, lines = list_logger("test.stickybucket.ratelimit")
    mode = {"kind": "500"}

    def respond(req: Request) -> Reply:
        if mode["kind"] == "500":
            return Reply(500, b'{"error":"boom"}')
        return Reply(200, b"{}", delay=2)

    local.respond = respond
    with StickyBucketProfileService(local.url, logger=log, log_interval=60, timeout=0.1) as svc:
        for _ in range(30):
            svc.lookup("u1")
        mode["kind"] = "slow"
        for _ in range(3):
            svc.lookup("u1")
        st = svc.stats()
    assert st.lookup_failures.total == 33
    assert len(lines.messages) == 2, lines.messages
    assert "HTTP 500" in lines.messages[0] and "boom" in lines.messages[0]
    assert "no answer within 0.1s" in lines.messages[1]


def test_rate_limited_log_counts_what_it_suppressed() -> None:
    now = [0.0]
    out: List[str] = []
    log = RateLimitedLog(out.append, 10, clock=lambda: now[0])
    assert log.log("a", "first")
    for _ in range(5):
        assert not log.log("a", "again")
    assert log.log("b", "other kind")
    now[0] = 10.0
    assert log.log("a", "later")
    now[0] = 25.0
    assert log.log("a", "quiet")
    assert out == ["first", "other kind", "later (5 more suppressed since the last such line)", "quiet"]


def test_optimizely_loggers_are_taken(local: LocalServer) -> None:
    class MyLogger(optimizely_logger.BaseLogger):
        def __init__(self) -> None:
            self.lines: List[str] = []

        def warning(self, message: str) -> None:  # type: ignore[override]
            self.lines.append(message)

    mine = MyLogger()
    local.respond = lambda req: Reply(503, b"{}")
    for logger in (mine, optimizely_logger.NoOpLogger(), optimizely_logger.SimpleLogger()):
        with StickyBucketProfileService(local.url, logger=logger) as svc:
            svc.lookup("u1")
    assert len(mine.lines) == 1 and "HTTP 503" in mine.lines[0]


def test_a_broken_logger_does_not_break_lookups(local: LocalServer) -> None:
    class Broken(optimizely_logger.BaseLogger):
        @staticmethod
        def warning(*args: object) -> None:
            raise RuntimeError("logger down")

    local.respond = lambda req: Reply(503, b"{}")
    with StickyBucketProfileService(local.url, logger=Broken()) as svc:
        assert svc.lookup("u1")["experiment_bucket_map"] == {}


# -- the background queue ------------------------------------------------------------


def test_async_saves_keep_order_through_retries(local: LocalServer) -> None:
    attempts = {"n": 0}

    def respond(req: Request) -> Reply:
        if req.path.startswith("/v1/ups/save"):
            attempts["n"] += 1
            if attempts["n"] <= 2:
                return Reply(503, b'{"error":"store unavailable"}')
        return default_reply(req)

    local.respond = respond
    svc = StickyBucketProfileService(local.url, async_save=True, retry_backoff=0.01)
    for i in range(10):
        svc.save({"user_id": "u1", "experiment_bucket_map": {"e1": {"variation_id": f"v{i}"}}})
    assert svc.flush(10)
    st = svc.stats()
    assert svc.close(5)
    saves = local.of("/v1/ups/save")
    sent = [r.json()["experiment_bucket_map"]["e1"]["variation_id"] for r in saves]
    assert sent == ["v0", "v0", "v0"] + [f"v{i}" for i in range(1, 10)]
    assert st.save_retries == 2 and st.saves_ok == 10 and st.save_failures.total == 0 and st.queue_depth == 0


def test_async_save_copies_the_profile(local: LocalServer) -> None:
    gate = threading.Event()
    local.respond = lambda req: (gate.wait(5), default_reply(req))[1]
    svc = StickyBucketProfileService(local.url, async_save=True, timeout=5)
    profile = {"user_id": "u1", "experiment_bucket_map": {"e1": {"variation_id": "v1"}}}
    svc.save(profile)
    profile["experiment_bucket_map"]["e1"]["variation_id"] = "changed"
    gate.set()
    assert svc.close(5)
    assert local.of("/v1/ups/save")[0].json()["experiment_bucket_map"] == {"e1": {"variation_id": "v1"}}


def test_async_gives_up_after_retries_and_not_on_4xx(local: LocalServer) -> None:
    local.respond = lambda req: Reply(503 if "u5" in req.body.decode() else 400, b"{}")
    svc = StickyBucketProfileService(local.url, async_save=True, save_retries=2, retry_backoff=0.01)
    svc.save({"user_id": "u5", "experiment_bucket_map": {}})
    svc.save({"user_id": "u4", "experiment_bucket_map": {}})
    assert svc.close(5)
    st = svc.stats()
    assert len(local.of("/v1/ups/save")) == 3 + 1
    assert dict(st.save_failures.http_status) == {503: 1, 400: 1} and st.save_retries == 2


def test_full_queue_drops_and_counts(local: LocalServer) -> None:
    log, lines = list_logger("test.stickybucket.queue")
    gate = threading.Event()
    local.respond = lambda req: (gate.wait(5), default_reply(req))[1]
    svc = StickyBucketProfileService(local.url, async_save=True, queue_size=3, timeout=5, logger=log)
    try:
        for i in range(10):
            svc.save({"user_id": f"u{i}", "experiment_bucket_map": {}})
        st = svc.stats()
        assert st.saves_dropped_queue_full == 7 and st.saves_dropped == 7 and st.queue_depth == 3
        assert len(lines.messages) == 1 and "queue full" in lines.messages[0]
    finally:
        gate.set()
    assert svc.close(5)
    assert [r.json()["user_id"] for r in local.of("/v1/ups/save")] == ["u0", "u1", "u2"]
    assert svc.stats().saves_ok == 3


def test_close_gives_up_in_time_and_counts_what_it_left(local: LocalServer) -> None:
    local.respond = lambda req: Reply(200, b"{}", delay=30)  # never in time
    svc = StickyBucketProfileService(local.url, async_save=True, timeout=0.1, save_retries=1000,
                                     retry_backoff=0.01)
    for i in range(5):
        svc.save({"user_id": f"u{i}", "experiment_bucket_map": {}})
    t0 = time.monotonic()
    assert not svc.close(timeout=0.3)
    assert time.monotonic() - t0 < 2.0
    st = svc.stats()
    assert st.saves_dropped_closed == 5 and st.queue_depth == 0 and st.saves_ok == 0
    # After close: saves are dropped, lookups answer no profile without a request.
    n = len(local.requests)
    svc.save(PROFILE)
    assert svc.lookup("u1") == {"user_id": "u1", "experiment_bucket_map": {}}
    st = svc.stats()
    assert st.saves_dropped_closed == 6 and st.lookup_failures.closed == 1
    assert len(local.requests) == n
    assert svc.close(0.1)  # twice is fine


def test_sync_close(local: LocalServer) -> None:
    svc = StickyBucketProfileService(local.url)
    assert svc.close()
    svc.save(PROFILE)
    assert svc.stats().saves_dropped_closed == 1 and local.requests == []


def test_queued_saves_are_sent_at_interpreter_exit(local: LocalServer) -> None:
    gate = threading.Event()
    local.respond = lambda req: (gate.wait(0.02) if req.path.startswith("/v1/ups/save") else None,
                                 default_reply(req))[1]
    script = (
        "import sys\n"
        "from stickybucket import StickyBucketProfileService\n"
        "svc = StickyBucketProfileService(sys.argv[1], async_save=True, timeout=5)\n"
        "for i in range(30):\n"
        "    svc.save({'user_id': f'exit{i}', 'experiment_bucket_map': {'e': {'variation_id': 'v'}}})\n"
        "print(svc.stats().queue_depth)\n"  # most are still queued when the script ends
    )
    done = subprocess.run([sys.executable, "-c", script, local.url], capture_output=True, text=True,
                          timeout=30, cwd=CLIENT_DIR)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip()) > 0
    assert sorted(r.json()["user_id"] for r in local.of("/v1/ups/save")) == sorted(f"exit{i}" for i in range(30))


def test_the_server_fixture_answers_posts_with_json(local: LocalServer) -> None:
    """The local server itself: a guard for the tests above."""
    local.respond = lambda req: ok_json({"ok": True})
    import requests

    with requests.Session() as http:
        http.trust_env = False
        r = http.post(local.url + "/x", data=b"{}", timeout=2)
    assert r.json() == {"ok": True}
    assert wait_until(lambda: len(local.requests) == 1, 2)
