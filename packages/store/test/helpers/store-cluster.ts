// A cluster of store nodes (createNode) on the memory network with the manual
// clock, for the store tests. Every member gets its own MemoryLogStore (kept,
// so a closed member can be brought back on it), records every `change`
// event it emits, and reads TTL time from the same virtual clock
// (`T0 + net.clock.now()`), so nothing here sleeps or looks at the real time.
import assert from 'node:assert/strict';

import { MemoryLogStore, RaftError } from '@kv/raft';
import { createMemoryNetwork, settle, track, type ManualClock, type MemoryNetwork, type Outcome } from '@kv/raft/testing';

export { settle, track, type Outcome };

import { createNode, KvError, type CreateNodeOptions, type KvEvent, type KvNode } from '../../src/index.ts';

/** The wall-clock time (ms since the epoch) the virtual clock's 0 stands for. */
export const T0 = Date.UTC(2025, 0, 1);

/** Awaits `p` under the manual clock; fails the test if it rejects or hangs. */
export async function resolved<T>(clock: ManualClock, p: Promise<T>, timeoutMs = 20_000): Promise<T> {
  const o = await settle(clock, p, timeoutMs);
  if (o.status === 'rejected') throw o.error;
  if (o.status === 'pending') assert.fail(`promise still pending after ${timeoutMs} ms of virtual time`);
  return o.value;
}

/** Awaits a rejection under the manual clock and returns the error (with the virtual time it came). */
export async function rejected(clock: ManualClock, p: Promise<unknown>, timeoutMs = 20_000): Promise<Error & { code?: unknown; at: number }> {
  const o = await settle(clock, p, timeoutMs);
  if (o.status === 'fulfilled') assert.fail(`expected a rejection, got ${describeValue(o.value)}`);
  if (o.status === 'pending') assert.fail(`promise still pending after ${timeoutMs} ms of virtual time`);
  return Object.assign(o.error, { at: o.at });
}

