// Model-based tests of the key tree (tree/key-tree.ts). Random command
// sequences run against KeyTree and against EtcdModel below, a deliberately
// naive transcription of etcd v2's store (server/etcdserver/api/v2store:
// store.go internalCreate / internalGet / Update / CompareAndSwap / Delete /
// CompareAndDelete / DeleteExpiredKeys, node.go Remove / Compare / Repr,
// event_history.go scan), with two kv rules in place of etcd's counters:
// a change takes the Raft index it is applied at, and an expire command
// expires one key (the leader proposes one per due key), so every change
// has an index of its own. Every result, refusal (code, cause, index),
// read, history scan and the final tree must agree. The trees get each
// command the way replicas do, encoded into and decoded from a log entry.
//
// The last two properties are about replicas rather than etcd: a tree
// restored from a snapshot (sent through msgpack, as KvStateMachine does), and
// a leader that asks nextExpiry() between commands, must apply whatever comes
// next exactly like the tree that never did, simultaneous expirations
// included.
import assert from 'node:assert/strict';
import { posix } from 'node:path';
import { describe, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';

import fc from 'fast-check';

import { KvError } from '../src/errors.ts';
import { decodeCommand, encodeCommand, type Command } from '../src/tree/command.ts';
import { KeyTree } from '../src/tree/key-tree.ts';
import type { KvEvent, KvNodeData } from '../src/tree/types.ts';
import { T0, canon, viaMsgpack } from './helpers/tree.ts';

// ---------------------------------------------------------------- the model

interface MFile {
  readonly dir: false;
  readonly key: string;
  value: unknown;
  readonly createdIndex: number;
  modifiedIndex: number;
  expireTime: number;
}

interface MDir {
  readonly dir: true;
  readonly key: string;
  readonly children: Map<string, MNode>;
  readonly createdIndex: number;
  modifiedIndex: number;
  expireTime: number;
}

type MNode = MFile | MDir;

/** A refusal as the model states it (compared with canon(KvError)). */
interface MError {
  readonly errorCode: number;
  readonly cause: string;
  readonly index: number;
}

class Refusal {
  constructor(readonly e: MError) {}
}

const MIN_EXPIRE_TIME = Date.UTC(2000, 0, 1);

/** Go's path.Clean(path.Join("/", p)). */
function clean(p: string): string {
  const n = posix.normalize('/' + p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

function join(dir: string, name: string): string {
  return dir === '/' ? '/' + name : dir + '/' + name;
}

/** Whether `key` is `prefix` or inside it. */
function inside(key: string, prefix: string): boolean {
  return prefix === '/' || key === prefix || key.startsWith(prefix + '/');
}

/** etcd's watcherHub isHidden: a segment below the watched key starts with _. */
function hiddenBelow(watch: string, key: string): boolean {
  const rest = key.slice(watch === '/' ? 0 : watch.length);
  return rest.split('/').some((s) => s.startsWith('_'));
}

function sameValue(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(canon(a), canon(b));
}

/** How a compare-failed cause prints a value: strings bare (etcd's %v), the rest as JSON. */
function fmt(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return `<${v.byteLength} bytes>`;
  return JSON.stringify(v);
}

/** Go's string order: bytewise on UTF-8. */
function byKey(a: KvNodeData, b: KvNodeData): number {
  return Buffer.compare(Buffer.from(a.key), Buffer.from(b.key));
}

class EtcdModel {
  index = 0;
  root: MDir = { dir: true, key: '/', children: new Map(), createdIndex: 0, modifiedIndex: 0, expireTime: 0 };
  /** Every change event ever recorded, oldest first (the ring keeps the last `historySize`). */
  readonly events: KvEvent[] = [];

  constructor(readonly historySize: number) {}

  get size(): number {
    let n = 0;
    const walk = (d: MDir): void => {
      for (const c of d.children.values()) {
        n++;
        if (c.dir) walk(c);
      }
    };
    walk(this.root);
    return n;
  }

  private refuse(errorCode: number, cause: string): never {
    throw new Refusal({ errorCode, cause, index: this.index });
  }

  /** store.go internalGet. */
  private internalGet(nodePath: string): MNode {
    let curr: MNode = this.root;
    for (const name of nodePath.split('/').filter((s) => s !== '')) {
      if (!curr.dir) this.refuse(104, curr.key);
      const child: MNode | undefined = curr.children.get(name);
      if (!child) this.refuse(100, join(curr.key, name));
      curr = child;
    }
    return curr;
  }

  private parentOf(n: MNode): MDir {
    const p = this.internalGet(posix.dirname(n.key));
    assert.ok(p.dir);
    return p;
  }

  private remove(n: MNode): void {
    this.parentOf(n).children.delete(posix.basename(n.key));
  }

  private ttlFields(n: MNode, now: number): { expiration?: string; ttl?: number } {
    if (n.expireTime === 0) return {};
    return { expiration: new Date(n.expireTime).toISOString(), ttl: Math.ceil((n.expireTime - now) / 1000) };
  }

  /** node.go Repr. */
  repr(n: MNode, recursive: boolean, sorted: boolean, now: number): KvNodeData {
    if (!n.dir) {
      return { key: n.key, value: n.value, createdIndex: n.createdIndex, modifiedIndex: n.modifiedIndex, ...this.ttlFields(n, now) };
    }
    const head: KvNodeData = { key: n.key, dir: true, createdIndex: n.createdIndex, modifiedIndex: n.modifiedIndex, ...this.ttlFields(n, now) };
    return recursive ? { ...head, nodes: this.list(n, true, sorted, now) } : head;
  }

  private list(d: MDir, recursive: boolean, sorted: boolean, now: number): KvNodeData[] {
    const out = [...d.children.values()].filter((c) => !posix.basename(c.key).startsWith('_')).map((c) => this.repr(c, recursive, sorted, now));
    return sorted ? out.sort(byKey) : out;
  }

  private expireTime(ttl: number | undefined, now: number): number {
    if (ttl === undefined) return 0;
    const t = now + ttl * 1000;
    return t < MIN_EXPIRE_TIME ? 0 : t;
  }

  private record(e: KvEvent): KvEvent {
    this.events.push(e);
    this.index = e.index;
    return e;
  }

  /** store.go Get + loadInternalNode. */
  get(key: string, recursive: boolean, sorted: boolean, now: number): KvEvent {
    const n = this.internalGet(clean(key));
    const node = n.dir ? { ...this.repr(n, false, sorted, now), nodes: this.list(n, recursive, sorted, now) } : this.repr(n, false, sorted, now);
    return { action: 'get', node, index: this.index };
  }

  /** store.go internalCreate (Set with replace, Create without). */
  create(
    rawKey: string,
    dir: boolean,
    value: unknown,
    unique: boolean,
    replace: boolean,
    ttl: number | undefined,
    now: number,
    i: number,
    action: 'set' | 'create',
  ): KvEvent {
    const nodePath = clean(unique ? clean(rawKey) + '/' + String(i).padStart(20, '0') : rawKey);
    if (nodePath === '/') this.refuse(107, '/');
    // Walk to the parent, making missing directories (checkDir).
    let d = this.root;
    const names = nodePath.split('/').filter((s) => s !== '');
    for (const name of names.slice(0, -1)) {
      const c = d.children.get(name);
      if (c && !c.dir) this.refuse(104, c.key);
      if (c) {
        d = c as MDir;
        continue;
      }
      const made: MDir = { dir: true, key: join(d.key, name), children: new Map(), createdIndex: i, modifiedIndex: i, expireTime: 0 };
      d.children.set(name, made);
      d = made;
    }
    const name = names[names.length - 1];
    const existing = d.children.get(name);
    let prevNode: KvNodeData | undefined;
    if (existing) {
      if (!replace) this.refuse(105, nodePath);
      if (existing.dir) this.refuse(102, nodePath);
      prevNode = this.repr(existing, false, false, now);
      d.children.delete(name);
    }
    const expireTime = this.expireTime(ttl, now);
    const n: MNode = dir
      ? { dir: true, key: nodePath, children: new Map(), createdIndex: i, modifiedIndex: i, expireTime }
      : { dir: false, key: nodePath, value, createdIndex: i, modifiedIndex: i, expireTime };
    d.children.set(name, n);
    return this.record({ action, node: this.repr(n, false, false, now), ...(prevNode ? { prevNode } : {}), index: i });
  }

  /** store.go Update (kv moves a directory's modifiedIndex too; see the report). */
  update(key: string, value: unknown, ttl: number | undefined, refresh: boolean, now: number, i: number): KvEvent {
    const nodePath = clean(key);
    if (nodePath === '/') this.refuse(107, '/');
    const n = this.internalGet(nodePath);
    if (n.dir && value !== undefined && value !== '') this.refuse(102, nodePath);
    const prevNode = this.repr(n, false, false, now);
    if (!n.dir && !refresh) n.value = value;
    n.modifiedIndex = i;
    n.expireTime = this.expireTime(ttl, now);
    const e: KvEvent = { action: 'update', node: this.repr(n, false, false, now), prevNode, index: i };
    if (refresh) {
      this.index = i;
      return e;
    }
    return this.record(e);
  }

  /** node.go Compare + store.go getCompareFailCause. */
  private compare(n: MFile, prevValue: unknown, prevIndex: number | undefined): void {
    const indexOk = prevIndex === undefined || prevIndex === 0 || n.modifiedIndex === prevIndex;
    const valueOk = prevValue === undefined || prevValue === '' || sameValue(n.value, prevValue);
    if (indexOk && valueOk) return;
    if (!valueOk && !indexOk) this.refuse(101, `[${fmt(prevValue)} != ${fmt(n.value)}] [${prevIndex} != ${n.modifiedIndex}]`);
    if (!valueOk) this.refuse(101, `[${fmt(prevValue)} != ${fmt(n.value)}]`);
    this.refuse(101, `[${prevIndex} != ${n.modifiedIndex}]`);
  }

  /** store.go CompareAndSwap. */
  compareAndSwap(
    key: string,
    value: unknown,
    prevValue: unknown,
    prevIndex: number | undefined,
    ttl: number | undefined,
    refresh: boolean,
    now: number,
    i: number,
  ): KvEvent {
    const nodePath = clean(key);
    if (nodePath === '/') this.refuse(107, '/');
    const n = this.internalGet(nodePath);
    if (n.dir) this.refuse(102, nodePath);
    this.compare(n, prevValue, prevIndex);
    const prevNode = this.repr(n, false, false, now);
    if (!refresh) n.value = value;
    n.modifiedIndex = i;
    n.expireTime = this.expireTime(ttl, now);
    const e: KvEvent = { action: 'compareAndSwap', node: this.repr(n, false, false, now), prevNode, index: i };
    if (refresh) {
      this.index = i;
      return e;
    }
    return this.record(e);
  }

  /** store.go Delete + node.go Remove. */
  delete(key: string, dir: boolean, recursive: boolean, now: number, i: number): KvEvent {
    const nodePath = clean(key);
    if (nodePath === '/') this.refuse(107, '/');
    if (recursive) dir = true;
    const n = this.internalGet(nodePath);
    if (n.dir && !dir) this.refuse(102, n.key);
    if (n.dir && n.children.size > 0 && !recursive) this.refuse(108, n.key);
    const prevNode = this.repr(n, false, false, now);
    this.remove(n);
    return this.record({
      action: 'delete',
      node: { key: nodePath, ...(n.dir ? { dir: true as const } : {}), createdIndex: n.createdIndex, modifiedIndex: i },
      prevNode,
      index: i,
    });
  }

  /** store.go CompareAndDelete (no root check there: the root is a directory, 102). */
  compareAndDelete(key: string, prevValue: unknown, prevIndex: number | undefined, now: number, i: number): KvEvent {
    const nodePath = clean(key);
    const n = this.internalGet(nodePath);
    if (n.dir) this.refuse(102, nodePath);
    this.compare(n, prevValue, prevIndex);
    const prevNode = this.repr(n, false, false, now);
    this.remove(n);
    return this.record({ action: 'compareAndDelete', node: { key: nodePath, createdIndex: n.createdIndex, modifiedIndex: i }, prevNode, index: i });
  }

  /** store.go DeleteExpiredKeys, one key per command: the earliest, if due (the generator never makes two keys expire at once). */
  expire(now: number, i: number): KvEvent[] {
    const out: KvEvent[] = [];
    for (;;) {
      let first: MNode | undefined;
      const walk = (d: MDir): void => {
        for (const c of d.children.values()) {
          if (c.expireTime !== 0 && (!first || c.expireTime < first.expireTime)) first = c;
          if (c.dir) walk(c);
        }
      };
      walk(this.root);
      if (!first || first.expireTime > now) break;
      const n: MNode = first;
      const prevNode = this.repr(n, false, false, now);
      this.remove(n);
      out.push(
        this.record({
          action: 'expire',
          node: { key: n.key, ...(n.dir ? { dir: true as const } : {}), createdIndex: n.createdIndex, modifiedIndex: i },
          prevNode,
          index: i,
        }),
      );
      break;
    }
    return out;
  }

  /** The earliest expiration time in the tree, if any. */
  nextExpiry(): number | undefined {
    let first: number | undefined;
    const walk = (d: MDir): void => {
      for (const c of d.children.values()) {
        if (c.expireTime !== 0 && (first === undefined || c.expireTime < first)) first = c.expireTime;
        if (c.dir) walk(c);
      }
    };
    walk(this.root);
    return first;
  }

  /** event_history.go scan, returning every match; 401 when an event at or after `since` was dropped. */
  scan(key: string, recursive: boolean, since: number): KvEvent[] {
    const kept = this.events.slice(-this.historySize);
    const dropped = this.events.slice(0, Math.max(0, this.events.length - this.historySize));
    if (dropped.length > 0 && (since < kept[0].index || dropped.some((e) => e.index >= since))) {
      this.refuse(401, `the requested history has been cleared [${kept[0].index}/${since}]`);
    }
    return kept.filter((e) => {
      if (e.index < since) return false;
      if (e.node.key === key) return true;
      if (recursive && inside(e.node.key, key) && !hiddenBelow(key, e.node.key)) return true;
      return (e.action === 'delete' || e.action === 'expire') && e.prevNode?.dir === true && inside(key, e.prevNode.key);
    });
  }
}

// ---------------------------------------------------------------- commands

const KEYS = ['/', '/a', '/a/b', '/a/b/c', '/c', 'c/', '/a//b', '/a/./b/../b', '/_h', '/a/_h'] as const;
const VALUES: readonly unknown[] = ['one', 'two', '', 3, { x: 1 }, [1, 'a'], new Uint8Array([1, 2])];
const TTLS = [undefined, undefined, undefined, 0, 1, 2, 3, 5] as const;
const HISTORY_SIZE = 6;

type Prev = { readonly kind: 'none' } | { readonly kind: 'current' } | { readonly kind: 'fixed'; readonly value: number };

type Step =
  | { readonly op: 'set'; readonly key: string; readonly value: unknown; readonly dir: boolean; readonly ttl: number | undefined }
  | {
      readonly op: 'create';
      readonly key: string;
      readonly value: unknown;
      readonly dir: boolean;
      readonly inOrder: boolean;
      readonly ttl: number | undefined;
    }
  | { readonly op: 'update'; readonly key: string; readonly value: unknown; readonly ttl: number | undefined; readonly refresh: boolean }
  | {
      readonly op: 'cas';
      readonly key: string;
      readonly value: unknown;
      readonly prevValue: Prev;
      readonly prevIndex: Prev;
      readonly ttl: number | undefined;
      readonly refresh: boolean;
    }
  | { readonly op: 'delete'; readonly key: string; readonly dir: boolean; readonly recursive: boolean }
  | { readonly op: 'cad'; readonly key: string; readonly prevValue: Prev; readonly prevIndex: Prev }
  /** Expire at the step's time plus `aheadMs`, or exactly at the earliest pending expiration (`atNext`). */
  | { readonly op: 'expire'; readonly aheadMs: number; readonly atNext: boolean }
  | { readonly op: 'get'; readonly key: string; readonly recursive: boolean };

const key = fc.constantFrom(...KEYS);
const value = fc.constantFrom(...VALUES);
const ttl = fc.constantFrom(...TTLS);
const prev = fc.oneof(
  { arbitrary: fc.constant<Prev>({ kind: 'none' }), weight: 1 },
  { arbitrary: fc.constant<Prev>({ kind: 'current' }), weight: 2 },
  { arbitrary: fc.integer({ min: 0, max: 12 }).map<Prev>((v) => ({ kind: 'fixed', value: v })), weight: 1 },
);

const step: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('set' as const), key, value, dir: fc.constantFrom(false, false, false, false, true), ttl }), weight: 5 },
  {
    arbitrary: fc.record({ op: fc.constant('create' as const), key, value, dir: fc.boolean(), inOrder: fc.boolean(), ttl }),
    weight: 3,
  },
  {
    arbitrary: fc.oneof(
      fc.record({ op: fc.constant('update' as const), key, value, ttl, refresh: fc.constant(false) }),
      fc.record({ op: fc.constant('update' as const), key, value: fc.constant(undefined), ttl: fc.constantFrom(1, 2, 5), refresh: fc.constant(true) }),
    ),
    weight: 2,
  },
  {
    arbitrary: fc.record({ op: fc.constant('cas' as const), key, value, prevValue: prev, prevIndex: prev, ttl, refresh: fc.constantFrom(false, false, false, false, false, true) }),
    weight: 3,
  },
  { arbitrary: fc.record({ op: fc.constant('delete' as const), key, dir: fc.boolean(), recursive: fc.boolean() }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('cad' as const), key, prevValue: prev, prevIndex: prev }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('expire' as const), aheadMs: fc.constantFrom(0, 0, 2500), atNext: fc.boolean() }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('get' as const), key, recursive: fc.boolean() }), weight: 2 },
);

