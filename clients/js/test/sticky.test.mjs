// The sticky differential: on each generated fixture, the SDK with this
// client against a real `stickybucket serve` must decide exactly as the
// same SDK with an in-memory profile service, before and after the
// datafile changes (clients/testdata/sticky; see the common brief).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { StickyBucketProfileService } from 'stickybucket';
import {
  startServer, sdkClient, MapProfileService, decisionKey, fixtureDir, serverProfile,
} from './helpers.mjs';

const fixtures = fs.readdirSync(fixtureDir).filter((f) => /^seed-\d+\.json$/.test(f)).sort();

// Summed over the fixtures, checked at the end.
const totals = {
  decisions: 0,
  // phase-2 decisions where the in-memory-profile SDK and an SDK with no
  // profile service disagree: profiles changed the outcome.
  stickyMattered: 0,
  // legacy getVariation with this client versus with a synchronous
  // in-memory service (which the legacy API does use), phase 2.
  legacyDiffersFromSyncUps: 0,
  usersWithServerProfile: 0,
};

// The SDK's synchronous UserProfileService over a Map, to show what the
// legacy API would do with a profile service it can use.
class SyncMapProfileService {
  constructor() { this.profiles = new Map(); }
  lookup(userId) {
    const p = this.profiles.get(userId);
    return { user_id: userId, experiment_bucket_map: p ? structuredClone(p) : {} };
  }
  save(profile) { this.profiles.set(profile.user_id, structuredClone(profile.experiment_bucket_map)); }
}

async function syncUpsClient(datafile, ups) {
  const sdk = await import('@optimizely/optimizely-sdk');
  const client = sdk.createInstance({
    projectConfigManager: sdk.createStaticProjectConfigManager({ datafile: JSON.stringify(datafile) }),
    eventProcessor: sdk.createForwardingEventProcessor({ dispatchEvent: async () => ({ statusCode: 200 }) }),
    userProfileService: ups,
  });
  await client.onReady({ timeout: 5000 });
  return client;
}

// attrs gives the fixture's attributes as they are: an object (values of
// any JSON type), null, or absent (undefined); the SDK takes all three
// (null and undefined as no attributes; values of types an audience
// condition cannot use make that condition unknown, and a non-string
// $opt_bucketing_id is ignored with a warning, the user ID bucketing).
function attrs(user) {
  return user.attributes;
}

// decideAll decides every flag for every user with each client, in the
// same order, one request at a time, and returns the decisions per client.
async function decideAll(clients, users, flags) {
  const out = clients.map(() => []);
  for (const user of users) {
    const contexts = clients.map((c) => c.createUserContext(user.user_id, attrs(user)));
    for (const flag of flags) {
      for (let i = 0; i < clients.length; i++) {
        const d = await contexts[i].decideAsync(flag);
        out[i].push({ user: user.user_id, ...decisionKey(d) });
      }
    }
  }
  return out;
}

// legacy runs activate (which uses getVariation's decision) for every
// user and experiment with this client's SDK, an SDK without profiles
// and one with a synchronous in-memory service; the first two must agree.
// It returns how often the synchronous one decided otherwise.
function legacy(ours, none, withSyncUps, users, experiments) {
  let differs = 0;
  for (const user of users) {
    for (const exp of experiments) {
      const got = ours.activate(exp, user.user_id, attrs(user));
      assert.equal(got, none.activate(exp, user.user_id, attrs(user)), `activate ${exp} for ${user.user_id}`);
      assert.equal(ours.getVariation(exp, user.user_id, attrs(user)), got);
      if (withSyncUps.activate(exp, user.user_id, attrs(user)) !== got) differs++;
    }
  }
  return differs;
}

function assertSame(got, want, what) {
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) {
    assert.deepEqual(got[i], want[i], `${what}: decision ${i} differs`);
  }
}

// The server's profile of a user as {expId: variationId}.
async function serverMap(url, userId) {
  const p = await serverProfile(url, userId);
  return Object.fromEntries(Object.entries(p.experimentBucketMap).map(([k, v]) => [k, v.variation_id]));
}

function plainMap(m) {
  return Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k, v.variation_id]));
}

