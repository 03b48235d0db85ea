'use strict';

// stickybucket's user profile service for @optimizely/optimizely-sdk 6.x:
// an implementation of the SDK's UserProfileServiceAsync over HTTP, for
// decideAsync / decideForKeysAsync / decideAllAsync. It fails open: a
// lookup that fails resolves to an empty profile, a save that fails is
// counted and logged; neither ever rejects into the SDK.

const DEFAULTS = Object.freeze({
  timeoutMs: 200,
  maxPendingSaves: 1000,
  failedLookupTtlMs: 60_000,
  maxFailedLookups: 100_000,
  logIntervalMs: 10_000,
});

// LogLevel.Warn of the SDK's LogHandler interface (its enum: Debug 0,
// Info 1, Warn 2, Error 3).
const SDK_LOG_LEVEL_WARN = 2;

class StickyBucketProfileService {
  /**
   * @param {import('./index.d.cts').StickyBucketOptions} options
   */
  constructor(options) {
    if (options === null || typeof options !== 'object') {
      throw new TypeError('stickybucket: options must be an object with a baseUrl');
    }
    const base = new URL(options.baseUrl); // throws on a bad URL, at setup time
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new TypeError(`stickybucket: baseUrl must be http or https, not ${base.protocol}`);
    }
    const root = base.href.replace(/\/+$/, '');
    this._lookupUrl = `${root}/v1/ups/lookup`;
    this._saveUrl = `${root}/v1/ups/save`;
    this._saveOnlyNewUrl = `${root}/v1/ups/save?only_new=true`;

    this._timeoutMs = positive(options.timeoutMs, DEFAULTS.timeoutMs, 'timeoutMs');
    this._saveTimeoutMs = positive(options.saveTimeoutMs, this._timeoutMs, 'saveTimeoutMs');
    this._maxPendingSaves = positive(options.maxPendingSaves, DEFAULTS.maxPendingSaves, 'maxPendingSaves');
    this._failedLookupTtlMs = positive(options.failedLookupTtlMs, DEFAULTS.failedLookupTtlMs, 'failedLookupTtlMs');
    this._maxFailedLookups = positive(options.maxFailedLookups, DEFAULTS.maxFailedLookups, 'maxFailedLookups');
    this._logIntervalMs = nonNegative(options.logIntervalMs, DEFAULTS.logIntervalMs, 'logIntervalMs');
    this._log = makeLog(options.logger === undefined ? console : options.logger);
    this._now = typeof options.now === 'function' ? options.now : Date.now;

    this._headers = { 'content-type': 'application/json', accept: 'application/json' };
    if (options.token !== undefined && options.token !== null && options.token !== '') {
      if (typeof options.token !== 'string') throw new TypeError('stickybucket: token must be a string');
      this._headers.authorization = `Bearer ${options.token}`;
    }
    new Headers(this._headers); // a token no header can carry fails here, not on every call

    // Users whose last lookup failed, with when to forget them, oldest
    // first (a Map keeps insertion order; a refresh re-inserts).
    this._failedLookups = new Map();
    this._pending = new Set();
    this._logState = new Map(); // kind -> { last, suppressed }
    this._c = {
      lookups: 0,
      lookupFailures: 0,
      lookupFailuresByKind: {},
      saves: 0,
      savesOnlyNew: 0,
      saveFailures: 0,
      saveFailuresByKind: {},
      savesDropped: 0,
      entriesWritten: 0,
      entriesUnchanged: 0,
      entriesLost: 0,
      failedLookupsEvicted: 0,
      logLinesSuppressed: 0,
    };