/**
 * Wall-clock time of step `k`. Steps are 1001 ms apart and TTLs are whole
 * seconds, so no two keys ever share an expiration time (etcd leaves the
 * order of simultaneous expirations open; the replica test below pins it).
 */
function nowOf(k: number): number {
  return T0 + k * 1001;
}

/** Resolves a `current` comparison against the model (the same on every tree it is applied to). */
function resolvePrev(m: EtcdModel, rawKey: string, p: Prev, what: 'value' | 'index'): unknown {
  if (p.kind === 'none') return undefined;
  if (p.kind === 'fixed') return what === 'index' ? p.value : VALUES[p.value % VALUES.length];
  try {
    const n = m.get(rawKey, false, false, 0).node;
    return what === 'index' ? n.modifiedIndex : n.dir ? 'one' : n.value;
  } catch {
    return what === 'index' ? 7 : 'one';
  }
}

/** The tree command for a step (undefined for a read), resolved against the model's state. */
function toCommand(m: EtcdModel, s: Step, now: number): Command | undefined {
  switch (s.op) {
    case 'set':
      return s.dir ? { op: 'set', key: s.key, dir: true, ttl: s.ttl, now } : { op: 'set', key: s.key, value: s.value, ttl: s.ttl, now };
    case 'create':
      return s.dir
        ? { op: 'create', key: s.key, dir: true, inOrder: s.inOrder, ttl: s.ttl, now }
        : { op: 'create', key: s.key, value: s.value, inOrder: s.inOrder, ttl: s.ttl, now };
    case 'update':
      return s.refresh ? { op: 'update', key: s.key, refresh: true, ttl: s.ttl, now } : { op: 'update', key: s.key, value: s.value, ttl: s.ttl, now };
    case 'cas':
      return {
        op: 'compareAndSwap',
        key: s.key,
        ...(s.refresh ? { refresh: true } : { value: s.value }),
        prevValue: resolvePrev(m, s.key, s.prevValue, 'value'),
        prevIndex: resolvePrev(m, s.key, s.prevIndex, 'index') as number | undefined,
        ttl: s.ttl,
        now,
      };
    case 'delete':
      return { op: 'delete', key: s.key, dir: s.dir, recursive: s.recursive, now };
    case 'cad':
      return {
        op: 'compareAndDelete',
        key: s.key,
        prevValue: resolvePrev(m, s.key, s.prevValue, 'value'),
        prevIndex: resolvePrev(m, s.key, s.prevIndex, 'index') as number | undefined,
        now,
      };
    case 'expire':
      return { op: 'expire', now: s.atNext ? (m.nextExpiry() ?? now) : now + s.aheadMs };
    case 'get':
      return undefined;
  }
}