function describeValue(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Asserts that `err` is a KvError with etcd's `code` (and, if given, `cause`). */
export function assertKvError(err: unknown, code: number, cause?: string | RegExp): asserts err is KvError {
  assert.ok(err instanceof KvError, `expected KvError ${code}, got ${String(err)}`);
  assert.equal(err.errorCode, code, `expected code ${code}, got ${err.errorCode}: ${err.message} (${err.cause})`);
  assert.equal(err.code, code);
  if (typeof cause === 'string') assert.equal(err.cause, cause);
  else if (cause) assert.match(err.cause, cause);
}

/** Asserts that `err` is a RaftError with `code`. */
export function assertRaftError(err: unknown, code: string): asserts err is RaftError {
  assert.ok(err instanceof RaftError, `expected RaftError ${code}, got ${String(err)}`);
  assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
}

/** A watch being consumed in the background: what it yielded, and how it ended. */
export interface Consumer {
  readonly events: KvEvent[];
  /** The iteration finished normally. */
  readonly done: boolean;
  /** The iteration threw this. */
  readonly error: unknown;
  /** Finished either way. */
  readonly ended: boolean;
}

/** Consumes `it` in the background, one event at a time, as a `for await` loop would. */
export function consume(it: AsyncIterable<KvEvent>): Consumer {
  const c = { events: [] as KvEvent[], done: false, error: undefined as unknown, ended: false };
  void (async () => {
    try {
      for await (const e of it) c.events.push(e);
      c.done = true;
    } catch (e) {
      c.error = e;
    } finally {
      c.ended = true;
    }
  })();
  return c;
}

/** Event summaries for readable failures: `set /a 7`. */
export function brief(events: readonly KvEvent[]): string[] {
  return events.map((e) => `${e.action} ${e.node.key} ${e.index}`);
}

/** Asserts that `events` have strictly increasing indexes (each change exactly once, in order). */
export function assertInIndexOrder(events: readonly KvEvent[], what = 'events'): void {
  for (let i = 1; i < events.length; i++) {
    assert.ok(events[i].index > events[i - 1].index, `${what} out of order or repeated at ${i}: ${brief(events.slice(Math.max(0, i - 2), i + 2)).join(', ')}`);
  }
}

/** Options of a {@link StoreCluster}. */
export interface StoreClusterOptions {
  /** Network seed. @defaultValue 1 */
  readonly seed?: number;
  /** Member names. @defaultValue ['m1', 'm2', 'm3'] */
  readonly names?: readonly string[];
  /** Options for every member's createNode. */
  readonly node?: Partial<CreateNodeOptions>;
}

/**
 * Store members on one memory network with a manual clock. `start()`
 * creates the initial members and waits for a leader; time moves only
 * through `clock`.
 */
export class StoreCluster {
  readonly net: MemoryNetwork<ManualClock>;
  readonly initialCluster: Record<string, string>;
  readonly nodes = new Map<string, KvNode>();
  readonly stores = new Map<string, MemoryLogStore>();
  /** Every `change` event each member emitted (since it was last created). */
  readonly changes = new Map<string, KvEvent[]>();
  readonly down = new Set<string>();
  readonly wallClock = (): number => T0 + this.net.clock.now();

  constructor(readonly options: StoreClusterOptions = {}) {
    this.net = createMemoryNetwork({ seed: options.seed ?? 1, clock: 'manual' });
    const names = options.names ?? ['m1', 'm2', 'm3'];
    this.initialCluster = Object.fromEntries(names.map((n) => [n, `mem://${n}`]));
  }

  get clock(): ManualClock {
    return this.net.clock;
  }

  /** Creates (and starts) member `name`, on its kept log store unless told otherwise. */
  async create(name: string, extra: Partial<CreateNodeOptions> = {}): Promise<KvNode> {
    const logStore = (extra.logStore as MemoryLogStore | undefined) ?? this.stores.get(name) ?? new MemoryLogStore();
    this.stores.set(name, logStore);
    const node = await createNode({
      name,
      initialCluster: this.initialCluster,
      transport: this.net.transport(name),
      wallClock: this.wallClock,
      ...this.options.node,
      ...extra,
      logStore,
    });
    this.register(name, node);
    return node;
  }

  /** Tracks a node made elsewhere (a joining member). */
  register(name: string, node: KvNode): void {
    const seen: KvEvent[] = [];
    node.on('change', (e) => void seen.push(e));
    this.changes.set(name, seen);
    this.nodes.set(name, node);
    this.down.delete(name);
    node.on('removed', () => void this.down.add(name));
  }

  /** Creates every initial member and waits for a leader. */
  async start(): Promise<KvNode> {
    await Promise.all(Object.keys(this.initialCluster).map((n) => this.create(n)));
    return this.waitForLeader();
  }

  node(name: string): KvNode {
    const n = this.nodes.get(name);
    assert.ok(n, `no member ${name}`);
    return n;
  }

  /** Members not closed or removed. */
  live(): KvNode[] {
    return [...this.nodes.entries()].filter(([n]) => !this.down.has(n)).map(([, node]) => node);
  }

  /** The live member that leads, if exactly one does and every other live member that knows a leader agrees. */
  leader(among?: readonly string[]): KvNode | undefined {
    const live = this.live();
    const leaders = live.filter((n) => n.status().isLeader && (among === undefined || among.includes(n.name)));
    if (leaders.length !== 1) return undefined;
    return leaders[0];
  }

  /**
   * Waits until one live member (among those named) leads and every one of
   * them (default: every live member) knows it as the leader.
   */
  async waitForLeader(among?: readonly string[], timeoutMs = 10_000): Promise<KvNode> {
    const group = (): KvNode[] => this.live().filter((n) => among === undefined || among.includes(n.name));
    await this.clock.waitFor(
      () => {
        const l = this.leader(among);
        return l !== undefined && group().every((n) => n.status().leader === l.id);
      },
      { timeoutMs, description: 'a leader is elected and known' },
    );
    return this.leader(among)!;
  }

  /** Live members other than the leader. */
  followers(): KvNode[] {
    return this.live().filter((n) => !n.status().isLeader);
  }

  /** Waits until every live member (or those named) applied the same entries, and all that was committed. */
  async waitForConvergence(names?: readonly string[], timeoutMs = 10_000): Promise<void> {
    const ns = names ? names.map((n) => this.node(n)) : this.live();
    await this.clock.waitFor(
      () => {
        const top = Math.max(...ns.map((n) => n.status().raftIndex));
        return ns.every((n) => n.status().appliedIndex >= top && n.status().appliedIndex === ns[0].status().appliedIndex);
      },
      { timeoutMs, description: `members ${ns.map((n) => n.name).join(',')} applied the same entries` },
    );
  }

  run<T>(p: Promise<T>, timeoutMs?: number): Promise<T> {
    return resolved(this.clock, p, timeoutMs);
  }

  fail(p: Promise<unknown>, timeoutMs?: number): Promise<Error & { code?: unknown; at: number }> {
    return rejected(this.clock, p, timeoutMs);
  }

  /** Closes member `name` (a killed process) and waits for the close to finish. */
  async stop(name: string): Promise<void> {
    this.down.add(name);
    await this.run(this.node(name).close(), 5_000);
  }

  /** Brings back a closed member: a new createNode on its log store, same name and initial cluster. */
  async restart(name: string, extra: Partial<CreateNodeOptions> = {}): Promise<KvNode> {
    assert.ok(this.down.has(name), `restart(${name}) needs the member closed first`);
    return this.create(name, extra);
  }

  /** Closes every member. */
  async close(): Promise<void> {
    const all = [...this.nodes.values()];
    for (const n of this.nodes.keys()) this.down.add(n);
    await this.run(Promise.all(all.map((n) => n.close())), 5_000);
  }
}
