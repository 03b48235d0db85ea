"""Fail-open against a real `stickybucket serve`: stopped (SIGTERM), paused (SIGSTOP), 401."""

from __future__ import annotations

import json
import time
from typing import Any, Dict, List, Optional

import pytest

from stickybucket import StickyBucketProfileService
from support import EXAMPLE_DATAFILE, Serve, decision_tuple, make_optimizely, wait_until

TIMEOUT = 0.2
# How long a decide may take when the server does not answer: its lookup and
# (sync) its save each wait TIMEOUT at most; the rest is slack for a busy machine.
SLACK = 0.5
FLAG = "new_search"
EXPERIMENT_ID = "3003"  # search_experiment, the experiment of new_search
VARIATIONS = {"4005": "classic", "4006": "semantic"}
ATTRS = {"plan": "pro", "app_version": "3.2.0", "country": "de"}
DATAFILE = EXAMPLE_DATAFILE.read_text()


def fresh_variation(user_id: str) -> str:
    """The variation ID the SDK buckets user_id into without a profile."""
    sdk = make_optimizely(DATAFILE)
    try:
        key = sdk.create_user_context(user_id, dict(ATTRS)).decide(FLAG).variation_key
    finally:
        sdk.close()
    return next(vid for vid, k in VARIATIONS.items() if k == key)


def other(variation_id: str) -> str:
    return next(v for v in VARIATIONS if v != variation_id)


def decide(sdk: Any, user_id: str) -> "tuple[Any, float]":
    t0 = time.monotonic()
    d = sdk.create_user_context(user_id, dict(ATTRS)).decide(FLAG)
    return d, time.monotonic() - t0


def seed_sticky(serve: Serve, users: List[str]) -> Dict[str, str]:
    """Store for each user the variation fresh bucketing would NOT give; returns it."""
    sticky = {u: other(fresh_variation(u)) for u in users}
    for u, v in sticky.items():
        serve.save(u, {EXPERIMENT_ID: v})
    return sticky


USERS = [f"failopen-{i}" for i in range(6)]


def test_stopped_server(serve: Serve) -> None:
    sticky = seed_sticky(serve, USERS)
    svc = StickyBucketProfileService(serve.url, timeout=TIMEOUT)
    sdk = make_optimizely(DATAFILE, svc)
    plain = make_optimizely(DATAFILE)
    try:
        for u in USERS:  # up: the stored variations win
            d, _ = decide(sdk, u)
            assert d.variation_key == VARIATIONS[sticky[u]]
        serve.stop()
        for u in USERS:  # down: decisions go on, as without profiles
            d, took = decide(sdk, u)
            assert decision_tuple(d) == decision_tuple(plain.create_user_context(u, dict(ATTRS)).decide(FLAG))
            assert d.variation_key == VARIATIONS[other(sticky[u])]
            assert took < 2 * TIMEOUT + SLACK, took
        st = svc.stats()
    finally:
        sdk.close()
        plain.close()
        svc.close()
    assert st.lookups == 2 * len(USERS) and st.lookups_found == len(USERS)
    assert st.lookup_failures.connection == len(USERS) and st.lookup_failures.total == len(USERS)
    assert st.save_failures.connection == len(USERS) and st.saves_only_new == len(USERS)


@pytest.mark.parametrize("async_save", [False, True])
def test_paused_server(serve: Serve, async_save: bool) -> None:
    sticky = seed_sticky(serve, USERS)
    svc = StickyBucketProfileService(serve.url, timeout=TIMEOUT, async_save=async_save, retry_backoff=0.05,
                                     save_retries=20)
    sdk = make_optimizely(DATAFILE, svc)
    try:
        decide(sdk, "warm-up")  # a keep-alive connection is open before the pause
        svc.flush(5)
        serve.pause()
        try:
            took: List[float] = []
            for u in USERS:
                d, t = decide(sdk, u)
                took.append(t)
                assert d.variation_key == VARIATIONS[other(sticky[u])]  # decided without the profile
            paused = svc.stats()
        finally:
            serve.resume()
        assert max(took) < (1 if async_save else 2) * TIMEOUT + SLACK, took
        assert min(took) >= TIMEOUT * 0.9, took  # the lookups did wait for the server
        assert paused.lookup_failures.timeout == len(USERS) and paused.lookup_failures.total == len(USERS)
        assert paused.saves_only_new == len(USERS)
        if async_save:
            assert svc.flush(10)  # the queued saves get through once the server is back
        st = svc.stats()
        if async_save:
            assert st.saves_ok == 1 + len(USERS) and st.save_failures.total == 0, st
        else:
            assert st.save_failures.timeout == len(USERS), st
        # Whatever arrived went with only_new=true: the stored variations survived.
        for u in USERS:
            assert serve.profile(u) == {EXPERIMENT_ID: sticky[u]}
            d, _ = decide(sdk, u)
            assert d.variation_key == VARIATIONS[sticky[u]]
    finally:
        sdk.close()
        svc.close()


