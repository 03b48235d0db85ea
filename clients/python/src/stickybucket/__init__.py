"""stickybucket: Optimizely's user profile service kept in a stickybucket server.

    from stickybucket import StickyBucketProfileService
    ups = StickyBucketProfileService("http://127.0.0.1:8080", token=os.environ.get("STICKYBUCKET_TOKEN"))
    client = optimizely.Optimizely(datafile, user_profile_service=ups)
"""

from ._service import StickyBucketProfileService, __version__
from ._stats import FailureCounts, Stats

__all__ = ["StickyBucketProfileService", "Stats", "FailureCounts", "__version__"]
