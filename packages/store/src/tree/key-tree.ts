import { KvError, KvErrorCode } from '../errors.js';
import type { Command } from './command.js';
import { EventHistory } from './event-history.js';
import { normalizeKey as normalize, segments } from './key.js';
import { TtlHeap } from './ttl-heap.js';
import type { KvAction, KvEvent, KvNodeData } from './types.js';
import { deepFreeze, formatValue, valueEquals } from './values.js';

/** A node inside the tree. Never handed out: {@link KeyTree} gives copies ({@link KvNodeData}). */
interface TreeNode {
  readonly key: string;
  readonly name: string;
  parent: TreeNode | undefined;
  readonly dir: boolean;
  value: unknown;
  /** Children in insertion order (the same on every replica). */
  readonly children: Map<string, TreeNode> | undefined;
  readonly createdIndex: number;
  modifiedIndex: number;
  /** Expiry time in ms since the epoch; 0 for a permanent node. */
  expireTime: number;
}

/** What the tree tells the indexes and watchers as it changes. */
export interface TreeObserver {
  /** A value was written at `key` (created or replaced); `prev` is the old value, if any. */
  valueWritten?(key: string, value: unknown, prev: { value: unknown } | undefined): void;
  /** A value at `key` was removed (deleted, expired, or under a removed directory). */
  valueRemoved?(key: string, value: unknown): void;
  /** A change event, after the tree is consistent. */
  event?(e: KvEvent): void;
}

/** Options of {@link KeyTree}. */
export interface KeyTreeOptions {
  /** Change events kept for watchers starting in the past. @defaultValue 1000 */
  readonly historySize?: number;
  readonly observer?: TreeObserver;
}

/**
 * Inside the tree, keys are normalised without size limits: limits are
 * configuration, checked where a member proposes, and replicas configured
 * differently must still apply the same log alike.
 */
const UNLIMITED = Object.freeze({ maxKeyBytes: Infinity, maxValueBytes: Infinity });
function normalizeKey(key: string): string {
  return normalize(key, UNLIMITED);
}

// etcd treats expiration times before 2000-01-01 as "permanent".
const MIN_EXPIRE_TIME = Date.UTC(2000, 0, 1);

/** Read options of {@link KeyTree.get}. */
export interface GetOptions {
  /** Expand subdirectories. */
  readonly recursive?: boolean;
  /** Sort children by key. */
  readonly sorted?: boolean;
}

/**
 * The hierarchical key space with etcd v2 semantics, as a deterministic
 * state machine: {@link KeyTree.apply} takes the same commands in the same
 * order on every replica and gives the same tree, events and errors.
 *
 * @remarks
 * Errors are returned (as {@link KvError}) from `apply`, not thrown: a
 * refused command is a normal outcome that every replica reaches alike, and
 * the proposer's caller receives it. Reads (`get`) throw.
 *
 * Invariant: `index` is the Raft index of the last change (never decreases).
 * Invariant: every node in the TTL heap with a matching expireTime is in the tree.
 */
export class KeyTree {
  /** Index of the last change. */
  index = 0;
  private root: TreeNode = newNode('/', '', undefined, true, undefined, 0);
  private readonly ttl = new TtlHeap();
  readonly history: EventHistory;
  private readonly observer: TreeObserver;
  /** Number of values and directories (for status). */
  private count = 0;

  constructor(options: KeyTreeOptions = {}) {
    this.history = new EventHistory(options.historySize ?? 1000);
    this.observer = options.observer ?? {};
  }

  /** Number of keys (values and directories, not the root). */
  get size(): number {
    return this.count;
  }

  // ------------------------------------------------------------------ reads

  /**
   * Reads `key`: a value, or a directory with its children (expanded with
   * `recursive`). Keys starting with `_` are left out of listings.
   *
   * @throws KvError 100 when the key does not exist.
   */
  get(rawKey: string, opts: GetOptions = {}, now = Date.now()): KvEvent {
    const key = normalizeKey(rawKey);
    const n = this.lookup(key);
    const node: KvNodeData = n.dir
      ? { ...this.dirHeader(n, now), nodes: this.listChildren(n, !!opts.recursive, !!opts.sorted, now) }
      : this.repr(n, false, false, now);
    return { action: 'get', node, index: this.index };
  }

  /** Whether `key` exists. */
  has(rawKey: string): boolean {
    return this.find(normalizeKey(rawKey)) !== undefined;
  }

