// The ESM entry: the same implementation as require('stickybucket').
import cjs from './index.cjs';

export const { StickyBucketProfileService, createStickyBucketProfileService, DEFAULTS } = cjs;
