"""What Agent's acceptance suite is expected to do here (see
stickybucket_acceptance.py for how each list is applied). Test IDs are
file::test[parameters]; EXCLUDED also takes file::test (every parameter)
or a file."""

# Tests neither target runs, with the reason. They need the network or a
# feature stickybucket does not serve (ODP, CMAB, holdouts, redis), or a
# configuration of Agent the suite's own Makefile leaves out.
EXCLUDED = {
    "test_odp_decide.py": "ODP (audience segments from Optimizely's ODP service): out of scope, and needs the network",
    "test_odp_redis.py": "ODP segments cached in redis: out of scope, needs a redis server",
    "test_send_odp_event.py": "ODP events: out of scope, and needs the network",
    "test_datafile.py::test_datafile_success_odp": "the ODP project's datafile (another SDK key, fetched from Optimizely's CDN): needs the network",
    "test_cmab.py": "CMAB (contextual bandits decided by Optimizely's prediction service): out of scope, and needs the network",
    "test_decide_holdouts.py": "holdouts (another SDK key, fetched from Optimizely's CDN): out of scope, and needs the network",
    "test_decide_holdouts_simple.py": "holdouts: out of scope",
    "test_decide.py::test_decide__feature_no_ups": "expects Agent without a profile service; Agent's own Makefile deselects it (test-acceptance)",
    "test_decide.py::test_decide__flag_key_parameter_no_ups": "expects Agent without a profile service; Agent's own Makefile deselects it (test-acceptance)",
    "test_activate.py::test_activate__type": "activates every flag, cmab_flag among them, which Agent decides through Optimizely's CMAB prediction service: needs the network (offline Agent fails both parameters; CMAB is out of scope)",
    "test_activate.py::test_activate_with_config": "activates cmab_flag among the others (CMAB prediction service): needs the network; CMAB is out of scope",
    "test_batch.py::test_batch_valid_response__multiple_operations": "one operation names another SDK key (TkB2xhu8WEAHa4LphN3xZ2) whose datafile comes from Optimizely's CDN: needs the network",
}

# Tests Agent passes offline and serve does not yet, with the reason and
# the item of issue 18 that will close each. A gap that starts passing
# fails the serve run: then remove it here.
KNOWN_GAPS: dict[str, tuple[str, str]] = {}
