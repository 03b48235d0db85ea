// The official Node SDK with stickybucket's client, for the integration tests.
//
//   node decide.mjs BASE_URL TOKEN DATAFILE      (STICKYBUCKET_JS_DIR: clients/js, its dependencies installed)
//   stdin:  {"user_id": "u", "flag": "new_search", "attributes": {...}}, one per line
//   stdout: {"user_id": ..., "variation": ..., "rule": ..., "enabled": ...}, one per line
//
// Decisions use decideAsync, the SDK's path through an async profile
// service. Events go nowhere. It ends at the end of its input.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';
import readline from 'node:readline';

const jsDir = process.env.STICKYBUCKET_JS_DIR;
const require = createRequire(path.join(jsDir, 'package.json'));
const sdk = await import(pathToFileURL(require.resolve('@optimizely/optimizely-sdk')));
const { StickyBucketProfileService } = await import(pathToFileURL(path.join(jsDir, 'index.mjs')));

const [baseUrl, token, datafilePath] = process.argv.slice(2);
const ups = new StickyBucketProfileService({ baseUrl, token, timeoutMs: 5000 });
const client = sdk.createInstance({
  projectConfigManager: sdk.createStaticProjectConfigManager({ datafile: fs.readFileSync(datafilePath, 'utf8') }),
  eventProcessor: sdk.createForwardingEventProcessor({ dispatchEvent: async () => ({ statusCode: 200 }) }),
  userProfileServiceAsync: ups,
});
await client.onReady({ timeout: 5000 });
for await (const line of readline.createInterface({ input: process.stdin })) {
  const req = JSON.parse(line);
  const d = await client.createUserContext(req.user_id, req.attributes ?? {}).decideAsync(req.flag);
  process.stdout.write(JSON.stringify({ user_id: req.user_id, variation: d.variationKey, rule: d.ruleKey, enabled: d.enabled }) + '\n');
}
await ups.flush(); // the SDK does not wait for its saves
const { lookupFailures, saveFailures } = ups.stats();
client.close();
if (lookupFailures || saveFailures) {
  console.error(`decide.mjs: ${lookupFailures} lookups and ${saveFailures} saves failed`);
  process.exit(1);
}
