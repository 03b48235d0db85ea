// Type-checked by `tsc -p test/types` (never run): the CommonJS view of the package.
import sdk = require('@optimizely/optimizely-sdk');
import stickybucket = require('stickybucket');

const ups = new stickybucket.StickyBucketProfileService({ baseUrl: 'http://127.0.0.1:8080' });
const asInterface: sdk.UserProfileServiceAsync = ups;
const stats: stickybucket.StickyBucketStats = ups.stats();
const client = sdk.createInstance({
  projectConfigManager: sdk.createStaticProjectConfigManager({ datafile: '{}' }),
  userProfileServiceAsync: stickybucket.createStickyBucketProfileService({ baseUrl: 'http://127.0.0.1:8080', saveTimeoutMs: 1000 }),
});
// @ts-expect-error save takes a UserProfile
void ups.save({ user: 'u' });

void asInterface; void stats; void client;
