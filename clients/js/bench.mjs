#!/usr/bin/env node
// Benchmark (not part of the tests): decideAsync of one flag with this
// client over loopback against the same SDK with an in-memory profile
// service and with none; p50/p99 per decide.
//
//   STICKYBUCKET_BIN=/path/to/stickybucket node bench.mjs [decides]
//
// Without STICKYBUCKET_BIN the server is built with `go build` first.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StickyBucketProfileService } from 'stickybucket';
import { startServer, sdkClient, MapProfileService, exampleDatafile, repoRoot } from './test/helpers.mjs';

const N = Number(process.argv[2] ?? 2000);
const WARMUP = 300;
const ROUNDS = 4; // the cases take turns, N/ROUNDS decides each per turn
const FLAG = 'new_search';
const ATTRS = { plan: 'pro', app_version: '3.2.0', country: 'de' };

let tmp;
if (!process.env.STICKYBUCKET_BIN) {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stickybucket-bench-'));
  const out = spawnSync('go', ['build', '-o', path.join(tmp, 'stickybucket'), './cmd/stickybucket'], { cwd: repoRoot, stdio: 'inherit' });
  if (out.status !== 0) throw new Error('go build failed');
  process.env.STICKYBUCKET_BIN = path.join(tmp, 'stickybucket');
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const server = await startServer();
const clients = [];
try {
  const datafile = fs.readFileSync(exampleDatafile, 'utf8');
  const ups = new StickyBucketProfileService({ baseUrl: server.url });
  const cases = [
    { name: 'stickybucket (loopback HTTP)', client: await sdkClient(datafile, ups) },
    { name: 'in-memory Map service', client: await sdkClient(datafile, new MapProfileService()) },
    { name: 'no profile service', client: await sdkClient(datafile, undefined) },
  ];
  clients.push(...cases.map((c) => c.client));

  for (const scenario of ['returning user', 'new user each decide']) {
    // One user decided again and again (lookup finds the profile, nothing
    // to save), or a new user each time (lookup finds nothing, one save).
    const userId = (k, i) => (scenario === 'returning user' ? `returning-${k}` : `new-${k}-${i}`);
    for (const [k, c] of cases.entries()) {
      c.k = k;
      c.ms = [];
      for (let i = 0; i < WARMUP; i++) {
        await c.client.createUserContext(userId(k, `w${i}`), ATTRS).decideAsync(FLAG);
      }
    }
    await ups.flush();
    const per = Math.ceil(N / ROUNDS);
    for (let r = 0; r < ROUNDS; r++) {
      for (const c of cases) {
        for (let i = 0; i < per; i++) {
          const ctx = c.client.createUserContext(userId(c.k, `${r}-${i}`), ATTRS);
          const t0 = performance.now();
          const d = await ctx.decideAsync(FLAG);
          c.ms.push(performance.now() - t0);
          if (d.flagKey !== FLAG) throw new Error(`unexpected decision ${JSON.stringify(d)}`);
        }
      }
    }
    await ups.flush();
    console.log(`\n${scenario}: ${per * ROUNDS} decideAsync("${FLAG}") per case after ${WARMUP} warm-up, ${ROUNDS} interleaved rounds`);
    console.log('case                            p50 ms   p99 ms   mean ms   max ms');
    for (const c of cases) {
      const s = [...c.ms].sort((a, b) => a - b);
      const mean = s.reduce((a, b) => a + b, 0) / s.length;
      console.log(`${c.name.padEnd(30)} ${percentile(s, 50).toFixed(3).padStart(7)}  ${percentile(s, 99).toFixed(3).padStart(7)}  ${mean.toFixed(3).padStart(8)}  ${s[s.length - 1].toFixed(3).padStart(7)}`);
    }
  }
  const st = ups.stats();
  console.log(`\nclient counters: lookups ${st.lookups}, lookup failures ${st.lookupFailures}, saves ${st.saves}, save failures ${st.saveFailures}, dropped ${st.savesDropped}`);
  console.log(`node ${process.version}, ${os.cpus().length} x ${os.cpus()[0].model}, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
} finally {
  await Promise.all(clients.map((c) => c.close()));
  await server.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
}
