"""The official Python SDK with stickybucket's client, for the integration tests.

    python decide.py BASE_URL TOKEN DATAFILE
    stdin:  {"user_id": "u", "flag": "new_search", "attributes": {...}}, one per line
    stdout: {"user_id": ..., "variation": ..., "rule": ..., "enabled": ...}, one per line

Events go nowhere and ODP is off. It ends at the end of its input.
"""

import json
import sys

import optimizely.optimizely as optimizely
from optimizely.event.event_processor import ForwardingEventProcessor
from optimizely.helpers.sdk_settings import OptimizelySdkSettings

from stickybucket import StickyBucketProfileService


class NoDispatch:
    def dispatch_event(self, event):  # noqa: D401 - the SDK's interface
        pass


def main() -> None:
    base_url, token, datafile = sys.argv[1], sys.argv[2], open(sys.argv[3]).read()
    ups = StickyBucketProfileService(base_url, token=token, timeout=5.0)
    sdk = optimizely.Optimizely(datafile, user_profile_service=ups,
                                event_processor=ForwardingEventProcessor(NoDispatch()),
                                settings=OptimizelySdkSettings(odp_disabled=True))
    for line in sys.stdin:
        req = json.loads(line)
        d = sdk.create_user_context(req["user_id"], req.get("attributes")).decide(req["flag"])
        print(json.dumps({"user_id": req["user_id"], "variation": d.variation_key,
                          "rule": d.rule_key, "enabled": d.enabled}), flush=True)
    st = ups.stats()
    failures = st.lookup_failures.total + st.save_failures.total
    sdk.close()
    ups.close()
    if failures:
        print(f"decide.py: {failures} lookups or saves failed", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