  /** Visits every value under `prefix` (for rebuilding indexes). */
  forEachValue(prefix: string, fn: (key: string, value: unknown) => void): void {
    const start = this.find(normalizeKey(prefix));
    if (!start) return;
    const walk = (n: TreeNode): void => {
      if (!n.dir) return fn(n.key, n.value);
      for (const c of n.children!.values()) walk(c);
    };
    walk(start);
  }

  /** A node as handed out, or undefined. */
  node(key: string, now = Date.now()): KvNodeData | undefined {
    const n = this.find(key);
    return n ? this.repr(n, false, false, now) : undefined;
  }

  // ------------------------------------------------------------------ writes

  /**
   * Applies one committed command at Raft index `raftIndex`. Returns the
   * change event, or the KvError every replica reaches alike. An `expire`
   * command returns one event per expired key.
   */
  apply(cmd: Command, raftIndex: number): KvEvent | KvEvent[] | KvError {
    try {
      switch (cmd.op) {
        case 'set':
          return this.create(cmd.key, !!cmd.dir, cmd.value, cmd.ttl, cmd.now, raftIndex, { replace: true, action: 'set' });
        case 'create': {
          const key = cmd.inOrder ? `${normalizeKey(cmd.key)}/${String(raftIndex).padStart(20, '0')}` : cmd.key;
          return this.create(key, !!cmd.dir, cmd.value, cmd.ttl, cmd.now, raftIndex, { replace: false, action: 'create' });
        }
        case 'update':
          return this.update(cmd.key, cmd.value, cmd.ttl, !!cmd.refresh, cmd.now, raftIndex);
        case 'compareAndSwap':
          return this.compareAndSwap(cmd, raftIndex);
        case 'delete':
          return this.delete(cmd.key, !!cmd.dir, !!cmd.recursive, cmd.now, raftIndex);
        case 'compareAndDelete':
          return this.compareAndDelete(cmd.key, cmd.prevValue, cmd.prevIndex, cmd.now, raftIndex);
        case 'expire':
          return this.expire(cmd.now, raftIndex);
        default:
          return new KvError(KvErrorCode.RaftInternal, `unknown command ${String((cmd as { op: unknown }).op)}`, this.index);
      }
    } catch (e) {
      if (e instanceof KvError) return e;
      throw e;
    }
  }

  private create(
    rawKey: string,
    dir: boolean,
    value: unknown,
    ttl: number | undefined,
    now: number,
    index: number,
    how: { replace: boolean; action: KvAction },
  ): KvEvent {
    const key = normalizeKey(rawKey);
    if (key === '/') throw new KvError(KvErrorCode.RootReadOnly, '/', this.index);
    const parent = this.walkCreatingDirs(key, index);
    const name = key.slice(key.lastIndexOf('/') + 1);
    const existing = parent.children!.get(name);
    let prevNode: KvNodeData | undefined;
    if (existing) {
      if (!how.replace) throw new KvError(KvErrorCode.NodeExist, key, this.index);
      if (existing.dir) throw new KvError(KvErrorCode.NotFile, key, this.index);
      prevNode = this.repr(existing, false, false, now);
      // Replacing a value: the new node takes its place in the parent's map
      // (same position), and the indexes refile it from valueWritten's prev.
      existing.parent = undefined;
      if (dir) this.observer.valueRemoved?.(key, existing.value);
    } else {
      this.count++;
    }
    const n = newNode(key, name, parent, dir, dir ? undefined : deepFreeze(value), index);
    if (ttl !== undefined && ttl !== null) this.setTtl(n, ttl, now);
    parent.children!.set(name, n);
    if (!dir) this.observer.valueWritten?.(key, n.value, prevNode ? { value: prevNode.value } : undefined);
    const node = this.repr(n, false, false, now);
    return this.commit(prevNode ? { action: how.action, node, prevNode, index } : { action: how.action, node, index });
  }

  private update(rawKey: string, value: unknown, ttl: number | undefined, refresh: boolean, now: number, index: number): KvEvent {
    const key = normalizeKey(rawKey);
    if (key === '/') throw new KvError(KvErrorCode.RootReadOnly, '/', this.index);
    const n = this.lookup(key);
    if (n.dir && value !== undefined && value !== '' && !refresh) throw new KvError(KvErrorCode.NotFile, key, this.index);
    const prevNode = this.repr(n, false, false, now);
    const prevValue = n.value;
    if (!n.dir && !refresh) n.value = deepFreeze(value);
    n.modifiedIndex = index;
    this.setTtl(n, ttl, now);
    if (!n.dir && !refresh) this.observer.valueWritten?.(key, n.value, { value: prevValue });
    const e: KvEvent = { action: 'update', node: this.repr(n, false, false, now), prevNode, index };
    // A refresh changes only the TTL: no event for watchers (etcd's refresh).
    return refresh ? this.commitQuietly(e) : this.commit(e);
  }

