"""The sticky differential: the SDK with stickybucket against the SDK with an in-memory profile service.

For each generated fixture (clients/testdata/sticky): phase 1 decides every
flag and activates every experiment of datafile_v1 for every user with
instance A (this client, a fresh serve) and instance B (a dict); phase 2 does
the same on datafile_v2 with new instances over the same server and the same
dict. A and B must agree request by request. Phase 2 also decides with an SDK
that has no profile service: across the fixtures some of its decisions must
differ, or the test would not show that profiles are used at all.
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import pytest

from stickybucket import StickyBucketProfileService, Stats
from support import FIXTURE_DIR, DictProfileService, Serve, decision_tuple, make_optimizely

SEEDS = sorted(int(p.stem.split("-")[1]) for p in FIXTURE_DIR.glob("seed-*.json"))


@dataclass
class Outcome:
    requests: int = 0
    mismatches: List[str] = field(default_factory=list)
    differ_without_profiles: int = 0
    users_with_stored_profile: int = 0
    stored_vs_dict: List[str] = field(default_factory=list)
    stats: List[Stats] = field(default_factory=list)


def _attrs(user: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    a = user.get("attributes")
    return copy.deepcopy(a) if a is not None else None


def _compare_stored(serve: Serve, ups: DictProfileService, users: List[Dict[str, Any]], phase: str,
                    out: Outcome) -> int:
    held = 0
    for u in users:
        stored = serve.profile(u["user_id"])
        want = {k: v["variation_id"] for k, v in
                ups.profiles.get(u["user_id"], {}).get("experiment_bucket_map", {}).items()}
        if stored:
            held += 1
        if stored != want:
            out.stored_vs_dict.append(f"{phase} {u['user_id']!r}: server {stored} dict {want}")
    return held


def _phase(fx: Dict[str, Any], version: str, a_ups: StickyBucketProfileService, b_ups: DictProfileService,
           out: Outcome, with_control: bool) -> None:
    datafile = fx[f"datafile_{version}"]
    a = make_optimizely(datafile, a_ups)
    b = make_optimizely(datafile, b_ups)
    c = make_optimizely(datafile) if with_control else None
    try:
        for user in fx["users"]:
            uid = user["user_id"]
            ua = a.create_user_context(uid, _attrs(user))
            ub = b.create_user_context(uid, _attrs(user))
            uc = c.create_user_context(uid, _attrs(user)) if c else None
            for flag in fx[f"flags_{version}"]:
                da, db = decision_tuple(ua.decide(flag)), decision_tuple(ub.decide(flag))
                out.requests += 1
                if da != db:
                    out.mismatches.append(f"{version} decide {uid!r} {flag}: stickybucket {da} dict {db}")
                if uc is not None and decision_tuple(uc.decide(flag)) != db:
                    out.differ_without_profiles += 1
            for exp in fx[f"experiments_{version}"]:
                va, vb = a.activate(exp, uid, _attrs(user)), b.activate(exp, uid, _attrs(user))
                out.requests += 1
                if va != vb:
                    out.mismatches.append(f"{version} activate {uid!r} {exp}: stickybucket {va!r} dict {vb!r}")
                if c is not None and c.activate(exp, uid, _attrs(user)) != vb:
                    out.differ_without_profiles += 1
            # decide_all: one lookup and one save for every flag at once.
            all_a = {k: decision_tuple(d) for k, d in ua.decide_all().items()}
            all_b = {k: decision_tuple(d) for k, d in ub.decide_all().items()}
            out.requests += 1
            if all_a != all_b:
                out.mismatches.append(f"{version} decide_all {uid!r}: stickybucket {all_a} dict {all_b}")
    finally:
        for client in (a, b, c):
            if client is not None:
                client.close()


@functools.lru_cache(maxsize=None)
def run_fixture(seed: int) -> Outcome:
    fx = json.loads((FIXTURE_DIR / f"seed-{seed}.json").read_text(encoding="utf-8"))
    out = Outcome()
    dict_ups = DictProfileService()
    with Serve() as serve:
        # A generous timeout: a lookup that timed out here would decide without
        # the profile and fail the comparison for a reason that is not stickiness.
        ups1 = StickyBucketProfileService(serve.url, timeout=5.0)
        _phase(fx, "v1", ups1, dict_ups, out, with_control=False)
        ups1.close()
        out.stats.append(ups1.stats())
        out.users_with_stored_profile = _compare_stored(serve, dict_ups, fx["users"], "v1", out)

        ups2 = StickyBucketProfileService(serve.url, timeout=5.0)
        _phase(fx, "v2", ups2, dict_ups, out, with_control=True)
        ups2.close()
        out.stats.append(ups2.stats())
        _compare_stored(serve, dict_ups, fx["users"], "v2", out)
    return out


@pytest.mark.parametrize("seed", SEEDS)
def test_sticky_differential(seed: int) -> None:
    out = run_fixture(seed)
    assert out.requests > 0
    assert not out.mismatches, f"{len(out.mismatches)} of {out.requests} differ:\n" + "\n".join(out.mismatches[:20])
    assert not out.stored_vs_dict, "\n".join(out.stored_vs_dict[:20])
    for st in out.stats:
        # No request failed, so the comparison was of stickiness, not of fail-open.
        assert st.lookup_failures.total == 0 and st.save_failures.total == 0, st
        assert st.saves_only_new == 0 and st.saves_ok == st.saves, st
        assert st.lookups > 0
    assert out.stats[1].lookups_found > 0, "phase 2 found no stored profile"


def test_profiles_matter_and_are_stored() -> None:
    outs = [run_fixture(seed) for seed in SEEDS]
    assert len(outs) >= 6
    # Without a profile service some phase-2 decisions come out differently.
    assert sum(o.differ_without_profiles for o in outs) > 0
    # The server holds the profiles (GET /v1/profiles/{id}), in every fixture.
    assert all(o.users_with_stored_profile > 0 for o in outs), [o.users_with_stored_profile for o in outs]


def test_fixture_datafiles_as_they_are() -> None:
    """The SDK takes every fixture datafile as it is (the generator writes
    empty arrays, never null, where the SDK's schema wants arrays)."""
    rejected = []
    for seed in SEEDS:
        fx = json.loads((FIXTURE_DIR / f"seed-{seed}.json").read_text(encoding="utf-8"))
        for version in ("v1", "v2"):
            try:
                make_optimizely(fx[f"datafile_{version}"]).close()
            except AssertionError:
                rejected.append(f"seed-{seed} {version}")
    assert rejected == []
