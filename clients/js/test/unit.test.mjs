// The client alone against a small node:http server.
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { StickyBucketProfileService, createStickyBucketProfileService, DEFAULTS } from 'stickybucket';
import { closedPort } from './helpers.mjs';

// A local server whose answer each test sets with `handle`; it records
// every request and the connections requests came on.
let server;
let base;
let handle;
let requests;
let sockets;
const stalled = new Set();

before(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const rec = { method: req.method, url: req.url, headers: req.headers, body };
      requests.push(rec);
      sockets.add(req.socket);
      handle(rec, res);
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

beforeEach(() => {
  requests = [];
  sockets = new Set();
  handle = answer(200, { user_id: 'x', experiment_bucket_map: {} });
  for (const res of stalled) res.destroy();
  stalled.clear();
});

function answer(status, body, headers = { 'content-type': 'application/json' }) {
  return (_req, res) => {
    res.writeHead(status, headers);
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
}

// stall never answers (the response is destroyed at the next test).
function stall(_req, res) {
  stalled.add(res);
}

// A logger that keeps its lines.
function lines() {
  const out = [];
  return { out, warn: (l) => out.push(l) };
}

// client is the client under test; the timeout is long unless a test
// sets one, so a loaded machine does not fail the tests that expect answers.
function client(opts = {}) {
  return new StickyBucketProfileService({ baseUrl: base, logger: null, timeoutMs: 5000, ...opts });
}

describe('lookup', () => {
  test('POSTs {user_id} as JSON and returns the profile', async () => {
    handle = answer(200, { user_id: 'u 1 🙂', experiment_bucket_map: { 100: { variation_id: '200' }, 101: { variation_id: '201' } } });
    const c = client();
    const p = await c.lookup('u 1 🙂');
    assert.deepEqual(p, { user_id: 'u 1 🙂', experiment_bucket_map: { 100: { variation_id: '200' }, 101: { variation_id: '201' } } });
    assert.equal(requests.length, 1);
    const r = requests[0];
    assert.equal(r.method, 'POST');
    assert.equal(r.url, '/v1/ups/lookup');
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.headers.authorization, undefined);
    assert.deepEqual(JSON.parse(r.body), { user_id: 'u 1 🙂' });
    assert.equal(c.stats().lookups, 1);
    assert.equal(c.stats().lookupFailures, 0);
  });

  test('sends the bearer token when given one', async () => {
    const c = client({ token: 'sixteen-bytes-token!' });
    await c.lookup('u');
    await c.save({ user_id: 'u', experiment_bucket_map: {} });
    assert.equal(requests.length, 2);
    for (const r of requests) assert.equal(r.headers.authorization, 'Bearer sixteen-bytes-token!');
  });

  test('an unknown user is an empty profile, not a failure', async () => {
    const c = client();
    assert.deepEqual(await c.lookup('nobody'), { user_id: 'nobody', experiment_bucket_map: {} });
    assert.equal(c.stats().lookupFailures, 0);
    assert.equal(c.stats().failedLookupsRemembered, 0);
  });

  test('a base URL with a path prefix and a trailing slash', async () => {
    const c = new StickyBucketProfileService({ baseUrl: `${base}/prefix/`, logger: null, timeoutMs: 5000 });
    await c.lookup('u');
    assert.equal(requests[0].url, '/prefix/v1/ups/lookup');
  });

  const bad = [
    ['not JSON', 'not json {', 'bad_response'],
    ['JSON of the wrong shape', { user_id: 'u', experiment_bucket_map: [] }, 'bad_response'],
    ['an entry without a string variation_id', { user_id: 'u', experiment_bucket_map: { 1: { variation_id: 2 } } }, 'bad_response'],
    ['an empty body', '', 'bad_response'],
  ];
  for (const [name, body, kind] of bad) {
    test(`200 with ${name}: no profile, counted as ${kind}`, async () => {
      handle = answer(200, body);
      const c = client();
      assert.deepEqual(await c.lookup('u'), { user_id: 'u', experiment_bucket_map: {} });
      assert.equal(c.stats().lookupFailures, 1);
      assert.deepEqual(c.stats().lookupFailuresByKind, { [kind]: 1 });
    });
  }

  for (const status of [500, 401, 503, 404]) {
    test(`HTTP ${status}: no profile, counted by status`, async () => {
      handle = answer(status, { error: `status ${status}` });
      const c = client();
      assert.deepEqual(await c.lookup('u'), { user_id: 'u', experiment_bucket_map: {} });
      assert.deepEqual(c.stats().lookupFailuresByKind, { [`http_${status}`]: 1 });
    });
  }

  test('an answer slower than the timeout: no profile within about the timeout', async () => {
    handle = stall;
    const c = client({ timeoutMs: 100 });
    const t0 = performance.now();
    const p = await c.lookup('u');
    const ms = performance.now() - t0;
    assert.deepEqual(p, { user_id: 'u', experiment_bucket_map: {} });
    assert.ok(ms >= 90 && ms < 1000, `took ${ms} ms`);
    assert.deepEqual(c.stats().lookupFailuresByKind, { timeout: 1 });
  });

  test('headers in time but the body too late is a timeout too', async () => {
    handle = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"user_id":"u","experiment_bucket_map":');
      stalled.add(res);
    };
    const c = client({ timeoutMs: 100 });
    const t0 = performance.now();
    assert.deepEqual(await c.lookup('u'), { user_id: 'u', experiment_bucket_map: {} });
    assert.ok(performance.now() - t0 < 1000);
    assert.deepEqual(c.stats().lookupFailuresByKind, { timeout: 1 });
  });

  test('nothing listening: a connection failure', async () => {
    const c = new StickyBucketProfileService({ baseUrl: `http://127.0.0.1:${await closedPort()}`, logger: null, timeoutMs: 5000 });
    assert.deepEqual(await c.lookup('u'), { user_id: 'u', experiment_bucket_map: {} });
    assert.deepEqual(c.stats().lookupFailuresByKind, { connection: 1 });
  });

  test('"__proto__" in an answer does not touch the prototype', async () => {
    handle = answer(200, '{"user_id":"u","experiment_bucket_map":{"__proto__":{"variation_id":"9"},"1":{"variation_id":"2"}}}');
    const c = client();
    const p = await c.lookup('u');
    assert.equal(Object.getPrototypeOf(p.experiment_bucket_map), Object.prototype);
    assert.deepEqual(Object.keys(p.experiment_bucket_map), ['1']);
  });
});

