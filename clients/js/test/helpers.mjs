// Shared by the tests and the benchmark: a real `stickybucket serve`
// process, SDK instances on a datafile, and the in-memory profile service
// the differential compares against.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import {
  createInstance,
  createStaticProjectConfigManager,
  createForwardingEventProcessor,
} from '@optimizely/optimizely-sdk';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..', '..');
export const fixtureDir = path.join(repoRoot, 'clients', 'testdata', 'sticky');
export const exampleDatafile = path.join(repoRoot, 'examples', 'datafile-v1.json');

export function serverBinary() {
  const bin = process.env.STICKYBUCKET_BIN;
  if (!bin) throw new Error('STICKYBUCKET_BIN is not set (test.sh sets it, building the server when needed)');
  return bin;
}

/**
 * Starts `stickybucket serve` on a free loopback port with the in-memory
 * store and waits (at most 10 s) for its "ready to serve" line.
 * @param {{tokens?: string[]}} [opts]
 */
export async function startServer(opts = {}) {
  const env = { ...process.env };
  delete env.STICKYBUCKET_API_TOKENS;
  if (opts.tokens) env.STICKYBUCKET_API_TOKENS = opts.tokens.join(',');
  const proc = spawn(serverBinary(), [
    'serve', '--listen', '127.0.0.1:0', '--admin-listen', 'off', '--datafile', `k=${exampleDatafile}`,
  ], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const logs = [];
  let buffered = '';
  let onReady;
  const ready = new Promise((resolve, reject) => {
    onReady = resolve;
    proc.once('exit', (code, sig) => reject(new Error(`stickybucket serve exited (${code ?? sig}) before it was ready:\n${logs.join('\n')}`)));
    proc.once('error', reject);
  });
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (chunk) => {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (logs.length < 1000) logs.push(line);
      try {
        const rec = JSON.parse(line);
        if (rec.msg === 'ready to serve') onReady(rec.listen[0]);
      } catch {
        // not a JSON line
      }
    }
  });
  let timer;
  const addr = await Promise.race([
    ready,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('stickybucket serve not ready within 10 s')), 10_000); }),
  ]).catch((err) => { proc.kill('SIGKILL'); throw err; }).finally(() => clearTimeout(timer));
  proc.removeAllListeners('exit');
  const exited = once(proc, 'exit');
  let stopped = false;
  return {
    url: `http://${addr}`,
    pid: proc.pid,
    logs,
    /** SIGTERM, then SIGKILL after 5 s; resolves when the process is gone. */
    async stop() {
      if (stopped) return;
      stopped = true;
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGCONT'); // a paused process cannot act on SIGTERM
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
    pause() { proc.kill('SIGSTOP'); },
    resume() { proc.kill('SIGCONT'); },
  };
}

/** GET /v1/profiles/{id}: the server's own view of a user. */
export async function serverProfile(baseUrl, userId, token) {
  const res = await fetch(`${baseUrl}/v1/profiles/${encodeURIComponent(userId)}`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    signal: AbortSignal.timeout(5000),
  });
  if (res.status !== 200) throw new Error(`GET profile ${userId}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** The profile service the differential compares against: a Map, async like the client. */
export class MapProfileService {
  constructor() {
    this.profiles = new Map();
    this.lookups = 0;
    this.saves = 0;
  }

  async lookup(userId) {
    this.lookups++;
    const p = this.profiles.get(userId);
    return { user_id: userId, experiment_bucket_map: p ? structuredClone(p) : {} };
  }

  async save(profile) {
    this.saves++;
    this.profiles.set(profile.user_id, structuredClone(profile.experiment_bucket_map));
  }
}

/** An event dispatcher that sends nothing. */
export const noDispatch = { dispatchEvent: async () => ({ statusCode: 200 }) };

/**
 * An SDK client on a datafile (object or JSON text), events to a no-op
 * dispatcher, and the given async profile service (or none).
 */
export async function sdkClient(datafile, userProfileServiceAsync) {
  const client = createInstance({
    projectConfigManager: createStaticProjectConfigManager({
      datafile: typeof datafile === 'string' ? datafile : JSON.stringify(datafile),
    }),
    eventProcessor: createForwardingEventProcessor(noDispatch),
    userProfileServiceAsync,
  });
  await client.onReady({ timeout: 5000 });
  return client;
}

/** The parts of a decision the differential compares. */
export function decisionKey(d) {
  return { flagKey: d.flagKey, variationKey: d.variationKey, enabled: d.enabled, ruleKey: d.ruleKey };
}

/** A free loopback port with nothing listening on it. */
export async function closedPort() {
  const net = await import('node:net');
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}
