// Type-checked by `tsc -p test/types` (never run): the ESM view of the package.
import { createInstance, createStaticProjectConfigManager, createLogger, WARN } from '@optimizely/optimizely-sdk';
import type { UserProfile, UserProfileServiceAsync, LogHandler } from '@optimizely/optimizely-sdk';
import { StickyBucketProfileService, createStickyBucketProfileService, DEFAULTS } from 'stickybucket';
import type { StickyBucketOptions, StickyBucketStats } from 'stickybucket';

const options: StickyBucketOptions = { baseUrl: 'http://127.0.0.1:8080', token: 'a-token-of-16-bytes', timeoutMs: 200 };
const ups = new StickyBucketProfileService(options);
const asInterface: UserProfileServiceAsync = ups;
const viaFactory: StickyBucketProfileService = createStickyBucketProfileService({ baseUrl: new URL('http://127.0.0.1:8080') });

const client = createInstance({
  projectConfigManager: createStaticProjectConfigManager({ datafile: '{}' }),
  userProfileServiceAsync: ups,
  logger: createLogger({ level: WARN }),
});

async function use(): Promise<void> {
  const profile: UserProfile = await ups.lookup('u');
  const variation: string | undefined = profile.experiment_bucket_map['3003']?.variation_id;
  await ups.save(profile);
  await ups.flush();
  const s: StickyBucketStats = ups.stats();
  const n: number = s.lookupFailures + s.saveFailures + s.savesDropped + (s.lookupFailuresByKind['timeout'] ?? 0);
  const t: number = DEFAULTS.timeoutMs;
  void variation; void n; void t;
}

// The SDK's LogHandler and a console-like logger are both accepted, and null.
const handler: LogHandler = { log: (_level, _message) => {} };
new StickyBucketProfileService({ baseUrl: 'http://x', logger: handler });
new StickyBucketProfileService({ baseUrl: 'http://x', logger: console });
new StickyBucketProfileService({ baseUrl: 'http://x', logger: null });

// The types are not `any`:
// @ts-expect-error baseUrl is required
new StickyBucketProfileService({});
// @ts-expect-error timeoutMs is a number
new StickyBucketProfileService({ baseUrl: 'http://x', timeoutMs: '200' });
// @ts-expect-error lookup resolves to a UserProfile
const wrong: Promise<string> = ups.lookup('u');
// @ts-expect-error no such counter
ups.stats().nope;

void asInterface; void viaFactory; void client; void use; void wrong;
