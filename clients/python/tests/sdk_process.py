"""An SDK process for test_shared: decides what it reads on stdin, one JSON line each.

    python sdk_process.py BASE_URL DATAFILE
    stdin:  {"user": "u", "flag": "new_search", "attributes": {...}}
    stdout: {"variation_key": ..., "rule_key": ..., "enabled": ..., "stats": {...}}

It ends at the end of its input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stickybucket import StickyBucketProfileService  # noqa: E402
from support import make_optimizely  # noqa: E402


def main() -> None:
    base_url, datafile = sys.argv[1], Path(sys.argv[2]).read_text()
    ups = StickyBucketProfileService(base_url, timeout=5.0)
    sdk = make_optimizely(datafile, ups)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        d = sdk.create_user_context(req["user"], req.get("attributes")).decide(req["flag"])
        st = ups.stats()
        print(json.dumps({
            "variation_key": d.variation_key, "rule_key": d.rule_key, "enabled": d.enabled,
            "stats": {"lookups": st.lookups, "lookups_found": st.lookups_found,
                      "lookup_failures": st.lookup_failures.total, "saves_ok": st.saves_ok,
                      "save_failures": st.save_failures.total},
        }), flush=True)
    sdk.close()
    ups.close()


if __name__ == "__main__":
    main()
