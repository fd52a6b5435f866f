// A linearizability checker: the Wing–Gong search with Lowe's memoization
// (as Porcupine and Knossos's WGL checker do), run per key because a
// register store is P-compositional — a history is linearizable iff each
// key's sub-history is.
//
// Operations carry their real-time interval [call, ret]. An operation whose
// outcome is unknown (the client timed out, the connection broke) gets
// ret = Infinity: it may take effect at any point after its call, or never.
// Operations that definitely failed are not part of the history at all
// (the caller drops them); a failed compare-and-swap is an observation (the
// value was not `from`), so it stays, with output false.
//
// The search walks a linked list of call/return entries in time order. At a
// call it tries to linearize that operation now (the model must accept it
// and the (linearized set, state) pair must be new); at a return it has
// reached an operation that must already have been linearized, so it
// backtracks. When the first remaining entry is the return of an unknown
// operation, every completed operation has a place: the history is
// linearizable.

/** An operation on a register keyed by `key`. */
export type RegisterInput =
  | { f: 'read' }
  | { f: 'write'; value: string }
  | { f: 'cas'; from: string; to: string }
  | { f: 'delete' };

/** What a completed operation returned: a read's value (null: no key), a CAS's success. */
export type RegisterOutput = string | null | boolean | undefined;

/** One client operation as recorded by the harness. */
export interface Operation {
  /** The client (process) that issued it: a client's operations never overlap. */
  client: number;
  key: string;
  input: RegisterInput;
  /** Set when `outcome` is 'ok'. */
  output?: RegisterOutput;
  /** 'ok': completed with `output`; 'unknown': may or may not have taken effect. */
  outcome: 'ok' | 'unknown';
  /** Invocation time (any monotonic unit). */
  call: number;
  /** Completion time; Infinity when the outcome is unknown. */
  ret: number;
}

export type CheckResult =
  | { linearizable: true; keys: number; operations: number; steps: number }
  | { linearizable: false; key: string; window: Operation[]; failing: Operation; steps: number; report: string }
  | { linearizable: 'unknown'; key: string; steps: number; report: string };

type State = string | null;

/** The register model: the value of one key, null when it does not exist. */
function step(state: State, op: Operation): { ok: boolean; state: State } {
  const inp = op.input;
  const known = op.outcome === 'ok';
  switch (inp.f) {
    case 'read':
      // An unknown read constrains nothing; callers drop them, but be safe.
      return { ok: !known || op.output === state, state };
    case 'write':
      return { ok: true, state: inp.value };
    case 'delete':
      return { ok: true, state: null };
    case 'cas': {
      const matches = state === inp.from;
      if (!known) return { ok: true, state: matches ? inp.to : state };
      if (op.output === true) return { ok: matches, state: matches ? inp.to : state };
      return { ok: !matches, state };
    }
  }
}

interface Entry {
  op: number; // index into ops
  call: boolean;
  time: number;
  prev: Entry | null;
  next: Entry | null;
  match: Entry | null; // call ↔ return
}

/** Deterministic 32-bit Zobrist words per operation, for the cache's hash. */
function zobrist(n: number): Uint32Array {
  const words = new Uint32Array(n * 2);
  let x = 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    // xorshift32: fixed seed, so a run's cache behaviour is reproducible.
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return words;
}

class Bitset {
  readonly words: Uint32Array;
  constructor(n: number) {
    this.words = new Uint32Array((n + 31) >>> 5);
  }
  flip(i: number): void {
    this.words[i >>> 5]! ^= 1 << (i & 31);
  }
  equals(o: Uint32Array): boolean {
    for (let i = 0; i < o.length; i++) if (this.words[i] !== o[i]) return false;
    return true;
  }
}

interface KeyResult {
  ok: boolean | 'unknown';
  steps: number;
}

/** Checks one key's operations. `maxSteps` bounds the search (then 'unknown'). */
export function checkKey(ops: Operation[], maxSteps = 50_000_000): KeyResult {
  // Unknown reads have no effect and no observation: leave them out.
  const list = ops.filter((o) => !(o.outcome === 'unknown' && o.input.f === 'read'));
  const n = list.length;
  const entries: Entry[] = [];
  for (let i = 0; i < n; i++) {
    const o = list[i]!;
    if (!(o.call <= o.ret)) throw new Error(`operation ${i} on ${o.key}: call ${o.call} after return ${o.ret}`);
    const c: Entry = { op: i, call: true, time: o.call, prev: null, next: null, match: null };
    const r: Entry = { op: i, call: false, time: o.outcome === 'unknown' ? Infinity : o.ret, prev: null, next: null, match: c };
    c.match = r;
    entries.push(c, r);
  }
  // Calls before returns at equal times: touching intervals count as concurrent.
  entries.sort((a, b) => a.time - b.time || (a.call === b.call ? 0 : a.call ? -1 : 1));
  const head: Entry = { op: -1, call: false, time: -Infinity, prev: null, next: null, match: null };
  let prev = head;
  for (const e of entries) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }

  const z = zobrist(n);
  const linearized = new Bitset(n);
  let h1 = 0;
  let h2 = 0;
  const cache = new Map<string, Uint32Array[]>();
  const seen = (state: State): boolean => {
    const k = `${h1}:${h2}:${state === null ? '\u0000' : 's' + state}`;
    const bucket = cache.get(k);
    if (bucket === undefined) {
      cache.set(k, [linearized.words.slice()]);
      return false;
    }
    for (const w of bucket) if (linearized.equals(w)) return true;
    bucket.push(linearized.words.slice());
    return false;
  };
  const toggle = (i: number): void => {
    linearized.flip(i);
    h1 ^= z[2 * i]!;
    h2 ^= z[2 * i + 1]!;
  };
  const lift = (e: Entry): void => {
    // Unlink the call and its return; they keep their own links for unlift.
    e.prev!.next = e.next;
    if (e.next) e.next.prev = e.prev;
    const r = e.match!;
    r.prev!.next = r.next;
    if (r.next) r.next.prev = r.prev;
  };
  const unlift = (e: Entry): void => {
    const r = e.match!;
    r.prev!.next = r;
    if (r.next) r.next.prev = r;
    e.prev!.next = e;
    if (e.next) e.next.prev = e;
  };

  const stack: { entry: Entry; state: State }[] = [];
  let state: State = null;
  let entry = head.next;
  let steps = 0;
  while (entry !== null) {
    if (++steps > maxSteps) return { ok: 'unknown', steps };
    if (entry.call) {
      const op = list[entry.op]!;
      const r = step(state, op);
      if (r.ok) {
        toggle(entry.op);
        if (!seen(r.state)) {
          stack.push({ entry, state });
          state = r.state;
          lift(entry);
          entry = head.next;
          continue;
        }
        toggle(entry.op);
      }
      entry = entry.next;
    } else {
      if (entry.time === Infinity) return { ok: true, steps };
      const top = stack.pop();
      if (top === undefined) return { ok: false, steps };
      state = top.state;
      toggle(top.entry.op);
      unlift(top.entry);
      entry = top.entry.next;
    }
  }
  return { ok: true, steps };
}

