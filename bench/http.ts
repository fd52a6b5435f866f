// HTTP benchmarks against etcd: the same load generator (node:http,
// keep-alive, 64 closed-loop clients spread over the three members, 16-byte
// keys, 100-byte values) against a three-member kvd cluster (child processes
// of the built bin packages/cli/bin/kvd.js, classic-level data dirs) and a
// three-member etcd 3.4 cluster (/usr/bin/etcd --enable-v2), one after the
// other in one run, all on 127.0.0.1. Writes are PUT /v2/keys/<key> with
// value=...; linearizable reads GET ?quorum=true; serializable reads a plain
// GET, both over pre-populated keys. `ratio` is kvd ops/s over etcd ops/s.
//
// KV_ETCD_BIN: the etcd binary (default /usr/bin/etcd; missing → kvd figures
// only, ratio null). KV_HTTP_KVD_NODE_ARGS: extra node flags for the kvd
// members, e.g. '--cpu-prof --cpu-prof-dir=/tmp/prof' (members stop with
// SIGTERM, so the profiles get written).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/helpers/member-process.ts';
import { load, percentile, progress, round, type Measurement } from './stats.ts';

export type HttpBenchKind = 'write' | 'read-linearizable' | 'read-serializable';

const KVD_BIN = fileURLToPath(new URL('../packages/cli/bin/kvd.js', import.meta.url));
const ETCD_BIN = process.env.KV_ETCD_BIN ?? '/usr/bin/etcd';
const KVD_NODE_ARGS = (process.env.KV_HTTP_KVD_NODE_ARGS ?? '').split(/\s+/).filter((a) => a !== '');
const CLIENTS = 64;
const KEYS = 1000;
const VALUE = 'v'.repeat(100);
const BODY = `value=${VALUE}`;
/** 16-byte key names: `k` and 15 digits. */
const keyName = (i: number): string => `k${String(i).padStart(15, '0')}`;
const NAMES = ['m1', 'm2', 'm3'];

interface Proc {
  child: ChildProcess;
  log: string;
  exited: Promise<void>;
}

interface Cluster {
  kind: 'kvd' | 'etcd';
  clientUrls: string[];
  procs: Proc[];
}

/** Children still running and temp dirs in use: killed and removed on any exit of this process. */
const live = new Set<ChildProcess>();
const dirs = new Set<string>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));

