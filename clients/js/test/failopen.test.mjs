// Fail-open against a real `stickybucket serve`: stopped (SIGTERM) and
// paused (SIGSTOP/SIGCONT) under the SDK, and the save after a failed
// lookup going with only_new=true so a stored variation survives.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { StickyBucketProfileService } from 'stickybucket';
import { startServer, sdkClient, exampleDatafile, serverProfile } from './helpers.mjs';

const datafile = fs.readFileSync(exampleDatafile, 'utf8');
const FLAG = 'new_search';
const EXPERIMENT_ID = '3003'; // search_experiment: classic 4005, semantic 4006
const VARIATIONS = { 4005: 'classic', 4006: 'semantic' };
const ATTRS = { plan: 'pro', app_version: '3.2.0', country: 'de' };
// Long enough for the healthy calls around the failures to answer on a
// loaded machine, short enough to tell a timeout from a hang.
const TIMEOUT_MS = 500;
// Allowed beyond the timeout for a decide, on a busy 2-core machine.
const SLACK_MS = 800;
// The stopped server's test uses a longer timeout, so that a refused
// connection is always seen as one even when the machine is loaded.
const STOPPED_TIMEOUT_MS = 2000;

// Nothing may reject unhandled while the server is down.
const unhandled = [];
const onUnhandled = (err) => unhandled.push(err);
before(() => process.on('unhandledRejection', onUnhandled));
after(() => {
  process.off('unhandledRejection', onUnhandled);
  assert.deepEqual(unhandled, []);
});

// quietLog collects the client's log lines.
function quietLog() {
  const out = [];
  return { out, warn: (l) => out.push(l) };
}

async function timedDecide(client, userId) {
  const t0 = performance.now();
  const d = await client.createUserContext(userId, ATTRS).decideAsync(FLAG);
  return { d, ms: performance.now() - t0 };
}

// serverVariation is the variation the server holds for the user in the
// experiment, or undefined.
async function serverVariation(url, userId) {
  const p = await serverProfile(url, userId);
  return p.experimentBucketMap[EXPERIMENT_ID]?.variation_id;
}

async function storeVariation(url, userId, variationId) {
  const res = await fetch(`${url}/v1/ups/save`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user_id: userId, experiment_bucket_map: { [EXPERIMENT_ID]: { variation_id: variationId } } }),
    signal: AbortSignal.timeout(5000),
  });
  assert.equal(res.status, 200, await res.text());
}

