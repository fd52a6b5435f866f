// A Jepsen-style fault run on the in-process memory network, in virtual
// time: store members (createNode), concurrent clients, a nemesis, and the
// checks afterwards — linearizability of every key's history, durability
// (the final reads on every member are part of that history, so a lost
// acknowledged write is a stale read), identical stores, and watchers that
// saw every change exactly once in index order.
//
// Every actor (client, nemesis, TTL writer) is an async loop that sleeps on
// the manual clock; the driver only moves time. The same seed gives the same
// run, and a failure prints it.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { MemoryLogStore } from '@kv/raft';
import { createNode, WatchOverflowError, type KvEvent, type KvNode } from '@kv/store';
import { StoreCluster } from '../../packages/store/test/helpers/store-cluster.ts';
import { checkHistory, type CheckResult, type Operation } from './linearizability.ts';
import { nodeEndpoint } from './node-endpoint.ts';
import { rng, runWorkload, type Endpoint, type WorkloadStats } from './workload.ts';

/** The faults a memory run can inject. */
export type MemoryFault = 'partition' | 'isolate-leader' | 'bridge' | 'lossy' | 'crash' | 'crash-leader' | 'membership' | 'clock-jump';

export const ALL_MEMORY_FAULTS: readonly MemoryFault[] = ['partition', 'isolate-leader', 'bridge', 'lossy', 'crash', 'crash-leader', 'membership', 'clock-jump'];

export interface MemoryRunOptions {
  seed: number;
  members?: 3 | 5;
  clients?: number;
  keys?: number;
  /** Virtual milliseconds of load under faults. @defaultValue 20000 */
  durationMs?: number;
  faults?: readonly MemoryFault[];
  /** Up to this many faults at once. @defaultValue 2 */
  combine?: number;
  log?: (line: string) => void;
}

export interface MemoryRunReport {
  seed: number;
  history: Operation[];
  stats: WorkloadStats;
  faults: Record<string, number>;
  check: CheckResult;
  checkMs: number;
  watchEvents: number;
  /** Everything that went wrong besides linearizability; empty when the run passed. */
  problems: string[];
}

const PREFIX = '/jepsen';

interface WatchRecord {
  member: string;
  startIndex: number;
  events: KvEvent[];
  error?: unknown;
  /** The member was closed while watching: the watch's completeness is not checked. */
  interrupted: boolean;
}