  private compareAndSwap(cmd: Extract<Command, { op: 'compareAndSwap' }>, index: number): KvEvent {
    const key = normalizeKey(cmd.key);
    if (key === '/') throw new KvError(KvErrorCode.RootReadOnly, '/', this.index);
    const n = this.lookup(key);
    if (n.dir) throw new KvError(KvErrorCode.NotFile, key, this.index);
    this.compare(n, cmd.prevValue, cmd.prevIndex);
    const prevNode = this.repr(n, false, false, cmd.now);
    const prevValue = n.value;
    if (!cmd.refresh) n.value = deepFreeze(cmd.value);
    n.modifiedIndex = index;
    this.setTtl(n, cmd.ttl, cmd.now);
    if (!cmd.refresh) this.observer.valueWritten?.(key, n.value, { value: prevValue });
    const e: KvEvent = { action: 'compareAndSwap', node: this.repr(n, false, false, cmd.now), prevNode, index };
    return cmd.refresh ? this.commitQuietly(e) : this.commit(e);
  }

  /** etcd's comparison: an absent prevValue / prevIndex matches anything. */
  private compare(n: TreeNode, prevValue: unknown, prevIndex: number | undefined): void {
    const indexOk = prevIndex === undefined || prevIndex === 0 || n.modifiedIndex === prevIndex;
    const valueOk = prevValue === undefined || prevValue === '' || valueEquals(n.value, prevValue);
    if (indexOk && valueOk) return;
    let cause: string;
    if (!indexOk && !valueOk) {
      cause = `[${formatValue(prevValue)} != ${formatValue(n.value)}] [${prevIndex} != ${n.modifiedIndex}]`;
    } else if (!indexOk) {
      cause = `[${prevIndex} != ${n.modifiedIndex}]`;
    } else {
      cause = `[${formatValue(prevValue)} != ${formatValue(n.value)}]`;
    }
    throw new KvError(KvErrorCode.TestFailed, cause, this.index);
  }

  private delete(rawKey: string, dir: boolean, recursive: boolean, now: number, index: number): KvEvent {
    const key = normalizeKey(rawKey);
    if (key === '/') throw new KvError(KvErrorCode.RootReadOnly, '/', this.index);
    if (recursive) dir = true;
    const n = this.lookup(key);
    if (n.dir) {
      if (!dir) throw new KvError(KvErrorCode.NotFile, key, this.index);
      if (n.children!.size > 0 && !recursive) throw new KvError(KvErrorCode.DirNotEmpty, key, this.index);
    }
    const prevNode = this.repr(n, false, false, now);
    this.removeNode(n);
    return this.commit({ action: 'delete', node: tombstone(n, index), prevNode, index });
  }

  private compareAndDelete(rawKey: string, prevValue: unknown, prevIndex: number | undefined, now: number, index: number): KvEvent {
    // No read-only check: the root is a directory, so etcd answers 102.
    const key = normalizeKey(rawKey);
    const n = this.lookup(key);
    if (n.dir) throw new KvError(KvErrorCode.NotFile, key, this.index);
    this.compare(n, prevValue, prevIndex);
    const prevNode = this.repr(n, false, false, now);
    this.removeNode(n);
    return this.commit({ action: 'compareAndDelete', node: tombstone(n, index), prevNode, index });
  }

  /**
   * Removes the key whose expiration comes first, if it is at or before
   * `now`, with an `expire` event at `index`. One key per command, because
   * an index names one change: a v2 watcher that saw index N resumes from
   * N+1, so two expirations sharing N would lose one (etcd's store gives
   * each expired key its own index for the same reason). The leader proposes
   * one command per due key.
   */
  private expire(now: number, index: number): KvEvent[] {
    for (let top = this.ttl.peek(); top && top.expireTime <= now; top = this.ttl.peek()) {
      this.ttl.pop();
      const n = this.find(top.key);
      // A stale heap entry: the key is gone or has another TTL now.
      if (!n || n.expireTime !== top.expireTime) continue;
      const prevNode = this.repr(n, false, false, now);
      this.removeNode(n);
      return [this.commit({ action: 'expire', node: tombstone(n, index), prevNode, index })];
    }
    return [];
  }