class ResumeAfterLookup(StickyBucketProfileService):
    """Once armed, resumes the paused server right after lookup returns, so the save that follows reaches it."""

    def __init__(self, serve: Serve, **kwargs: Any) -> None:
        super().__init__(serve.url, **kwargs)
        self._serve = serve
        self.armed = False

    def lookup(self, user_id: str) -> Dict[str, Any]:
        profile = super().lookup(user_id)
        if self.armed:
            self.armed = False
            self._serve.resume()
            assert wait_until(self._up, 10)
        return profile

    def _up(self) -> bool:
        try:
            return self._serve.http.get(self._serve.url + "/v1/profiles/probe", timeout=0.5).status_code == 200
        except Exception:
            return False


def test_save_after_a_failed_lookup_keeps_the_stored_variation(serve: Serve) -> None:
    """Lookup times out (server paused), the save reaches the server (resumed): only_new keeps stickiness."""
    user, control = "sticky-survivor", "sticky-control"
    sticky = seed_sticky(serve, [user, control])
    svc = ResumeAfterLookup(serve, timeout=TIMEOUT)
    sdk = make_optimizely(DATAFILE, svc)
    try:
        decide(sdk, "warm-up")
        svc.armed = True
        serve.pause()
        try:
            d, _ = decide(sdk, user)
        finally:
            serve.resume()
        fresh = other(sticky[user])
        assert d.variation_key == VARIATIONS[fresh]  # decided without the stored profile
        st = svc.stats()
        assert st.lookup_failures.timeout == 1 and st.saves_only_new == 1
        assert st.saves_ok == 2 and st.save_failures.total == 0  # the save did reach the server
        # The warm-up's entry was written; the user's stored entry was kept (the server counts it unchanged).
        assert st.entries_written == 1 and st.entries_unchanged == 1
        assert serve.profile(user) == {EXPERIMENT_ID: sticky[user]}
        d, _ = decide(sdk, user)
        assert d.variation_key == VARIATIONS[sticky[user]]
        # The control: the same save without only_new would have replaced it.
        serve.save(control, {EXPERIMENT_ID: other(sticky[control])})
        assert serve.profile(control) == {EXPERIMENT_ID: other(sticky[control])}
    finally:
        serve.resume()
        sdk.close()
        svc.close()


def test_token_required() -> None:
    token = "python-client-token-0123"
    with Serve(tokens=[token]) as serve:
        plain = make_optimizely(DATAFILE)
        without = StickyBucketProfileService(serve.url, timeout=2)
        with_token = StickyBucketProfileService(serve.url, timeout=2, token=token)
        a, b = make_optimizely(DATAFILE, without), make_optimizely(DATAFILE, with_token)
        try:
            da, _ = decide(a, "token-user")
            db, _ = decide(b, "token-user")
            want = decision_tuple(plain.create_user_context("token-user", dict(ATTRS)).decide(FLAG))
            assert decision_tuple(da) == decision_tuple(db) == want
            sa, sb = without.stats(), with_token.stats()
        finally:
            for c in (a, b, plain):
                c.close()
            without.close()
            with_token.close()
        assert dict(sa.lookup_failures.http_status) == {401: 1} and dict(sa.save_failures.http_status) == {401: 1}
        assert sb.lookup_failures.total == 0 and sb.saves_ok == 1
        assert serve.profile("token-user") == {EXPERIMENT_ID: fresh_variation("token-user")}


def test_no_profile_for_the_legacy_api_either(serve: Serve) -> None:
    """activate/get_variation: the stopped server gives the fresh variation, and nothing raises."""
    sticky = seed_sticky(serve, ["legacy-user"])
    svc = StickyBucketProfileService(serve.url, timeout=TIMEOUT)
    sdk = make_optimizely(DATAFILE, svc)
    try:
        assert sdk.activate("search_experiment", "legacy-user", dict(ATTRS)) == VARIATIONS[sticky["legacy-user"]]
        serve.stop()
        got = sdk.get_variation("search_experiment", "legacy-user", dict(ATTRS))
        assert got == VARIATIONS[other(sticky["legacy-user"])]
        assert svc.stats().lookup_failures.connection == 1
    finally:
        sdk.close()
        svc.close()
    json.dumps(dict(svc.stats().lookup_failures.http_status))  # the snapshot stays readable after close
