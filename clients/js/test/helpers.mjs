// Shared by the tests and the benchmark: a real `stickybucket serve`
// process, SDK instances on a datafile, and the in-memory profile service
// the differential compares against.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';
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
    /**
     * SIGTERM, then SIGKILL after 1.5 s; resolves when the process is gone.
     * (Its graceful shutdown waits up to 5 s for a connection on which no
     * request came yet, which Node's fetch leaves behind after a timeout:
     * it opens a fresh connection in place of the one it aborted.)
     */
    async stop() {
      if (stopped) return;
      stopped = true;
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGCONT'); // a paused process cannot act on SIGTERM
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 1500);
      await exited;
      clearTimeout(t);
    },
    /**
     * SIGSTOP, then wait (at most 2 s) until every thread is stopped:
     * kill(2) returns before the stop takes effect, and a process still
     * running for a moment answers a request sent right after.
     */
    async pause() {
      proc.kill('SIGSTOP');
      await waitThreads(proc.pid, (states) => states.every((st) => st === 'T' || st === 't'), 'stopped');
    },
    /** SIGCONT, then wait (at most 2 s) until no thread is stopped. */
    async resume() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGCONT');
      await waitThreads(proc.pid, (states) => !states.some((st) => st === 'T' || st === 't'), 'resumed');
    },
  };
}

// threadStates reads the state letter of each thread of pid (Linux /proc).
function threadStates(pid) {
  const out = [];
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      out.push(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]);
    } catch {
      // the thread is gone
    }
  }
  return out;
}

async function waitThreads(pid, ok, what) {
  const deadline = performance.now() + 2000;
  for (;;) {
    let states;
    try {
      states = threadStates(pid);
    } catch {
      return; // the process is gone
    }
    if (ok(states)) return;
    if (performance.now() > deadline) throw new Error(`process ${pid} not ${what} within 2 s: ${states.join('')}`);
    await new Promise((r) => setTimeout(r, 1));
  }
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