    // The SDK calls lookup and save as methods; binding them also lets a
    // caller pass them around on their own.
    this.lookup = this.lookup.bind(this);
    this.save = this.save.bind(this);
  }

  /**
   * The user's stored profile; an empty one for an unknown user or when
   * the lookup fails (then the user's saves go with only_new for a while).
   * Never rejects.
   * @param {string} userId
   */
  lookup(userId) {
    this._c.lookups++;
    // The catch is a last guard (a throwing clock, say): never reject.
    return this._lookup(userId).catch(() => ({ user_id: userId, experiment_bucket_map: {} }));
  }

  async _lookup(userId) {
    let kind;
    let detail;
    try {
      const res = await fetch(this._lookupUrl, {
        method: 'POST',
        headers: this._headers,
        body: JSON.stringify({ user_id: userId }),
        signal: AbortSignal.timeout(this._timeoutMs),
      });
      const text = await res.text();
      if (res.status === 200) {
        const map = parseBucketMap(text);
        if (map !== null) {
          return { user_id: userId, experiment_bucket_map: map };
        }
        kind = 'bad_response';
        detail = `200 with a body that is not a profile: ${clip(text)}`;
      } else {
        kind = `http_${res.status}`;
        detail = `HTTP ${res.status}${errorText(text)}`;
      }
    } catch (err) {
      ({ kind, detail } = this._classify(err, this._timeoutMs));
    }
    this._c.lookupFailures++;
    bump(this._c.lookupFailuresByKind, kind);
    this._rememberFailedLookup(userId);
    this._warn(`lookup ${kind}`, `lookup failed (${detail}); deciding without the stored profile`);
    return { user_id: userId, experiment_bucket_map: {} };
  }

  /**
   * Sends the profile the SDK decided with; the server writes only what
   * changed. Resolves when the answer is in (or the call failed); never
   * rejects. The SDK does not wait for it.
   * @param {{user_id: string, experiment_bucket_map: object}} profile
   */
  save(profile) {
    if (this._pending.size >= this._maxPendingSaves) {
      this._c.savesDropped++;
      this._warn('save dropped', `save dropped: ${this._pending.size} saves already in flight (maxPendingSaves)`);
      return Promise.resolve();
    }
    const p = this._send(profile).catch(() => {}); // a last guard, as in lookup
    this._pending.add(p);
    p.finally(() => this._pending.delete(p));
    return p;
  }

  /** Resolves when every save in flight now has finished (each is bounded by the timeout). */
  async flush() {
    await Promise.all([...this._pending]);
  }

  /** A snapshot of the counters. */
  stats() {
    return {
      ...this._c,
      lookupFailuresByKind: { ...this._c.lookupFailuresByKind },
      saveFailuresByKind: { ...this._c.saveFailuresByKind },
      savesInFlight: this._pending.size,
      failedLookupsRemembered: this._failedLookups.size,
    };
  }

  async _send(profile) {
    this._c.saves++;
    let body;
    let userId;
    try {
      userId = profile.user_id;
      body = JSON.stringify({ user_id: userId, experiment_bucket_map: profile.experiment_bucket_map });
    } catch (err) {
      return this._saveFailed('bad_profile', `the profile cannot be sent: ${err && err.message}`);
    }
    const onlyNew = this._lookupFailedRecently(userId);
    if (onlyNew) this._c.savesOnlyNew++;
    let kind;
    let detail;
    try {
      const res = await fetch(onlyNew ? this._saveOnlyNewUrl : this._saveUrl, {
        method: 'POST',
        headers: this._headers,
        body,
        signal: AbortSignal.timeout(this._saveTimeoutMs),
      });
      const text = await res.text();
      if (res.status === 200) {
        this._countEntries(text);
        return;
      }
      kind = `http_${res.status}`;
      detail = `HTTP ${res.status}${errorText(text)}`;
    } catch (err) {
      ({ kind, detail } = this._classify(err, this._saveTimeoutMs));
    }
    this._saveFailed(kind, detail);
  }

  _saveFailed(kind, detail) {
    this._c.saveFailures++;
    bump(this._c.saveFailuresByKind, kind);
    this._warn(`save ${kind}`, `save failed (${detail}); this decision was not stored`);
  }

  _countEntries(text) {
    try {
      const r = JSON.parse(text);
      if (r && typeof r === 'object') {
        if (Number.isFinite(r.written)) this._c.entriesWritten += r.written;
        if (Number.isFinite(r.unchanged)) this._c.entriesUnchanged += r.unchanged;
        if (Number.isFinite(r.lost)) this._c.entriesLost += r.lost;
      }
    } catch {
      // The save was taken (200); its counts are only informative.
    }
  }

  _classify(err, timeoutMs) {
    if (err && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
      return { kind: 'timeout', detail: `no answer within ${timeoutMs} ms` };
    }
    const cause = err && err.cause;
    const code = cause && (cause.code || cause.name);
    return {
      kind: 'connection',
      detail: `${(err && err.message) || err}${code ? `: ${code}` : ''}${cause && cause.message ? ` (${clip(cause.message)})` : ''}`,
    };
  }

  _rememberFailedLookup(userId) {
    const now = this._now();
    const m = this._failedLookups;
    m.delete(userId);
    // Forget the expired ones at the old end, then the oldest if still full.
    for (const [id, until] of m) {
      if (until > now && m.size < this._maxFailedLookups) break;
      m.delete(id);
      if (until > now) this._c.failedLookupsEvicted++;
    }
    m.set(userId, now + this._failedLookupTtlMs);
  }

  _lookupFailedRecently(userId) {
    const until = this._failedLookups.get(userId);
    if (until === undefined) return false;
    if (until > this._now()) return true;
    this._failedLookups.delete(userId);
    return false;
  }

  // _warn logs at most one line per logIntervalMs for each kind, with
  // the number of lines it held back since the last one.
  _warn(kind, message) {
    if (this._log === null) return;
    const now = this._now();
    let s = this._logState.get(kind);
    if (s === undefined) {
      s = { last: -Infinity, suppressed: 0 };
      this._logState.set(kind, s);
    }
    if (now - s.last < this._logIntervalMs) {
      s.suppressed++;
      this._c.logLinesSuppressed++;
      return;
    }
    const held = s.suppressed > 0 ? ` [${s.suppressed} more like this in the last ${Math.round((now - s.last) / 1000)} s]` : '';
    s.last = now;
    s.suppressed = 0;
    try {
      this._log(`stickybucket: ${message}${held}`);
    } catch {
      // A logger that throws must not turn into an error in the SDK.
    }
  }
}