function describeOp(o: Operation): string {
  const i = o.input;
  const what =
    i.f === 'read' ? 'read' : i.f === 'write' ? `write ${JSON.stringify(i.value)}` : i.f === 'cas' ? `cas ${JSON.stringify(i.from)}→${JSON.stringify(i.to)}` : 'delete';
  const out = o.outcome === 'unknown' ? '?' : i.f === 'read' ? JSON.stringify(o.output) : i.f === 'cas' ? String(o.output) : 'ok';
  const ret = o.ret === Infinity ? '∞' : o.ret.toFixed(3);
  return `client ${String(o.client).padStart(2)}  [${o.call.toFixed(3)}, ${ret}]  ${what} → ${out}`;
}

/**
 * The shortest failing prefix of a non-linearizable key history, cut at an
 * operation's return: operations called after the cut are dropped, those
 * still running at the cut become unknown. A prefix of a linearizable history
 * is linearizable, so the failing cuts are monotone and bisection finds the
 * first. Returns the operation completing at the cut and the ones around it.
 */
function failingWindow(ops: Operation[], maxSteps: number): { failing: Operation; window: Operation[] } {
  const cuts = [...new Set(ops.filter((o) => o.outcome === 'ok').map((o) => o.ret))].sort((a, b) => a - b);
  const prefix = (t: number): Operation[] =>
    ops
      .filter((o) => o.call <= t)
      .map((o) => (o.ret > t && o.outcome === 'ok' ? { ...o, outcome: 'unknown' as const, output: undefined, ret: Infinity } : o));
  let lo = 0;
  let hi = cuts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (checkKey(prefix(cuts[mid]!), maxSteps).ok === false) hi = mid;
    else lo = mid + 1;
  }
  const t = cuts[lo]!;
  const failing = ops.find((o) => o.outcome === 'ok' && o.ret === t)!;
  // The failing op, everything concurrent with it, and the few before.
  const concurrent = ops.filter((o) => o.call <= t && o.ret >= failing.call);
  const before = ops.filter((o) => o.ret < failing.call).sort((a, b) => a.ret - b.ret).slice(-8);
  const window = [...new Set([...before, ...concurrent])].sort((a, b) => a.call - b.call);
  return { failing, window };
}

/** Options for {@link checkHistory}. */
export interface CheckOptions {
  /** Search budget per key (default 50M steps). */
  maxSteps?: number;
  /** Printed with a failure so the run can be replayed. */
  seed?: number | string;
}

/** Checks a whole history, key by key. */
export function checkHistory(ops: readonly Operation[], opts: CheckOptions = {}): CheckResult {
  const maxSteps = opts.maxSteps ?? 50_000_000;
  const byKey = new Map<string, Operation[]>();
  for (const o of ops) {
    let l = byKey.get(o.key);
    if (!l) byKey.set(o.key, (l = []));
    l.push(o);
  }
  let steps = 0;
  const seed = opts.seed !== undefined ? ` (seed ${opts.seed})` : '';
  for (const [key, list] of [...byKey].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const r = checkKey(list, maxSteps);
    steps += r.steps;
    if (r.ok === 'unknown') {
      return { linearizable: 'unknown', key, steps, report: `key ${key}: search gave up after ${r.steps} steps${seed}` };
    }
    if (!r.ok) {
      const { failing, window } = failingWindow(list, maxSteps);
      const lines = window.map((o) => (o === failing ? '>> ' : '   ') + describeOp(o));
      const report =
        `history not linearizable on key ${key}${seed}: no order of these operations explains\n` +
        `the marked one (the shortest failing prefix ends with it):\n${lines.join('\n')}`;
      return { linearizable: false, key, window, failing, steps, report };
    }
  }
  return { linearizable: true, keys: byKey.size, operations: ops.length, steps };
}
