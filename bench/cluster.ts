// Cluster benchmarks: three kv members in three processes over WebSocket on
// 127.0.0.1, each with a classic-level data dir and fsync on.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemberProcess, freePort, type MemberConfig } from '../test/helpers/member-process.ts';
import { percentile, progress, round, type Measurement } from './stats.ts';

interface Cluster {
  members: MemberProcess[];
  cfg: (i: number) => MemberConfig;
  dir: string;
  stop(): Promise<void>;
}

async function startCluster(): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'kv-bench-'));
  const names = ['m1', 'm2', 'm3'];
  const ports = await Promise.all(names.map(() => freePort()));
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const initialCluster = names.map((n, i) => `${n}=${urls[i]}`).join(',');
  const cfg = (i: number): MemberConfig => ({ name: names[i], dataDir: join(dir, names[i]), listen: urls[i], initialCluster });
  const members = await Promise.all(names.map((_, i) => new MemberProcess(cfg(i)).ready()));
  return {
    members,
    cfg,
    dir,
    async stop() {
      for (const m of members) if (m.child.exitCode === null) await m.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function leaderOf(ms: readonly MemberProcess[]): Promise<MemberProcess | undefined> {
  for (const m of ms) {
    if (m.child.exitCode !== null) continue;
    const s = await m.request<{ isLeader: boolean }>('status', {}, 2000);
    if (s.ok && s.result?.isLeader) return m;
  }
  return undefined;
}

async function waitLeader(ms: readonly MemberProcess[]): Promise<MemberProcess> {
  for (;;) {
    const l = await leaderOf(ms);
    if (l) return l;
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function clusterDurableWrite(concurrency: number, seconds: number): Promise<Measurement> {
  const c = await startCluster();
  try {
    // The first write waits for the election.
    while (!(await c.members[0].request('set', { key: '/warmup', value: 'x' })).ok);
    const leader = await waitLeader(c.members);
    const r = await leader.request<{ ops: number; failed: number; seconds: number; p50: number; p99: number }>(
      'load',
      { concurrency, seconds },
      (seconds + 30) * 1000,
    );
    if (!r.ok) throw new Error(`load failed: ${JSON.stringify(r.error)}`);
    const x = r.result!;
    progress(`cluster-durable-write-c${concurrency}: ${x.ops} writes in ${round(x.seconds, 2)} s, ${x.failed} failed`);
    return {
      name: `cluster-durable-write-c${concurrency}`,
      ops_per_s: Math.round(x.ops / x.seconds),
      p50_ms: round(x.p50),
      p99_ms: round(x.p99),
      writes: x.ops,
      failed: x.failed,
      concurrency,
      value_bytes: 100,
      fsync: true,
    };
  } finally {
    await c.stop();
  }
}

/** SIGKILL the leader, then time until a surviving member's write succeeds; 5 trials. */
export async function clusterFailover(trials = 5): Promise<Measurement> {
  const times: number[] = [];
  for (let t = 0; t < trials; t++) {
    const c = await startCluster();
    try {
      while (!(await c.members[0].request('set', { key: '/warmup', value: 'x' })).ok);
      const leader = await waitLeader(c.members);
      const others = c.members.filter((m) => m !== leader);
      const t0 = performance.now();
      await leader.kill('SIGKILL');
      // Clients retry at once against a survivor, as an etcd client would.
      for (let i = 0; ; i++) {
        const r = await others[i % 2].request('set', { key: '/after', value: String(t) }, 10_000);
        if (r.ok) break;
      }
      times.push(performance.now() - t0);
      progress(`cluster-failover trial ${t + 1}: ${round(times[times.length - 1], 1)} ms`);
    } finally {
      await c.stop();
    }
  }
  return {
    name: 'cluster-failover',
    median_ms: round(percentile(times, 50), 1),
    min_ms: round(Math.min(...times), 1),
    max_ms: round(Math.max(...times), 1),
    trials,
    heartbeat_ms: 100,
    election_timeout_ms: 1000,
  };
}

/**
 * Restart time of a member whose data dir holds a large log: fill a
 * single-member cluster (snapshots off, so the log is all there) to
 * `megabytes`, stop it, and time a restart until it answers a linearizable
 * read.
 */
export async function clusterRecovery(megabytes: number): Promise<Measurement> {
  const dir = mkdtempSync(join(tmpdir(), 'kv-recovery-'));
  try {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const cfg: MemberConfig = { name: 'r1', dataDir: join(dir, 'r1'), listen: url, initialCluster: `r1=${url}`, snapshotCount: 1_000_000_000 };
    const first = await new MemberProcess(cfg).ready();
    const fill = await first.request<{ writes: number; seconds: number; dbSize: number }>(
      'fill',
      { bytes: megabytes * 1024 * 1024, valueBytes: 1000, concurrency: 64 },
      30 * 60_000,
    );
    if (!fill.ok) throw new Error(`fill failed: ${JSON.stringify(fill.error)}`);
    progress(`cluster-recovery: wrote ${fill.result!.writes} entries (${round(fill.result!.dbSize / 1048576, 1)} MB) in ${round(fill.result!.seconds, 1)} s`);
    await first.request('close');
    await first.exited;
    const t0 = performance.now();
    const again = await new MemberProcess(cfg).ready();
    for (;;) {
      const r = await again.request('get', { key: '/fill/k1' }, 60_000);
      if (r.ok) break;
      await new Promise((res) => setTimeout(res, 10));
    }
    const ms = performance.now() - t0;
    await again.kill('SIGKILL');
    return { name: 'cluster-recovery', ms: round(ms, 1), log_mb: round(fill.result!.dbSize / 1048576, 1), entries: fill.result!.writes };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