/**
 * @param {import('./index.d.cts').StickyBucketOptions} options
 */
function createStickyBucketProfileService(options) {
  return new StickyBucketProfileService(options);
}

// parseBucketMap returns the experiment_bucket_map of a lookup answer, or
// null when the text is not {"experiment_bucket_map": {id: {"variation_id": "..."}}}.
function parseBucketMap(text) {
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObject(body) || !isObject(body.experiment_bucket_map)) return null;
  const map = {};
  for (const [expId, entry] of Object.entries(body.experiment_bucket_map)) {
    if (!isObject(entry) || typeof entry.variation_id !== 'string') return null;
    if (expId === '__proto__') continue; // never an experiment ID; would set map's prototype
    map[expId] = { variation_id: entry.variation_id };
  }
  return map;
}

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function errorText(text) {
  try {
    const b = JSON.parse(text);
    if (isObject(b) && typeof b.error === 'string') return `: ${clip(b.error)}`;
  } catch {
    // not JSON
  }
  return text ? `: ${clip(text)}` : '';
}

function clip(s) {
  s = String(s).trim();
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

function bump(counts, kind) {
  counts[kind] = (counts[kind] || 0) + 1;
}

// makeLog turns the logger option into a function of one line: a
// console-like object (warn), the SDK's LogHandler (log(level, message)),
// or null for no logging.
function makeLog(logger) {
  if (logger === null || logger === false) return null;
  if (logger && typeof logger.warn === 'function') return (line) => logger.warn(line);
  if (logger && typeof logger.log === 'function') return (line) => logger.log(SDK_LOG_LEVEL_WARN, line);
  throw new TypeError('stickybucket: logger must have warn(message) (console-like) or log(level, message) (the SDK\'s LogHandler), or be null');
}

function positive(v, def, name) {
  if (v === undefined || v === null) return def;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new TypeError(`stickybucket: ${name} must be a positive number, not ${v}`);
  }
  return v;
}

function nonNegative(v, def, name) {
  if (v === undefined || v === null) return def;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new TypeError(`stickybucket: ${name} must be a number >= 0, not ${v}`);
  }
  return v;
}

module.exports = { StickyBucketProfileService, createStickyBucketProfileService, DEFAULTS };
