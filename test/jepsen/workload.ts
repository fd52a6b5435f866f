// The client side of a fault run: concurrent clients issuing linearizable
// reads, writes and compare-and-swaps on a few keys, each recording its
// operations' invocation and completion for the checker. It knows nothing
// about the system under test beyond the `Endpoint` it is handed — a
// KvNode in process, or a kvd over HTTP.
import type { Operation, RegisterInput, RegisterOutput } from './linearizability.ts';

/** What a client can ask of one member. Each call settles with an {@link Outcome}. */
export interface Endpoint {
  readonly name: string;
  read(key: string): Promise<Outcome<string | null>>;
  write(key: string, value: string): Promise<Outcome<void>>;
  cas(key: string, from: string, to: string): Promise<Outcome<boolean>>;
}

/**
 * How an operation ended. 'fail' means it definitely did not take effect
 * (the system said so: no leader, refused before appending, compare errors
 * handled as a value); 'unknown' means it may have (timeouts, lost
 * connections, a leader that changed under it).
 */
export type Outcome<T> = { type: 'ok'; value: T } | { type: 'fail'; why: string } | { type: 'unknown'; why: string };

/** Counts of what the clients saw, for the run's report. */
export interface WorkloadStats {
  ok: number;
  fail: number;
  unknown: number;
  byWhy: Record<string, number>;
}

/** A small seeded random source (xorshift32), so a run replays from its seed. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 0x2545f491;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

export interface WorkloadOptions {
  clients: number;
  keys: readonly string[];
  /** The endpoints a client may use right now (it picks one at random per operation). */
  endpoints(): readonly Endpoint[];
  now(): number;
  sleep(ms: number): Promise<void>;
  random: () => number;
  /** Pause between a client's operations, drawn uniformly from [0, thinkMs]. */
  thinkMs: number;
  /** Operation mix: probability of read and of write; the rest are CAS. */
  readRate?: number;
  writeRate?: number;
}

/**
 * Runs the clients until `stop()` is called; resolves with the history once
 * every in-flight operation settled. A client whose operation came back
 * unknown is retired and replaced by a fresh client ID, as Jepsen does: an
 * unknown operation stays open forever, and one client's operations must
 * never overlap.
 */
export function runWorkload(opts: WorkloadOptions): { stop(): void; done: Promise<{ history: Operation[]; stats: WorkloadStats }> } {
  const history: Operation[] = [];
  const stats: WorkloadStats = { ok: 0, fail: 0, unknown: 0, byWhy: {} };
  let stopped = false;
  let nextClient = opts.clients;
  let counter = 0;
  const readRate = opts.readRate ?? 0.4;
  const writeRate = opts.writeRate ?? 0.35;

  async function oneOp(client: number): Promise<'continue' | 'retire'> {
    const eps = opts.endpoints();
    if (eps.length === 0) {
      await opts.sleep(10);
      return 'continue';
    }
    const ep = eps[Math.floor(opts.random() * eps.length)]!;
    const key = opts.keys[Math.floor(opts.random() * opts.keys.length)]!;
    const dice = opts.random();
    let input: RegisterInput;
    if (dice < readRate) input = { f: 'read' };
    else if (dice < readRate + writeRate) input = { f: 'write', value: `${client}.${counter++}` };
    else input = { f: 'cas', from: `${Math.floor(opts.random() * opts.clients)}.${Math.floor(opts.random() * counter)}`, to: `${client}.${counter++}` };
    // CAS from a recently written value so some succeed: pick one from the history.
    if (input.f === 'cas') {
      const recent = history.filter((o) => o.key === key && o.input.f === 'write').slice(-3);
      if (recent.length > 0 && opts.random() < 0.8) {
        const w = recent[Math.floor(opts.random() * recent.length)]!.input as { value: string };
        input = { f: 'cas', from: w.value, to: input.to };
      }
    }
    const call = opts.now();
    let outcome: Outcome<string | null | boolean | void>;
    try {
      outcome =
        input.f === 'read' ? await ep.read(key) : input.f === 'write' ? await ep.write(key, input.value) : await ep.cas(key, input.from, input.to);
    } catch (e) {
      outcome = { type: 'unknown', why: `threw ${(e as Error).message}` };
    }
    const ret = opts.now();
    stats[outcome.type]++;
    if (outcome.type !== 'ok') stats.byWhy[outcome.why] = (stats.byWhy[outcome.why] ?? 0) + 1;
    if (outcome.type === 'ok') {
      const output: RegisterOutput = input.f === 'write' ? undefined : (outcome.value as string | null | boolean);
      history.push({ client, key, input, output, outcome: 'ok', call, ret });
      return 'continue';
    }
    if (outcome.type === 'fail' || input.f === 'read') return 'continue';
    history.push({ client, key, input, outcome: 'unknown', call, ret: Infinity });
    return 'retire';
  }

  async function client(id: number): Promise<void> {
    let me = id;
    while (!stopped) {
      if ((await oneOp(me)) === 'retire') me = nextClient++;
      if (opts.thinkMs > 0) await opts.sleep(opts.random() * opts.thinkMs);
    }
  }

  const loops = Array.from({ length: opts.clients }, (_, i) => client(i));
  return {
    stop() {
      stopped = true;
    },
    done: Promise.all(loops).then(() => ({ history, stats })),
  };
}