/** Runs a command on the model: its event(s), or its refusal. */
function applyModel(m: EtcdModel, c: Command, i: number): unknown {
  try {
    switch (c.op) {
      case 'set':
        return m.create(c.key, !!c.dir, c.value, false, true, c.ttl, c.now, i, 'set');
      case 'create':
        return m.create(c.key, !!c.dir, c.value, !!c.inOrder, false, c.ttl, c.now, i, 'create');
      case 'update':
        return m.update(c.key, c.value, c.ttl, !!c.refresh, c.now, i);
      case 'compareAndSwap':
        return m.compareAndSwap(c.key, c.value, c.prevValue, c.prevIndex, c.ttl, !!c.refresh, c.now, i);
      case 'delete':
        return m.delete(c.key, !!c.dir, !!c.recursive, c.now, i);
      case 'compareAndDelete':
        return m.compareAndDelete(c.key, c.prevValue, c.prevIndex, c.now, i);
      case 'expire':
        return m.expire(c.now, i);
    }
  } catch (e) {
    if (e instanceof Refusal) return e.e;
    throw e;
  }
}

function attempt<T>(fn: () => T): unknown {
  try {
    return fn();
  } catch (e) {
    if (e instanceof Refusal) return e.e;
    if (e instanceof KvError) return e;
    throw e;
  }
}