export async function runMemoryJepsen(opts: MemoryRunOptions): Promise<MemoryRunReport> {
  const log = opts.log ?? (() => {});
  const random = rng(opts.seed * 7919 + 17);
  const size = opts.members ?? 3;
  const names = Array.from({ length: size }, (_, i) => `n${i + 1}`);
  const offsets = new Map<string, number>();
  const cluster = new StoreCluster({ seed: opts.seed, names, node: { requestTimeoutMs: 2000, watchBufferSize: 1_000_000 } });
  const clock = cluster.clock;
  const wallFor = (name: string) => (): number => cluster.wallClock() + (offsets.get(name) ?? 0);
  const sleep = (ms: number): Promise<void> => new Promise((r) => void clock.setTimeout(r, Math.max(0, ms)));
  const problems: string[] = [];
  const faults: Record<string, number> = {};

  // Every change each member emitted, by member incarnation, for the watch
  // and replica checks (StoreCluster's own record resets on restart).
  const changeLogs: { member: string; events: KvEvent[] }[] = [];
  const watches: WatchRecord[] = [];
  const attach = (name: string, node: KvNode): void => {
    const events: KvEvent[] = [];
    changeLogs.push({ member: name, events });
    node.on('change', (e) => void events.push(e));
    const w: WatchRecord = { member: name, startIndex: node.status().appliedIndex, events: [], interrupted: false };
    watches.push(w);
    const ac = new AbortController();
    node.once('removed', () => void (w.interrupted = true));
    void (async () => {
      try {
        for await (const e of node.watch(PREFIX, { recursive: true, signal: ac.signal })) w.events.push(e);
      } catch (e) {
        w.error = e;
      }
    })();
    closers.set(node, () => {
      w.interrupted = true;
      ac.abort();
    });
  };
  const closers = new Map<KvNode, () => void>();

  // Members added during the run restart with the cluster they joined.
  const joinedAs = new Map<string, { initialCluster: string; initialClusterState: 'existing'; memberId: string }>();
  const create = async (name: string, extra: Parameters<StoreCluster['create']>[1] = {}): Promise<KvNode> => {
    const n = await cluster.create(name, { wallClock: wallFor(name), ...joinedAs.get(name), ...extra });
    attach(name, n);
    return n;
  };
  const kill = async (name: string): Promise<void> => {
    const node = cluster.node(name);
    cluster.down.add(name);
    closers.get(node)?.();
    await node.close();
  };

  await Promise.all(names.map((n) => create(n)));
  await cluster.waitForLeader();

  const endpoints = new Map<KvNode, Endpoint>();
  const live = (): Endpoint[] =>
    cluster.live().map((n) => {
      let ep = endpoints.get(n);
      if (!ep) endpoints.set(n, (ep = nodeEndpoint(n)));
      return ep;
    });

  const keys = Array.from({ length: opts.keys ?? 3 }, (_, i) => `${PREFIX}/r${i}`);
  const workload = runWorkload({
    clients: opts.clients ?? 6,
    keys,
    endpoints: live,
    now: () => clock.now(),
    sleep,
    random,
    thinkMs: 20,
  });

  // ---- the nemesis ----
  const enabled = opts.faults ?? ALL_MEMORY_FAULTS;
  const removedForever = new Set<string>();
  let joined = 0;
  let stopNemesis = false;
  const shuffle = <T>(xs: readonly T[]): T[] => {
    const a = [...xs];
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  };
  const liveNames = (): string[] => [...cluster.nodes.keys()].filter((n) => !cluster.down.has(n));
  const leaderName = (): string | undefined => cluster.live().find((n) => n.status().isLeader)?.name;

  /** Starts a fault; resolves with its undo. */
  async function inject(f: MemoryFault): Promise<(() => Promise<void>) | undefined> {
    const names = liveNames();
    switch (f) {
      case 'partition': {
        const s = shuffle(names);
        const cut = 1 + Math.floor(random() * (s.length - 1));
        cluster.net.partition(s.slice(0, cut), s.slice(cut));
        return async () => cluster.net.heal();
      }
      case 'isolate-leader': {
        const l = leaderName();
        if (!l) return undefined;
        cluster.net.isolate(l);
        return async () => cluster.net.heal();
      }
      case 'bridge': {
        // Two halves that cannot see each other, and one member that sees both.
        const s = shuffle(names);
        const mid = Math.floor(s.length / 2);
        const bridge = s[mid]!;
        const left = new Set(s.slice(0, mid));
        const right = new Set(s.slice(mid + 1));
        cluster.net.setFilter((_m, from, to) => {
          if (from === bridge || to === bridge) return 'deliver';
          return (left.has(from) && right.has(to)) || (right.has(from) && left.has(to)) ? 'drop' : 'deliver';
        });
        return async () => cluster.net.setFilter(undefined);
      }
      case 'lossy':
        cluster.net.setFaults({ dropRate: 0.2, duplicateRate: 0.2, minDelayMs: 0, maxDelayMs: 40 });
        return async () => cluster.net.clearFaults();
      case 'crash':
      case 'crash-leader': {
        const victim = f === 'crash-leader' ? leaderName() : shuffle(names)[0];
        if (!victim) return undefined;
        await kill(victim);
        return async () => {
          if (!removedForever.has(victim)) await create(victim);
        };
      }
      case 'membership': {
        // Remove a member (never the last quorum's worth), then add a fresh
        // one in its place: removed IDs are never reused, so it gets a new name.
        if (names.length < size) return undefined;
        const leader = cluster.live().find((n) => n.status().isLeader);
        if (!leader) return undefined;
        const victim = shuffle(names)[0]!;
        const id = cluster.node(victim).id;
        try {
          await leader.members.remove(id);
        } catch {
          return undefined; // refused or timed out: nothing to undo that a later round will not see
        }
        removedForever.add(victim);
        await kill(victim);
        const undo = async (): Promise<void> => {
          const name = `j${++joined}`;
          let lastError = 'no leader';
          for (let attempt = 0; attempt < 30; attempt++) {
            const l = cluster.live().find((n) => n.status().isLeader);
            if (l) {
              try {
                const r = await l.members.add(name, [`mem://${name}`]);
                const store = new MemoryLogStore();
                cluster.stores.set(name, store);
                const node = await createNode({
                  name,
                  initialCluster: r.initialCluster,
                  initialClusterState: 'existing',
                  transport: cluster.net.transport(name),
                  wallClock: wallFor(name),
                  logStore: store,
                  requestTimeoutMs: 2000,
                  watchBufferSize: 1_000_000,
                });
                joinedAs.set(name, { initialCluster: r.initialCluster, initialClusterState: 'existing', memberId: r.member.id });
                cluster.register(name, node);
                attach(name, node);
                return;
              } catch (e) {
                lastError = (e as Error).message;
                log(`membership: adding ${name} failed (${lastError}), retrying`);
              }
            }
            await sleep(500);
          }
          problems.push(`membership: could not add ${name} back after removing ${victim} (last error: ${lastError})`);
        };
        // Undone after the other faults of the round: the add needs a quorum.
        return Object.assign(undo, { last: true });
      }
      case 'clock-jump': {
        const victim = shuffle(names)[0]!;
        offsets.set(victim, (random() < 0.5 ? -1 : 1) * (1000 + random() * 60_000));
        return async () => void offsets.delete(victim);
      }
    }
  }

  const nemesis = (async () => {
    await sleep(500);
    while (!stopNemesis) {
      const count = 1 + Math.floor(random() * (opts.combine ?? 2));
      const chosen = shuffle(enabled).slice(0, count);
      const undos: (() => Promise<void>)[] = [];
      for (const f of chosen) {
        const undo = await inject(f);
        if (undo) {
          faults[f] = (faults[f] ?? 0) + 1;
          undos.push(undo);
          log(`t=${clock.now()} nemesis: ${f}`);
        }
      }
      await sleep(500 + random() * 2500);
      undos.reverse().sort((a, b) => Number('last' in a) - Number('last' in b));
      for (const u of undos) await u();
      await sleep(300 + random() * 1500);
    }
  })();

  // TTL keys written through members whose wall clocks jump: not part of the
  // register check (expiry is a matter of time), but every replica must
  // expire the same keys at the same index.
  let stopTtl = false;
  const ttlWriter = (async () => {
    let i = 0;
    while (!stopTtl) {
      const eps = cluster.live();
      const n = eps[Math.floor(random() * eps.length)];
      if (n) await n.set(`${PREFIX}-ttl/t${i++ % 5}`, 'x', { ttl: 1 + Math.floor(random() * 2) }).catch(() => undefined);
      await sleep(100 + random() * 300);
    }
  })();

  // ---- drive time ----
  const duration = opts.durationMs ?? 20_000;
  await clock.runFor(duration, { stepMs: 5 });
  workload.stop();
  stopNemesis = true;
  stopTtl = true;
  let settled = false;
  const all = Promise.all([workload.done, nemesis, ttlWriter]).finally(() => void (settled = true));
  await clock.waitFor(() => settled, { timeoutMs: 120_000, description: 'clients and nemesis finished' });
  const { history, stats } = await workload.done;

  // ---- heal, bring everyone back, final reads ----
  cluster.net.heal();
  cluster.net.setFilter(undefined);
  cluster.net.clearFaults();
  offsets.clear();
  for (const name of [...cluster.nodes.keys()]) {
    if (cluster.down.has(name) && !removedForever.has(name)) {
      await cluster.run(create(name), 30_000);
    }
  }
  await cluster.waitForLeader(undefined, 30_000);
  await cluster.waitForConvergence(undefined, 30_000);
  for (const node of cluster.live()) {
    const ep = nodeEndpoint(node);
    for (const key of keys) {
      const call = clock.now();
      const r = await cluster.run(ep.read(key), 30_000);
      if (r.type !== 'ok') problems.push(`final read of ${key} on ${node.name} failed after healing: ${r.why}`);
      else history.push({ client: -1, key, input: { f: 'read' }, output: r.value, outcome: 'ok', call, ret: clock.now() });
    }
  }
  await all;

  // ---- checks ----
  const t0 = performance.now();
  const check = checkHistory(history, { seed: opts.seed });
  const checkMs = performance.now() - t0;

  await cluster.waitForConvergence(undefined, 30_000);
  const dumps = await Promise.all(
    cluster.live().map(async (n) => ({ n, dump: JSON.stringify(await cluster.run(n.get('/', { recursive: true, sorted: true, consistency: 'serializable' }))) })),
  );
  for (const d of dumps.slice(1)) {
    if (d.dump !== dumps[0]!.dump) problems.push(`stores differ at index ${d.n.status().appliedIndex}: ${dumps[0]!.n.name} vs ${d.n.name}`);
  }

  // The same index means the same change on every member.
  const byIndex = new Map<number, { member: string; json: string }>();
  for (const { member, events } of changeLogs) {
    for (const e of events) {
      const json = JSON.stringify({ action: e.action, key: e.node.key, value: e.node.value });
      const seen = byIndex.get(e.index);
      if (!seen) byIndex.set(e.index, { member, json });
      else if (seen.json !== json) problems.push(`index ${e.index}: ${seen.member} applied ${seen.json}, ${member} applied ${json}`);
    }
  }

  // A watcher that stayed connected saw exactly its member's changes under the prefix.
  let watchEvents = 0;
  for (const [i, w] of watches.entries()) {
    watchEvents += w.events.length;
    if (w.error !== undefined && !(w.error instanceof WatchOverflowError)) problems.push(`watch on ${w.member} failed: ${String(w.error)}`);
    for (let k = 1; k < w.events.length; k++) {
      if (!(w.events[k]!.index > w.events[k - 1]!.index)) problems.push(`watch on ${w.member}: index ${w.events[k]!.index} after ${w.events[k - 1]!.index}`);
    }
    if (w.interrupted || w.error !== undefined) continue;
    const own = changeLogs[i]!.events.filter((e) => e.node.key === PREFIX || e.node.key.startsWith(PREFIX + '/'));
    const a = own.map((e) => e.index).join(',');
    const b = w.events.map((e) => e.index).join(',');
    if (a !== b) problems.push(`watch on ${w.member} saw [${b.slice(0, 200)}] but the member applied [${a.slice(0, 200)}]`);
  }

  // Resuming from a past index returns what is still in the history, no gaps.
  const steady = cluster.live()[0]!;
  const steadyLog = changeLogs.filter((c) => c.member === steady.name).at(-1)!.events.filter((e) => e.node.key.startsWith(PREFIX + '/'));
  if (steadyLog.length > 10) {
    // Within the 1,000 events the history keeps (other keys' changes count too).
    const oldest = steady.status().appliedIndex - 900;
    const from = steadyLog.find((e) => e.index >= oldest)?.index ?? steadyLog.at(-1)!.index;
    const expected = steadyLog.filter((e) => e.index >= from).map((e) => e.index);
    const got: number[] = [];
    const ac = new AbortController();
    const it = steady.watch(PREFIX, { recursive: true, waitIndex: from, signal: ac.signal });
    for (let k = 0; k < expected.length; k++) {
      const r = await cluster.run(it.next(), 5_000);
      if (r.done) break;
      got.push(r.value.index);
    }
    ac.abort();
    if (got.join(',') !== expected.join(',')) problems.push(`resumed watch from ${from} on ${steady.name}: got ${got.length} events, expected ${expected.length}`);
  }

  await cluster.close();
  return { seed: opts.seed, history, stats, faults, check, checkMs, watchEvents, problems };
}

/** Runs one configuration and fails with the checker's report and the replay seed. */
export async function assertRunPasses(opts: MemoryRunOptions): Promise<MemoryRunReport> {
  const r = await runMemoryJepsen(opts);
  const { log: _log, ...replayable } = opts;
  const replay = `replay: node --conditions=kv-source --import tsx test/jepsen/replay.ts '${JSON.stringify(replayable)}'`;
  if (r.check.linearizable === false) assert.fail(`${r.check.report}\n${replay}`);
  if (r.check.linearizable === 'unknown') assert.fail(`${r.check.report}\n${replay}`);
  assert.deepEqual(r.problems, [], replay);
  const faults = Object.entries(r.faults).map(([k, v]) => `${k}×${v}`).join(' ');
  console.log(
    `# seed ${opts.seed}: ${r.history.length} ops (${r.stats.ok} ok, ${r.stats.fail} failed, ${r.stats.unknown} unknown), ` +
      `faults ${faults || 'none'}, ${r.watchEvents} watch events, checked in ${r.checkMs.toFixed(0)} ms`,
  );
  return r;
}