function startProc(cmd: string, args: string[]): Proc {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const p: Proc = {
    child,
    log: '',
    exited: new Promise((r) => {
      child.once('exit', () => r());
      child.once('error', (e) => {
        p.log += `\nspawn ${cmd}: ${e.message}`;
        r();
      });
    }),
  };
  void p.exited.then(() => live.delete(child));
  const keep = (d: Buffer): void => {
    p.log = (p.log + d.toString()).slice(-4000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return p;
}

async function startCluster(kind: 'kvd' | 'etcd', dir: string): Promise<Cluster> {
  const peer = await Promise.all(NAMES.map(() => freePort()));
  const client = await Promise.all(NAMES.map(() => freePort()));
  const peerUrl = (i: number): string => `http://127.0.0.1:${peer[i]}`;
  const clientUrls = client.map((p) => `http://127.0.0.1:${p}`);
  const initialCluster = NAMES.map((n, i) => `${n}=${peerUrl(i)}`).join(',');
  const procs = NAMES.map((name, i) => {
    const args = [
      '--name', name,
      '--data-dir', join(dir, `${kind}-${name}`),
      '--listen-peer-urls', peerUrl(i),
      '--initial-advertise-peer-urls', peerUrl(i),
      '--listen-client-urls', clientUrls[i],
      '--advertise-client-urls', clientUrls[i],
      '--initial-cluster-token', `bench-${kind}`,
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', 'new',
    ];
    return kind === 'kvd'
      ? startProc(process.execPath, [...KVD_NODE_ARGS, KVD_BIN, ...args])
      : startProc(ETCD_BIN, [...args, '--enable-v2', '--logger=zap', '--log-outputs=stderr', '--log-level=warn']);
  });
  return { kind, clientUrls, procs };
}

/** SIGTERM, then SIGKILL whatever is still running after 5 s. */
async function stopCluster(c: Cluster): Promise<void> {
  const running = c.procs.filter((p) => p.child.exitCode === null && p.child.signalCode === null);
  for (const p of running) p.child.kill('SIGTERM');
  const timer = setTimeout(() => {
    for (const p of running) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  }, 5000);
  await Promise.all(running.map((p) => p.exited));
  clearTimeout(timer);
}

/** One HTTP exchange: status and body. */
function call(agent: Agent | undefined, base: string, method: string, path: string, body?: string, timeoutMs = 10_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) };
    const req = request(`${base}${path}`, { method, agent, headers, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Waits until a write answers on every member (so a leader is known everywhere). */
async function waitReady(c: Cluster, timeoutMs = 60_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (let i = 0; i < c.clientUrls.length; i++) {
    for (;;) {
      const dead = c.procs.find((p) => p.child.exitCode !== null || p.child.signalCode !== null);
      if (dead) throw new Error(`${c.kind} member exited early:\n${dead.log}`);
      if (performance.now() > deadline) throw new Error(`${c.kind} cluster not ready after ${timeoutMs} ms:\n${c.procs.map((p) => p.log).join('\n---\n')}`);
      try {
        const r = await call(undefined, c.clientUrls[i], 'PUT', `/v2/keys/bench-ready-${i}`, 'value=x', 2000);
        if (r.status === 200 || r.status === 201) break;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/**
 * 64 closed-loop clients, client i on member i % 3 (one keep-alive agent per
 * member), each sending its next request as soon as the last one answers.
 */
function runLoad(agents: Agent[], urls: string[], seconds: number, op: (client: number, seq: number) => { method: string; path: string; body?: string }) {
  return load(seconds, CLIENTS, async (seq, c) => {
    const m = c % urls.length;
    const { method, path, body } = op(c, seq);
    const r = await call(agents[m], urls[m], method, path, body);
    if (r.status !== 200 && r.status !== 201) throw new Error(`${r.status} ${r.body.slice(0, 200)}`);
  });
}

/** Log fsyncs so far, summed over the members, from each one's /metrics (count and seconds). */
async function fsyncTotals(c: Cluster): Promise<{ count: number; seconds: number }> {
  const metric = c.kind === 'kvd' ? 'kv_disk_fsync_duration_seconds' : 'etcd_disk_wal_fsync_duration_seconds';
  let count = 0;
  let seconds = 0;
  for (const u of c.clientUrls) {
    try {
      const r = await call(undefined, u, 'GET', '/metrics');
      count += Number(new RegExp(`^${metric}_count (\\S+)$`, 'm').exec(r.body)?.[1] ?? NaN);
      seconds += Number(new RegExp(`^${metric}_sum (\\S+)$`, 'm').exec(r.body)?.[1] ?? NaN);
    } catch {
      return { count: NaN, seconds: NaN };
    }
  }
  return { count, seconds };
}

/** CPU seconds (user + system) a process has used so far; NaN off Linux. */
function cpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

function rssOfMb(pid: number | undefined): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? round(Number(m[1]) / 1024, 1) : NaN;
  } catch {
    return NaN;
  }
}

interface Side {
  ops_per_s: number;
  p50_ms: number;
  p99_ms: number;
  rss_mb: number;
  ops: number;
  failed: number;
  /** Server CPU (all three members) per second of load, in cores. */
  server_cores: number;
  /** This (load generator) process's CPU per second of load, in cores. */
  client_cores: number;
  /**
   * Log syncs per second during the load, all three members together, and
   * their mean duration: kvd's kv_disk_fsync_duration_seconds (a whole
   * LogStore.save, queueing included), etcd's
   * etcd_disk_wal_fsync_duration_seconds (the WAL fsync alone).
   */
  fsyncs_per_s: number;
  fsync_mean_ms: number;
}

async function measure(kind: 'kvd' | 'etcd', bench: HttpBenchKind, seconds: number, dir: string): Promise<Side> {
  progress(`http-vs-etcd-${bench}: starting a three-member ${kind} cluster`);
  const c = await startCluster(kind, dir);
  const agents = c.clientUrls.map(() => new Agent({ keepAlive: true, maxSockets: CLIENTS, noDelay: true }));
  try {
    await waitReady(c);
    const write = (_c: number, s: number): { method: string; path: string; body: string } => ({
      method: 'PUT',
      path: `/v2/keys/${keyName((s * 7919) % KEYS)}`,
      body: BODY,
    });
    if (bench !== 'write') {
      // Pre-populate every key the readers ask for.
      let next = 0;
      await Promise.all(
        Array.from({ length: CLIENTS }, async (_, cl) => {
          const m = cl % c.clientUrls.length;
          for (let k = next++; k < KEYS; k = next++) {
            const r = await call(agents[m], c.clientUrls[m], 'PUT', `/v2/keys/${keyName(k)}`, BODY);
            if (r.status !== 200 && r.status !== 201) throw new Error(`${kind}: pre-populating ${keyName(k)}: ${r.status} ${r.body}`);
          }
        }),
      );
    }
    const suffix = bench === 'read-linearizable' ? '?quorum=true' : '';
    const read = (_c: number, s: number): { method: string; path: string } => ({ method: 'GET', path: `/v2/keys/${keyName((s * 7919) % KEYS)}${suffix}` });
    const op = bench === 'write' ? write : read;
    const warm = Math.max(0.5, Math.min(2, seconds / 5));
    await runLoad(agents, c.clientUrls, warm, op);
    const fs0 = await fsyncTotals(c);
    const cpu0 = c.procs.reduce((a, p) => a + cpuSeconds(p.child.pid), 0);
    const me0 = process.cpuUsage();
    const r = await runLoad(agents, c.clientUrls, seconds, op);
    const cpu1 = c.procs.reduce((a, p) => a + cpuSeconds(p.child.pid), 0);
    const me1 = process.cpuUsage(me0);
    const rss = Math.max(...c.procs.map((p) => rssOfMb(p.child.pid)));
    const fs1 = await fsyncTotals(c);
    progress(`http-vs-etcd-${bench}: ${kind}: ${r.ops} ok, ${r.failed} failed in ${round(r.elapsed, 2)} s${r.firstError ? ` (first failure: ${r.firstError})` : ''}`);
    return {
      ops_per_s: Math.round(r.ops / r.elapsed),
      p50_ms: round(percentile(r.lat, 50)),
      p99_ms: round(percentile(r.lat, 99)),
      rss_mb: rss,
      ops: r.ops,
      failed: r.failed,
      server_cores: round((cpu1 - cpu0) / r.elapsed, 2),
      client_cores: round((me1.user + me1.system) / 1e6 / r.elapsed, 2),
      fsyncs_per_s: Math.round((fs1.count - fs0.count) / r.elapsed),
      fsync_mean_ms: round((1000 * (fs1.seconds - fs0.seconds)) / (fs1.count - fs0.count)),
    };
  } finally {
    for (const a of agents) a.destroy();
    await stopCluster(c);
  }
}

function etcdVersion(): string | undefined {
  const r = spawnSync(ETCD_BIN, ['--version'], { encoding: 'utf8' });
  return /etcd Version: (\S+)/.exec(r.stdout ?? '')?.[1];
}

/** The benchmark `http-vs-etcd-<bench>`: kvd's figures, etcd's as `etcd_*`, and `ratio`. */
export async function httpVsEtcd(bench: HttpBenchKind, seconds: number): Promise<Measurement> {
  const dir = mkdtempSync(join(tmpdir(), 'kv-http-bench-'));
  dirs.add(dir);
  try {
    const kvd = await measure('kvd', bench, seconds, dir);
    const out: Measurement = {
      name: `http-vs-etcd-${bench}`,
      ops_per_s: kvd.ops_per_s,
      p50_ms: kvd.p50_ms,
      p99_ms: kvd.p99_ms,
      rss_mb: kvd.rss_mb,
      ratio: null,
      ops: kvd.ops,
      failed: kvd.failed,
      server_cores: kvd.server_cores,
      client_cores: kvd.client_cores,
      fsyncs_per_s: kvd.fsyncs_per_s,
      fsync_mean_ms: kvd.fsync_mean_ms,
    };
    if (!existsSync(ETCD_BIN)) {
      progress(`http-vs-etcd-${bench}: ${ETCD_BIN} not found (apt-get install etcd-server); kvd figures only, ratio null`);
    } else {
      const etcd = await measure('etcd', bench, seconds, dir);
      out.ratio = etcd.ops_per_s > 0 ? round(kvd.ops_per_s / etcd.ops_per_s, 3) : null;
      Object.assign(out, {
        etcd_ops_per_s: etcd.ops_per_s,
        etcd_p50_ms: etcd.p50_ms,
        etcd_p99_ms: etcd.p99_ms,
        etcd_rss_mb: etcd.rss_mb,
        etcd_ops: etcd.ops,
        etcd_failed: etcd.failed,
        etcd_server_cores: etcd.server_cores,
        etcd_client_cores: etcd.client_cores,
        etcd_fsyncs_per_s: etcd.fsyncs_per_s,
        etcd_fsync_mean_ms: etcd.fsync_mean_ms,
        etcd_version: etcdVersion(),
      });
    }
    Object.assign(out, { clients: CLIENTS, members: 3, keys: KEYS, key_bytes: 16, value_bytes: 100, seconds, rss_of: 'largest member' });
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    dirs.delete(dir);
  }
}