describe('fail-open with a real server', () => {
  let plain; // the SDK without a profile service: what "no profile" decides
  before(async () => { plain = await sdkClient(datafile, undefined); });
  after(async () => { await plain.close(); });

  test('server stopped: decisions go on without profiles, counted, nothing thrown', async () => {
    const server = await startServer();
    const log = quietLog();
    const ups = new StickyBucketProfileService({ baseUrl: server.url, timeoutMs: STOPPED_TIMEOUT_MS, logger: log });
    const client = await sdkClient(datafile, ups);
    try {
      // Healthy first: a stored variation different from fresh bucketing
      // is what the SDK answers.
      const fresh = plain.createUserContext('stopped-user', ATTRS).decide(FLAG).variationKey;
      const other = Object.keys(VARIATIONS).find((id) => VARIATIONS[id] !== fresh);
      await storeVariation(server.url, 'stopped-user', other);
      assert.equal((await timedDecide(client, 'stopped-user')).d.variationKey, VARIATIONS[other]);

      await server.stop();
      const users = Array.from({ length: 20 }, (_, i) => `down-${i}`).concat('stopped-user');
      for (const id of users) {
        const { d, ms } = await timedDecide(client, id);
        assert.ok(ms < STOPPED_TIMEOUT_MS, `decide took ${ms} ms`);
        assert.equal(d.variationKey, plain.createUserContext(id, ATTRS).decide(FLAG).variationKey, id);
        assert.equal(d.flagKey, FLAG);
      }
      await ups.flush();
      const s = ups.stats();
      assert.equal(s.lookups, 1 + users.length);
      assert.equal(s.lookupFailures, users.length);
      assert.deepEqual(s.lookupFailuresByKind, { connection: users.length });
      assert.deepEqual(s.saveFailuresByKind, { connection: users.length });
      assert.equal(s.saveFailures, users.length);
      assert.equal(s.savesOnlyNew, users.length);
      // Rate-limited: one line for lookups, one for saves.
      assert.equal(log.out.length, 2, log.out.join('\n'));
      assert.match(log.out[0], /lookup failed .*ECONNREFUSED/);
    } finally {
      await client.close();
      await server.stop();
    }
  });

  test('server paused: decisions within the timeout, counted as timeouts', async () => {
    const server = await startServer();
    const log = quietLog();
    const ups = new StickyBucketProfileService({ baseUrl: server.url, timeoutMs: TIMEOUT_MS, logger: log });
    const client = await sdkClient(datafile, ups);
    try {
      await timedDecide(client, 'warm'); // a kept-alive connection exists now
      await ups.flush();
      await server.pause();
      const n = 5;
      for (let i = 0; i < n; i++) {
        const id = `paused-${i}`;
        const { d, ms } = await timedDecide(client, id);
        assert.ok(ms >= TIMEOUT_MS * 0.9 && ms < TIMEOUT_MS + SLACK_MS, `decide took ${ms} ms`);
        assert.equal(d.variationKey, plain.createUserContext(id, ATTRS).decide(FLAG).variationKey);
      }
      await ups.flush();
      const s = ups.stats();
      assert.deepEqual(s.lookupFailuresByKind, { timeout: n });
      assert.deepEqual(s.saveFailuresByKind, { timeout: n });
      assert.equal(s.savesOnlyNew, n);
      assert.equal(s.savesInFlight, 0);
      assert.equal(log.out.length, 2, log.out.join('\n'));

      await server.resume();
      // Back: lookups answer again.
      await timedDecide(client, 'after-resume');
      assert.equal(ups.stats().lookupFailures, n);
    } finally {
      await server.resume();
      await client.close();
      await server.stop();
    }
  });

  // The lookup times out on the paused server; the SDK buckets the user
  // afresh and saves; the save waits (saveTimeoutMs) until the server is
  // resumed and then reaches it. With only_new the stored variation
  // survives; a client that forgets the failed lookup (control) writes
  // the guess over it.
  for (const remember of [true, false]) {
    test(`a failed lookup, then the save reaches the server: the stored variation ${remember ? 'survives (only_new)' : 'is overwritten (control, without only_new)'}`, async () => {
      const server = await startServer();
      let clock = 0;
      const ups = new StickyBucketProfileService({
        baseUrl: server.url,
        timeoutMs: TIMEOUT_MS,
        saveTimeoutMs: 10_000,
        logger: null,
        // The control forgets failed lookups at once: each reading of its
        // clock is a second later and the TTL is 1 ms.
        ...(remember ? {} : { now: () => (clock += 1000), failedLookupTtlMs: 1 }),
      });
      const client = await sdkClient(datafile, ups);
      const user = `sticky-${remember}`;
      try {
        const fresh = plain.createUserContext(user, ATTRS).decide(FLAG).variationKey;
        const stored = Object.keys(VARIATIONS).find((id) => VARIATIONS[id] !== fresh);
        const guess = Object.keys(VARIATIONS).find((id) => VARIATIONS[id] === fresh);
        await storeVariation(server.url, user, stored);
        await timedDecide(client, 'warm');
        await ups.flush();

        await server.pause();
        let d;
        try {
          ({ d } = await timedDecide(client, user));
        } finally {
          await server.resume();
        }
        assert.equal(d.variationKey, fresh, 'without its profile the SDK buckets afresh: ' + JSON.stringify(ups.stats()));
        assert.equal(ups.stats().lookupFailures, 1);
        await ups.flush();
        const s = ups.stats();
        assert.equal(s.saveFailures, 0, JSON.stringify(s));
        if (remember) {
          assert.equal(s.savesOnlyNew, 1);
          assert.equal(await serverVariation(server.url, user), stored);
          // And the SDK is sticky again once lookups answer.
          assert.equal((await timedDecide(client, user)).d.variationKey, VARIATIONS[stored]);
        } else {
          assert.equal(s.savesOnlyNew, 0);
          assert.equal(await serverVariation(server.url, user), guess);
        }
      } finally {
        await server.resume();
        await client.close();
        await server.stop();
      }
    });
  }

  test('a 401 from the server (wrong token) is a failed lookup, not an error', async () => {
    const token = 'a-token-of-at-least-16-bytes';
    const server = await startServer({ tokens: [token] });
    const wrong = new StickyBucketProfileService({ baseUrl: server.url, token: 'not-the-right-token!', logger: null, timeoutMs: 5000 });
    const right = new StickyBucketProfileService({ baseUrl: server.url, token, logger: null, timeoutMs: 5000 });
    const a = await sdkClient(datafile, wrong);
    const b = await sdkClient(datafile, right);
    try {
      await timedDecide(a, 'tok-user');
      await timedDecide(b, 'tok-user');
      await Promise.all([wrong.flush(), right.flush()]);
      assert.deepEqual(wrong.stats().lookupFailuresByKind, { http_401: 1 });
      assert.deepEqual(wrong.stats().saveFailuresByKind, { http_401: 1 });
      assert.equal(right.stats().lookupFailures, 0);
      assert.equal(right.stats().saveFailures, 0);
      assert.equal(right.stats().entriesWritten, 1);
    } finally {
      await Promise.all([a.close(), b.close()]);
      await server.stop();
    }
  });
});