describe('save', () => {
  test('POSTs the whole profile to /v1/ups/save and counts the answer', async () => {
    handle = answer(200, { written: 1, unchanged: 2, lost: 0 });
    const c = client();
    const profile = { user_id: 'u', experiment_bucket_map: { 1: { variation_id: '2' }, 3: { variation_id: '4' }, 5: { variation_id: '6' } } };
    assert.equal(await c.save(profile), undefined);
    assert.equal(requests[0].url, '/v1/ups/save');
    assert.equal(requests[0].headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(requests[0].body), profile);
    const s = c.stats();
    assert.equal(s.saves, 1);
    assert.equal(s.saveFailures, 0);
    assert.equal(s.entriesWritten, 1);
    assert.equal(s.entriesUnchanged, 2);
  });

  test('failures are counted, never thrown', async () => {
    const c = client({ timeoutMs: 100 });
    const profile = { user_id: 'u', experiment_bucket_map: { 1: { variation_id: '2' } } };
    handle = answer(500, { error: 'boom' });
    await c.save(profile);
    handle = answer(400, 'plain text');
    await c.save(profile);
    handle = stall;
    await c.save(profile);
    const dead = new StickyBucketProfileService({ baseUrl: `http://127.0.0.1:${await closedPort()}`, logger: null, timeoutMs: 5000 });
    await dead.save(profile);
    await c.save({ user_id: 'u', experiment_bucket_map: { 1: { variation_id: 10n } } }); // not JSON-able
    await c.save(null);
    assert.deepEqual(c.stats().saveFailuresByKind, { http_500: 1, http_400: 1, timeout: 1, bad_profile: 2 });
    assert.equal(c.stats().saveFailures, 5);
    assert.deepEqual(dead.stats().saveFailuresByKind, { connection: 1 });
  });

  test('after a failed lookup the user\'s saves go with only_new=true, until the TTL', async () => {
    let now = 1_000_000;
    const c = client({ now: () => now, failedLookupTtlMs: 60_000 });
    const profile = (id) => ({ user_id: id, experiment_bucket_map: { 1: { variation_id: '2' } } });
    handle = answer(503, { error: 'store unavailable' });
    await c.lookup('failed');
    handle = answer(200, { user_id: 'ok', experiment_bucket_map: {} });
    await c.lookup('ok');
    handle = answer(200, { written: 1, unchanged: 0, lost: 0 });
    await c.save(profile('failed'));
    await c.save(profile('ok'));
    await c.save(profile('failed')); // still within the TTL
    now += 60_001;
    await c.save(profile('failed'));
    const urls = requests.filter((r) => r.url.startsWith('/v1/ups/save')).map((r) => `${JSON.parse(r.body).user_id} ${r.url}`);
    assert.deepEqual(urls, [
      'failed /v1/ups/save?only_new=true',
      'ok /v1/ups/save',
      'failed /v1/ups/save?only_new=true',
      'failed /v1/ups/save',
    ]);
    assert.equal(c.stats().savesOnlyNew, 2);
    assert.equal(c.stats().failedLookupsRemembered, 0);
  });

  test('the set of users with failed lookups is capped, oldest forgotten first', async () => {
    handle = answer(500, {});
    const c = client({ maxFailedLookups: 3 });
    for (const id of ['a', 'b', 'c', 'd', 'e']) await c.lookup(id);
    assert.equal(c.stats().failedLookupsRemembered, 3);
    assert.equal(c.stats().failedLookupsEvicted, 2);
    handle = answer(200, { written: 0, unchanged: 0, lost: 0 });
    for (const id of ['a', 'b', 'c', 'd', 'e']) await c.save({ user_id: id, experiment_bucket_map: {} });
    assert.deepEqual(requests.filter((r) => r.url.startsWith('/v1/ups/save')).map((r) => r.url.endsWith('only_new=true')), [false, false, true, true, true]);
  });

  test('a failed lookup again moves the user to the young end', async () => {
    handle = answer(500, {});
    const c = client({ maxFailedLookups: 2 });
    await c.lookup('a');
    await c.lookup('b');
    await c.lookup('a');
    await c.lookup('c'); // forgets b, the oldest now
    handle = answer(200, {});
    for (const id of ['a', 'b', 'c']) await c.save({ user_id: id, experiment_bucket_map: {} });
    assert.deepEqual(requests.filter((r) => r.url.startsWith('/v1/ups/save')).map((r) => r.url.endsWith('only_new=true')), [true, false, true]);
  });

  test('beyond maxPendingSaves saves are dropped and counted; flush waits for the rest', async () => {
    handle = stall;
    const c = client({ maxPendingSaves: 2, timeoutMs: 150 });
    const profile = { user_id: 'u', experiment_bucket_map: {} };
    const all = [1, 2, 3, 4, 5].map(() => c.save(profile));
    assert.equal(c.stats().savesInFlight, 2);
    assert.equal(c.stats().savesDropped, 3);
    await c.flush();
    assert.equal(c.stats().savesInFlight, 0);
    assert.deepEqual(c.stats().saveFailuresByKind, { timeout: 2 });
    await Promise.all(all);
  });
});

