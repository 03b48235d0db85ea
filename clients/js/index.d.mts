export {
  StickyBucketProfileService,
  createStickyBucketProfileService,
  DEFAULTS,
} from './index.cjs';
export type { StickyBucketLogger, StickyBucketOptions, StickyBucketStats } from './index.cjs';