  /** How many keys expire at or before `now` (at most `limit`; stale heap entries are not counted). */
  dueCount(now: number, limit: number): number {
    let due = 0;
    this.ttl.visitDue(now, (expireTime, key) => {
      const n = this.find(key);
      if (n && n.expireTime === expireTime) due++;
      return due < limit;
    });
    return due;
  }

  /** The earliest expiration time still pending (ms), if any. */
  nextExpiry(): number | undefined {
    for (let top = this.ttl.peek(); top; top = this.ttl.peek()) {
      const n = this.find(top.key);
      if (n && n.expireTime === top.expireTime) return top.expireTime;
      this.ttl.pop();
    }
    return undefined;
  }

  private commit(e: KvEvent): KvEvent {
    // The same object goes to the caller, the history and every watcher.
    Object.freeze(e);
    Object.freeze(e.node);
    if (e.prevNode) Object.freeze(e.prevNode);
    this.index = e.index;
    this.history.add(e);
    this.observer.event?.(e);
    return e;
  }

  private commitQuietly(e: KvEvent): KvEvent {
    this.index = e.index;
    return e;
  }

  // ------------------------------------------------------------------ structure

  /**
   * etcd's internalGet: the node at `key`, or KvError 104 naming the value
   * the path runs into, or 100 naming the first key that is missing.
   */
  private lookup(key: string): TreeNode {
    let n: TreeNode = this.root;
    for (const seg of segments(key)) {
      if (!n.dir) throw new KvError(KvErrorCode.NotDir, n.key, this.index);
      const c = n.children!.get(seg);
      if (!c) throw new KvError(KvErrorCode.KeyNotFound, n.key === '/' ? `/${seg}` : `${n.key}/${seg}`, this.index);
      n = c;
    }
    return n;
  }

  private find(key: string): TreeNode | undefined {
    let n: TreeNode | undefined = this.root;
    for (const seg of segments(key)) {
      if (!n.dir) return undefined;
      n = n.children!.get(seg);
      if (!n) return undefined;
    }
    return n;
  }

  /** The parent directory of `key`, creating missing directories (etcd's walk with checkDir). */
  private walkCreatingDirs(key: string, index: number): TreeNode {
    const segs = segments(key);
    let n = this.root;
    let path = '';
    for (let i = 0; i < segs.length - 1; i++) {
      path += '/' + segs[i];
      let c = n.children!.get(segs[i]);
      if (!c) {
        c = newNode(path, segs[i], n, true, undefined, index);
        n.children!.set(segs[i], c);
        this.count++;
      } else if (!c.dir) {
        throw new KvError(KvErrorCode.NotDir, path, this.index);
      }
      n = c;
    }
    return n;
  }

  private removeNode(n: TreeNode): void {
    const walk = (x: TreeNode): void => {
      this.count--;
      if (x.dir) for (const c of x.children!.values()) walk(c);
      else this.observer.valueRemoved?.(x.key, x.value);
    };
    walk(n);
    n.parent!.children!.delete(n.name);
    n.parent = undefined;
  }

  private setTtl(n: TreeNode, ttl: number | undefined, now: number): void {
    if (ttl === undefined || ttl === null) {
      n.expireTime = 0;
      return;
    }
    const t = now + ttl * 1000;
    n.expireTime = t < MIN_EXPIRE_TIME ? 0 : t;
    if (n.expireTime !== 0) this.ttl.push(n.expireTime, n.key);
  }

  // ------------------------------------------------------------------ representation

  private ttlFields(n: TreeNode, now: number): { expiration?: string; ttl?: number } {
    if (n.expireTime === 0) return NO_TTL;
    const left = n.expireTime - now;
    return { expiration: new Date(n.expireTime).toISOString(), ttl: Math.ceil(left / 1000) };
  }

  private dirHeader(n: TreeNode, now: number): KvNodeData {
    return {
      key: n.key,
      dir: true,
      createdIndex: n.createdIndex,
      modifiedIndex: n.modifiedIndex,
      ...this.ttlFields(n, now),
    };
  }