test('keep-alive: sequential calls reuse their connections', async () => {
  // A server of its own: a port no other test used, so the pool of Node's
  // fetch holds no connection for it yet.
  const used = new Set();
  let opened = 0;
  const own = http.createServer((req, res) => {
    used.add(req.socket);
    req.resume();
    req.on('end', () => { res.setHeader('content-type', 'application/json'); res.end('{"user_id":"u","experiment_bucket_map":{}}'); });
  });
  own.on('connection', () => { opened++; });
  await new Promise((r) => own.listen(0, '127.0.0.1', r));
  try {
    const c = new StickyBucketProfileService({ baseUrl: `http://127.0.0.1:${own.address().port}`, logger: null, timeoutMs: 5000 });
    for (let i = 0; i < 50; i++) {
      await c.lookup(`u${i}`);
      await c.save({ user_id: `u${i}`, experiment_bucket_map: {} });
    }
    assert.equal(c.stats().lookupFailures + c.stats().saveFailures, 0);
    // Node's fetch (undici) keeps connections alive; sequential calls
    // alternate between two of them, never open one per call.
    assert.ok(opened <= 2 && used.size <= 2, `${opened} connections opened, ${used.size} used for 100 calls`);
  } finally {
    own.closeAllConnections();
    await new Promise((r) => own.close(r));
  }
});