const WATCHES: readonly [string, boolean][] = [
  ['/', true],
  ['/a', false],
  ['/a', true],
  ['/a/b', false],
  ['/a/b/c', false],
  ['/c', false],
  ['/_h', false],
];

/** Compares what a tree says with what the model says, after canon() on both. */
function same(actual: unknown, expected: unknown, what: string): void {
  assert.deepEqual(canon(actual), canon(expected), what);
}

/** Reads and history scans of a tree against the model. */
function compareReads(t: KeyTree, m: EtcdModel, now: number, label: string): void {
  same(attempt(() => t.get('/', { recursive: true, sorted: true }, now)), m.get('/', true, true, now), `${label}: recursive sorted get of /`);
  assert.equal(t.index, m.index, `${label}: store index`);
  assert.equal(t.size, m.size, `${label}: size`);
  for (const [k, recursive] of WATCHES) {
    for (const since of [1, m.index - 3, m.index]) {
      same(
        attempt(() => t.history.scan(k, recursive, since, t.index)),
        attempt(() => m.scan(k, recursive, since)),
        `${label}: history scan of ${k}${recursive ? ' (recursive)' : ''} from ${since}`,
      );
    }
  }
}

describe('KeyTree against a naive model of etcd v2', () => {
  test('gives the same results, refusals, reads, history and final tree as the model, also after a snapshot restore', () => {
    fc.assert(
      fc.property(
        fc.array(step, { minLength: 1, maxLength: 40 }),
        fc.array(fc.constantFrom(1, 1, 1, 2, 5), { minLength: 40, maxLength: 40 }),
        fc.nat({ max: 40 }),
        (steps, gaps, snapAt) => {
          const m = new EtcdModel(HISTORY_SIZE);
          const t = new KeyTree({ historySize: HISTORY_SIZE });
          let restored: KeyTree | undefined;
          let raftIndex = 0;
          steps.forEach((s, k) => {
            const now = nowOf(k);
            if (k === Math.min(snapAt, steps.length - 1)) {
              restored = new KeyTree({ historySize: HISTORY_SIZE });
              restored.restore(viaMsgpack(t.toSnapshot()));
            }
            const label = `step ${k} (${s.op} at raft index ${raftIndex + (s.op === 'get' ? 0 : gaps[k])})`;
            const c = toCommand(m, s, now);
            if (c === undefined) {
              if (s.op !== 'get') return;
              const want = attempt(() => m.get(s.key, s.recursive, true, now));
              same(attempt(() => t.get(s.key, { recursive: s.recursive, sorted: true }, now)), want, label);
              if (restored) same(attempt(() => restored!.get(s.key, { recursive: s.recursive, sorted: true }, now)), want, `restored, ${label}`);
              return;
            }
            raftIndex += gaps[k];
            const want = applyModel(m, c, raftIndex);
            // The trees get the command as replicas do: decoded from the log.
            const logged = decodeCommand(encodeCommand(c));
            same(t.apply(logged, raftIndex), want, label);
            if (restored) same(restored.apply(logged, raftIndex), want, `restored, ${label}`);
          });
          const end = nowOf(steps.length);
          compareReads(t, m, end, 'original');
          if (restored) compareReads(restored, m, end, 'restored');
        },
      ),
      { numRuns: 250, includeErrorInReport: true },
    );
  });
});