  private listChildren(n: TreeNode, recursive: boolean, sorted: boolean, now: number): KvNodeData[] {
    const out: KvNodeData[] = [];
    for (const c of n.children!.values()) {
      if (c.name.startsWith('_')) continue;
      out.push(this.repr(c, recursive, sorted, now));
    }
    if (sorted) out.sort((a, b) => compareUtf8(a.key, b.key));
    return out;
  }

  private repr(n: TreeNode, recursive: boolean, sorted: boolean, now: number): KvNodeData {
    if (n.dir) {
      const head = this.dirHeader(n, now);
      return recursive ? { ...head, nodes: this.listChildren(n, true, sorted, now) } : head;
    }
    if (n.expireTime === 0) return { key: n.key, value: n.value, createdIndex: n.createdIndex, modifiedIndex: n.modifiedIndex };
    return { key: n.key, value: n.value, createdIndex: n.createdIndex, modifiedIndex: n.modifiedIndex, ...this.ttlFields(n, now) };
  }

  // ------------------------------------------------------------------ snapshot

  /**
   * The whole state as plain data (for msgpack): nodes in tree order with
   * children in insertion order, the index, and the event history.
   */
  toSnapshot(): TreeSnapshot {
    const nodes: SnapshotNode[] = [];
    const walk = (n: TreeNode): void => {
      for (const c of n.children!.values()) {
        nodes.push([c.key, c.dir ? 1 : 0, c.dir ? null : c.value, c.createdIndex, c.modifiedIndex, c.expireTime]);
        if (c.dir) walk(c);
      }
    };
    walk(this.root);
    return { v: 1, index: this.index, nodes, history: this.history.events(), droppedIndex: this.history.droppedIndex };
  }

  /** Replaces all state with a snapshot's (the observer sees every value written again). */
  restore(s: TreeSnapshot): void {
    if (s.v !== 1) throw new KvError(KvErrorCode.RaftInternal, `unknown tree snapshot version ${String(s.v)}`, this.index);
    this.root = newNode('/', '', undefined, true, undefined, 0);
    this.ttl.clear();
    this.count = 0;
    for (const [key, dir, value, createdIndex, modifiedIndex, expireTime] of s.nodes) {
      const name = key.slice(key.lastIndexOf('/') + 1);
      const parentKey = key.slice(0, key.lastIndexOf('/')) || '/';
      const parent = this.find(parentKey);
      if (!parent || !parent.dir) throw new KvError(KvErrorCode.RaftInternal, `snapshot lists ${key} before its parent`, this.index);
      const n = newNode(key, name, parent, dir === 1, dir === 1 ? undefined : deepFreeze(value), createdIndex);
      n.modifiedIndex = modifiedIndex;
      n.expireTime = expireTime;
      if (expireTime !== 0) this.ttl.push(expireTime, key);
      parent.children!.set(name, n);
      this.count++;
      if (dir !== 1) this.observer.valueWritten?.(key, n.value, undefined);
    }
    this.index = s.index;
    this.history.load(s.history, s.droppedIndex ?? 0);
  }
}

/** One node in a snapshot: [key, dir (1/0), value, createdIndex, modifiedIndex, expireTime]. */
export type SnapshotNode = [string, 0 | 1, unknown, number, number, number];

/** The tree's state in a snapshot. */
export interface TreeSnapshot {
  readonly v: 1;
  readonly index: number;
  readonly nodes: SnapshotNode[];
  readonly history: KvEvent[];
  /** Index of the newest event the history had dropped. */
  readonly droppedIndex?: number;
}

/**
 * Orders keys as etcd does (Go compares strings by UTF-8 bytes, which is
 * code point order). JavaScript's `<` compares UTF-16 units, which differs
 * for characters beyond U+FFFF against U+E000–U+FFFF.
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (U+D800–DFFF) stand for code points above U+FFFF: they sort
    // after everything in the BMP.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

const NO_TTL: { expiration?: string; ttl?: number } = Object.freeze({});

function newNode(key: string, name: string, parent: TreeNode | undefined, dir: boolean, value: unknown, index: number): TreeNode {
  return {
    key,
    name,
    parent,
    dir,
    value,
    children: dir ? new Map() : undefined,
    createdIndex: index,
    modifiedIndex: index,
    expireTime: 0,
  };
}

/** The node of a delete/expire event: the key, where it was created, when it went. */
function tombstone(n: TreeNode, index: number): KvNodeData {
  return { key: n.key, ...(n.dir ? { dir: true as const } : {}), createdIndex: n.createdIndex, modifiedIndex: index };
}