describe('logging', () => {
  test('one line per interval per kind, with the count held back', async () => {
    let now = 0;
    const log = lines();
    const c = new StickyBucketProfileService({ baseUrl: base, logger: log, logIntervalMs: 10_000, now: () => now, timeoutMs: 5000 });
    handle = answer(500, { error: 'boom' });
    for (let i = 0; i < 20; i++) await c.lookup('u');
    handle = answer(401, { error: 'missing bearer token' });
    for (let i = 0; i < 3; i++) await c.lookup('u');
    for (let i = 0; i < 3; i++) await c.save({ user_id: 'u', experiment_bucket_map: {} });
    assert.equal(log.out.length, 3, log.out.join('\n'));
    assert.match(log.out[0], /^stickybucket: lookup failed \(HTTP 500: boom\)/);
    assert.match(log.out[1], /HTTP 401: missing bearer token/);
    assert.match(log.out[2], /^stickybucket: save failed \(HTTP 401/);
    assert.equal(c.stats().logLinesSuppressed, 19 + 2 + 2);
    now += 10_000;
    handle = answer(500, {});
    await c.lookup('u');
    assert.equal(log.out.length, 4);
    assert.match(log.out[3], /\[19 more like this in the last 10 s\]$/);
  });

  test('the SDK\'s LogHandler form gets LogLevel.Warn', async () => {
    const got = [];
    const c = new StickyBucketProfileService({ baseUrl: base, logger: { log: (level, msg) => got.push([level, msg]) } });
    handle = answer(500, {});
    await c.lookup('u');
    assert.equal(got.length, 1);
    assert.equal(got[0][0], 2);
  });

  test('a clock that throws changes nothing either', async () => {
    const c = new StickyBucketProfileService({ baseUrl: base, logger: null, timeoutMs: 5000, now: () => { throw new Error('clock'); } });
    handle = answer(500, {});
    assert.deepEqual(await c.lookup('u'), { user_id: 'u', experiment_bucket_map: {} });
    assert.equal(await c.save({ user_id: 'u', experiment_bucket_map: {} }), undefined);
  });

  test('a logger that throws changes nothing', async () => {
    const c = new StickyBucketProfileService({ baseUrl: base, logger: { warn() { throw new Error('logger down'); } } });
    handle = answer(500, {});
    assert.deepEqual(await c.lookup('u'), { user_id: 'u', experiment_bucket_map: {} });
    await c.save({ user_id: 'u', experiment_bucket_map: {} });
    assert.equal(c.stats().saveFailures, 1);
  });
});

describe('options', () => {
  test('defaults', () => {
    assert.deepEqual({ ...DEFAULTS }, { timeoutMs: 200, maxPendingSaves: 1000, failedLookupTtlMs: 60_000, maxFailedLookups: 100_000, logIntervalMs: 10_000 });
  });

  test('bad options throw at construction, not in the SDK', () => {
    assert.throws(() => new StickyBucketProfileService(), TypeError);
    assert.throws(() => new StickyBucketProfileService({}), TypeError);
    assert.throws(() => new StickyBucketProfileService({ baseUrl: 'not a url' }), TypeError);
    assert.throws(() => new StickyBucketProfileService({ baseUrl: 'ftp://127.0.0.1' }), TypeError);
    assert.throws(() => new StickyBucketProfileService({ baseUrl: base, timeoutMs: 0 }), TypeError);
    assert.throws(() => new StickyBucketProfileService({ baseUrl: base, timeoutMs: '200' }), TypeError);
    assert.throws(() => new StickyBucketProfileService({ baseUrl: base, token: 42 }), TypeError);
    assert.throws(() => new StickyBucketProfileService({ baseUrl: base, token: 'two\nlines' }), TypeError);
    assert.throws(() => new StickyBucketProfileService({ baseUrl: base, logger: {} }), TypeError);
  });

  test('createStickyBucketProfileService builds the same thing', async () => {
    const c = createStickyBucketProfileService({ baseUrl: new URL(base), logger: null });
    assert.ok(c instanceof StickyBucketProfileService);
    const { lookup } = c; // bound: works detached
    assert.deepEqual(await lookup('u'), { user_id: 'u', experiment_bucket_map: {} });
  });
});
