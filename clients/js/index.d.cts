import type { LogHandler, UserProfile, UserProfileServiceAsync } from '@optimizely/optimizely-sdk';

/** Where to log failures: console-like (warn), the SDK's LogHandler (log(level, message)), or null for none. */
export type StickyBucketLogger = { warn(message: string): void } | LogHandler | null;

export interface StickyBucketOptions {
  /** The stickybucket server, e.g. "http://127.0.0.1:8080"; /v1/ups/... is appended. */
  baseUrl: string | URL;
  /** Sent as "Authorization: Bearer <token>" when set. */
  token?: string;
  /** Timeout of each lookup (and of each save unless saveTimeoutMs is set), in milliseconds. Default 200. */
  timeoutMs?: number;
  /** Timeout of each save, in ms; the SDK does not wait for saves. Default timeoutMs. */
  saveTimeoutMs?: number;
  /** Saves in flight at most; a save beyond is dropped and counted. Default 1000. */
  maxPendingSaves?: number;
  /** How long a user whose lookup failed has its saves sent with only_new=true, in ms. Default 60000. */
  failedLookupTtlMs?: number;
  /** How many such users are remembered at most (the oldest is forgotten first). Default 100000. */
  maxFailedLookups?: number;
  /** At most one log line per kind of failure per this many ms. Default 10000. */
  logIntervalMs?: number;
  /** Default console. */
  logger?: StickyBucketLogger;
  /** The clock in ms (for the TTL and the log interval); Date.now by default. For tests. */
  now?: () => number;
}

export interface StickyBucketStats {
  /** Lookups the SDK asked for. */
  lookups: number;
  /** Of those, how many failed and answered "no profile". */
  lookupFailures: number;
  /** Failed lookups by kind: "timeout", "connection", "http_<status>", "bad_response". */
  lookupFailuresByKind: Record<string, number>;
  /** Saves sent (not counting dropped ones). */
  saves: number;
  /** Of those, sent with only_new=true after a failed lookup of the same user. */
  savesOnlyNew: number;
  /** Saves that failed (not stored). */
  saveFailures: number;
  /** Failed saves by kind: "timeout", "connection", "http_<status>", "bad_profile". */
  saveFailuresByKind: Record<string, number>;
  /** Saves not sent because maxPendingSaves were in flight. */
  savesDropped: number;
  /** Profile entries the server wrote, found unchanged, or lost to another writer (from its answers). */
  entriesWritten: number;
  entriesUnchanged: number;
  entriesLost: number;
  /** Users forgotten from the failed-lookup set before their time because it was full. */
  failedLookupsEvicted: number;
  /** Log lines held back by the rate limit. */
  logLinesSuppressed: number;
  /** Saves in flight now. */
  savesInFlight: number;
  /** Users remembered now as having had a failed lookup. */
  failedLookupsRemembered: number;
}

export declare const DEFAULTS: Readonly<{
  timeoutMs: number;
  maxPendingSaves: number;
  failedLookupTtlMs: number;
  maxFailedLookups: number;
  logIntervalMs: number;
}>;

/** The SDK's UserProfileServiceAsync over a stickybucket server; pass it as userProfileServiceAsync. */
export declare class StickyBucketProfileService implements UserProfileServiceAsync {
  constructor(options: StickyBucketOptions);
  /** The stored profile, or an empty one (unknown user, or the lookup failed). Never rejects. */
  lookup(userId: string): Promise<UserProfile>;
  /** Stores the profile the SDK decided with. Never rejects. */
  save(profile: UserProfile): Promise<void>;
  /** Resolves when the saves in flight now have finished. */
  flush(): Promise<void>;
  /** A snapshot of the counters. */
  stats(): StickyBucketStats;
}

export declare function createStickyBucketProfileService(options: StickyBucketOptions): StickyBucketProfileService;
