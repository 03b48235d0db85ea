// require() and import give the same implementation, and the SDK accepts
// it as its userProfileServiceAsync from CommonJS too.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const fs = require('node:fs');

test('require("stickybucket") and import("stickybucket") are the same class', async () => {
  const cjs = require('stickybucket');
  const esm = await import('stickybucket');
  assert.equal(typeof cjs.StickyBucketProfileService, 'function');
  assert.equal(esm.StickyBucketProfileService, cjs.StickyBucketProfileService);
  assert.equal(esm.createStickyBucketProfileService, cjs.createStickyBucketProfileService);
  assert.deepEqual(Object.keys(esm).sort(), Object.keys(cjs).sort());
});

test('the package resolves to index.cjs for require and index.mjs for import', async () => {
  assert.equal(require.resolve('stickybucket'), path.join(__dirname, '..', 'index.cjs'));
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'));
  assert.equal(pkg.exports['.'].import.default, './index.mjs');
  assert.equal(pkg.exports['.'].require.default, './index.cjs');
  assert.deepEqual(Object.keys(pkg.dependencies || {}), [], 'no runtime dependencies');
  assert.deepEqual(Object.keys(pkg.peerDependencies), ['@optimizely/optimizely-sdk']);
});

test('from CommonJS with the SDK\'s CommonJS build: decideAsync calls lookup and save', async () => {
  const sdk = require('@optimizely/optimizely-sdk');
  const { StickyBucketProfileService } = require('stickybucket');
  const ups = new StickyBucketProfileService({ baseUrl: 'http://127.0.0.1:9', logger: null, timeoutMs: 2000 });
  // Stand in for the network: record the calls the SDK makes.
  const calls = [];
  ups.lookup = async (id) => { calls.push(['lookup', id]); return { user_id: id, experiment_bucket_map: {} }; };
  ups.save = async (p) => { calls.push(['save', p.user_id, Object.keys(p.experiment_bucket_map)]); };
  const datafile = fs.readFileSync(path.join(__dirname, '..', '..', '..', 'examples', 'datafile-v1.json'), 'utf8');
  const client = sdk.createInstance({
    projectConfigManager: sdk.createStaticProjectConfigManager({ datafile }),
    eventProcessor: sdk.createForwardingEventProcessor({ dispatchEvent: async () => ({ statusCode: 200 }) }),
    userProfileServiceAsync: ups,
  });
  try {
    await client.onReady({ timeout: 5000 });
    const d = await client.createUserContext('cjs-user', { plan: 'pro' }).decideAsync('new_search');
    assert.equal(d.ruleKey, 'search_experiment');
    assert.deepEqual(calls, [['lookup', 'cjs-user'], ['save', 'cjs-user', ['3003']]]);
    // The synchronous decide does not use an async profile service at all.
    calls.length = 0;
    client.createUserContext('cjs-user', { plan: 'pro' }).decide('new_search');
    assert.deepEqual(calls, []);
  } finally {
    await client.close();
  }
});