// ---------------------------------------------------------------- replicas

const tieKey = fc.constantFrom('/a', '/b', '/c', '/d', '/d/x', '/d/y');
const tieStep: fc.Arbitrary<Command> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('set' as const), key: tieKey, value: fc.constantFrom(1, 2), ttl: fc.constantFrom(1, 2), now: fc.constant(T0) }), weight: 5 },
  { arbitrary: fc.record({ op: fc.constant('create' as const), key: tieKey, dir: fc.constant(true), ttl: fc.constantFrom(1, 2), now: fc.constant(T0) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('update' as const), key: tieKey, value: fc.constant(3), ttl: fc.constantFrom(1, 2), now: fc.constant(T0) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('delete' as const), key: tieKey, recursive: fc.constant(true), now: fc.constant(T0) }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('expire' as const), now: fc.constantFrom(T0 + 1000, T0 + 2000) }), weight: 1 },
);

describe('KeyTree replicas', () => {
  test('a tree restored from a snapshot continues exactly like the original, simultaneous expirations included', () => {
    // Every key expires at T0 + 1 s or T0 + 2 s, so expire commands remove
    // many keys with the same expiration time: all replicas must still agree
    // on which events they emit and in which order.
    fc.assert(
      fc.property(fc.array(tieStep, { minLength: 1, maxLength: 25 }), fc.nat({ max: 25 }), (cmds, snapAt) => {
        const all: Command[] = [...cmds, { op: 'expire', now: T0 + 5000 }];
        const cut = Math.min(snapAt, cmds.length);
        const t = new KeyTree();
        all.slice(0, cut).forEach((c, i) => t.apply(c, i + 1));
        const r = new KeyTree();
        r.restore(viaMsgpack(t.toSnapshot()));
        all.slice(cut).forEach((c, j) => {
          const i = cut + j + 1;
          assert.deepEqual(canon(r.apply(c, i)), canon(t.apply(c, i)), `command ${i - 1}: ${JSON.stringify(c)}`);
        });
        assert.deepEqual(canon(r.history.events()), canon(t.history.events()));
      }),
      { numRuns: 200, includeErrorInReport: true },
    );
  });

  test('a leader that asks nextExpiry between commands applies them exactly like a follower that does not', () => {
    fc.assert(
      fc.property(fc.array(tieStep, { minLength: 1, maxLength: 25 }), (cmds) => {
        const all: Command[] = [...cmds, { op: 'expire', now: T0 + 5000 }];
        const leader = new KeyTree();
        const follower = new KeyTree();
        all.forEach((c, k) => {
          const i = k + 1;
          const a = leader.apply(c, i);
          leader.nextExpiry();
          assert.deepEqual(canon(a), canon(follower.apply(c, i)), `command ${k}: ${JSON.stringify(c)}`);
        });
      }),
      { numRuns: 200, includeErrorInReport: true },
    );
  });
});