describe('sticky differential on the generated fixtures', () => {
  for (const file of fixtures) {
    test(file, async (t) => {
      const fx = JSON.parse(fs.readFileSync(path.join(fixtureDir, file), 'utf8'));
      const server = await startServer();
      const clients = [];
      try {
        const ups = new StickyBucketProfileService({ baseUrl: server.url, timeoutMs: 2000 });
        const mem = new MapProfileService();

        // Phase 1: datafile_v1.
        const a = await sdkClient(fx.datafile_v1, ups);
        const b = await sdkClient(fx.datafile_v1, mem);
        clients.push(a, b);
        const [da, db] = await decideAll([a, b], fx.users, fx.flags_v1);
        assertSame(da, db, `${file} phase 1`);
        await ups.flush();

        // Legacy API: activate / getVariation do not call
        // userProfileServiceAsync (the SDK consults only a synchronous
        // userProfileService there), so with this client they decide as an
        // SDK without profiles does. A synchronous in-memory service beside
        // them shows what stickiness they miss.
        const syncUps = new SyncMapProfileService();
        const none1 = await sdkClient(fx.datafile_v1, undefined);
        const legacy1 = await syncUpsClient(fx.datafile_v1, syncUps);
        clients.push(none1, legacy1);
        const before = ups.stats().lookups;
        legacy(a, none1, legacy1, fx.users, fx.experiments_v1);
        assert.equal(ups.stats().lookups, before, 'the legacy API looked up profiles');

        // Phase 2: datafile_v2, the same server and the same map.
        const a2 = await sdkClient(fx.datafile_v2, ups);
        const b2 = await sdkClient(fx.datafile_v2, mem);
        const none2 = await sdkClient(fx.datafile_v2, undefined);
        clients.push(a2, b2, none2);
        const [da2, db2, dn2] = await decideAll([a2, b2, none2], fx.users, fx.flags_v2);
        assertSame(da2, db2, `${file} phase 2`);
        await ups.flush();
        const mattered = dn2.filter((d, i) => JSON.stringify(d) !== JSON.stringify(db2[i])).length;

        const legacy2 = await syncUpsClient(fx.datafile_v2, syncUps);
        clients.push(legacy2);
        const legacyDiff = legacy(a2, none2, legacy2, fx.users, fx.experiments_v2);
        assert.equal(ups.stats().lookups, before + fx.users.length * fx.flags_v2.length);

        // The server holds what the in-memory service holds, user by user.
        let held = 0;
        for (const user of fx.users) {
          const got = await serverMap(server.url, user.user_id);
          assert.deepEqual(got, plainMap(mem.profiles.get(user.user_id)), `${file}: server profile of ${user.user_id}`);
          if (Object.keys(got).length > 0) held++;
        }

        const s = ups.stats();
        assert.equal(s.lookupFailures, 0, JSON.stringify(s));
        assert.equal(s.saveFailures, 0, JSON.stringify(s));
        assert.equal(s.savesOnlyNew, 0);

        totals.decisions += da.length + da2.length;
        totals.stickyMattered += mattered;
        totals.legacyDiffersFromSyncUps += legacyDiff;
        totals.usersWithServerProfile += held;
        t.diagnostic(`${da.length}+${da2.length} decisions equal; phase 2 without profiles differs in ${mattered}; ` +
          `${held}/${fx.users.length} users held on the server; saves ${s.saves}, entries written ${s.entriesWritten}; ` +
          `legacy getVariation vs a sync in-memory service differs in ${legacyDiff}`);
      } finally {
        await Promise.all(clients.map((c) => c.close()));
        await server.stop();
      }
    });
  }

  test('across the fixtures, profiles changed decisions and the server held them', () => {
    assert.ok(fixtures.length >= 6, `only ${fixtures.length} fixtures`);
    assert.ok(totals.decisions > 0);
    assert.ok(totals.stickyMattered > 0, 'no phase-2 decision depended on the profiles: the test would pass with a client that ignores them');
    assert.ok(totals.usersWithServerProfile > 0, 'the server holds no profile');
    // The legacy API (activate/getVariation) uses only a synchronous
    // UserProfileService; with userProfileServiceAsync it is not sticky.
    assert.ok(totals.legacyDiffersFromSyncUps > 0, 'expected the legacy API to differ from a sticky sync service somewhere');
  });
});

// The same differential with decideForKeysAsync: each user's flags in one
// call, so one lookup and one save carry several experiments.
describe('sticky differential with decideForKeysAsync', () => {
  for (const file of fixtures) {
    test(file, async () => {
      const fx = JSON.parse(fs.readFileSync(path.join(fixtureDir, file), 'utf8'));
      const server = await startServer();
      const clients = [];
      try {
        const ups = new StickyBucketProfileService({ baseUrl: server.url, timeoutMs: 2000 });
        const mem = new MapProfileService();
        for (const [datafile, flags] of [[fx.datafile_v1, fx.flags_v1], [fx.datafile_v2, fx.flags_v2]]) {
          const a = await sdkClient(datafile, ups);
          const b = await sdkClient(datafile, mem);
          clients.push(a, b);
          for (const user of fx.users) {
            const da = await a.createUserContext(user.user_id, attrs(user)).decideForKeysAsync(flags);
            const db = await b.createUserContext(user.user_id, attrs(user)).decideForKeysAsync(flags);
            assert.deepEqual(flags.map((f) => decisionKey(da[f])), flags.map((f) => decisionKey(db[f])), `${file} ${user.user_id}`);
          }
          await ups.flush();
        }
        for (const user of fx.users) {
          assert.deepEqual(await serverMap(server.url, user.user_id), plainMap(mem.profiles.get(user.user_id)), `${file}: server profile of ${user.user_id}`);
        }
        const s = ups.stats();
        assert.equal(s.lookups, 2 * fx.users.length);
        assert.equal(s.lookupFailures + s.saveFailures, 0, JSON.stringify(s));
      } finally {
        await Promise.all(clients.map((c) => c.close()));
        await server.stop();
      }
    });
  }
});
