import { KvError, KvErrorCode, WatchOverflowError } from '../errors.js';
import { eventMatches, type EventHistory } from '../tree/event-history.js';
import { isUnder, normalizeKey, segments } from '../tree/key.js';
import type { KvEvent } from '../tree/types.js';

/** Options of a watch. */
export interface WatchOptions {
  /** Also report changes below `key`. */
  readonly recursive?: boolean;
  /**
   * Start from this past index, served from the event history (older than
   * the history keeps → KvError 401). Without it, only changes after the
   * call are reported.
   */
  readonly waitIndex?: number;
  /** Ends the watch (the iteration finishes normally). */
  readonly signal?: AbortSignal;
  /**
   * Events buffered for a slow consumer before the watch ends with
   * {@link WatchOverflowError}. @defaultValue 1024
   */
  readonly bufferSize?: number;
}

interface Waiting {
  resolve(r: IteratorResult<KvEvent>): void;
  reject(e: Error): void;
}

/**
 * One watch: an async iterator over a bounded queue that the hub fills
 * synchronously as entries apply. The apply loop never waits for it.
 */
class Watcher implements AsyncIterableIterator<KvEvent> {
  private queue: KvEvent[] = [];
  private head = 0;
  private waiting: Waiting | undefined;
  private finished = false;
  private error: Error | undefined;

  constructor(
    readonly key: string,
    readonly recursive: boolean,
    /** Only events at or after this index are reported (etcd's sinceIndex). */
    private readonly sinceIndex: number,
    private readonly bufferSize: number,
    private readonly hub: WatcherHub,
    readonly signal: AbortSignal | undefined,
    backlog: KvEvent[],
  ) {
    this.queue = backlog;
  }

  get ended(): boolean {
    return this.finished;
  }

  /** Called by the hub, synchronously, for each matching event. */
  push(e: KvEvent): void {
    if (this.finished || e.index < this.sinceIndex) return;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w.resolve({ value: e, done: false });
      return;
    }
    if (this.queue.length - this.head >= this.bufferSize) {
      this.end(new WatchOverflowError(e.index, this.bufferSize));
      return;
    }
    this.queue.push(e);
  }

  /** Ends the watch: buffered events are still delivered, then the error (if any) or the end. */
  end(error?: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.error = error;
    this.hub.remove(this);
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      if (error) {
        this.error = undefined;
        w.reject(error);
      } else {
        w.resolve({ value: undefined, done: true });
      }
    }
  }

  next(): Promise<IteratorResult<KvEvent>> {
    if (this.head < this.queue.length) {
      const value = this.queue[this.head++];
      // Compact now and then so a long-lived watcher does not keep every event.
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.finished) {
      if (this.error) {
        const e = this.error;
        this.error = undefined;
        return Promise.reject(e);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    if (this.waiting) return Promise.reject(new Error('watch: next() called again before the previous call settled'));
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<KvEvent>> {
    this.queue = [];
    this.head = 0;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<KvEvent> {
    return this;
  }
}

/** A watch that failed before it started (bad key, history cleared): its first `next()` rejects. */
function failedWatch(err: Error): AsyncIterableIterator<KvEvent> {
  let thrown = false;
  const it: AsyncIterableIterator<KvEvent> = {
    next: () => {
      if (thrown) return Promise.resolve({ value: undefined, done: true });
      thrown = true;
      return Promise.reject(err);
    },
    return: () => {
      thrown = true;
      return Promise.resolve({ value: undefined, done: true });
    },
    [Symbol.asyncIterator]: () => it,
  };
  return it;
}

/**
 * Every live watch on a node, indexed by key (exact watches) and by prefix
 * (recursive ones), so dispatching an event costs the depth of its key, not
 * the number of watches.
 *
 * @remarks
 * Registration and the history scan happen in one synchronous step, and
 * dispatch runs synchronously inside apply: a watch never misses or reorders
 * an event between "history" and "live".
 */
export class WatcherHub {
  private readonly exact = new Map<string, Set<Watcher>>();
  private readonly prefix = new Map<string, Set<Watcher>>();
  private count = 0;
  private closed = false;
  /**
   * One 'abort' listener per signal, however many watches share it (Node
   * warns past 10 listeners on one signal, and each would be a closure).
   */
  private readonly bySignal = new Map<AbortSignal, { watchers: Set<Watcher>; listener: () => void }>();

  constructor(
    private readonly history: EventHistory,
    private readonly storeIndex: () => number,
  ) {}

  /** Number of live watches. */
  get size(): number {
    return this.count;
  }

  watch(rawKey: string, opts: WatchOptions = {}): AsyncIterableIterator<KvEvent> {
    let key: string;
    let backlog: KvEvent[] = [];
    try {
      key = normalizeKey(rawKey);
      const bufferSize = opts.bufferSize ?? 1024;
      if (!Number.isInteger(bufferSize) || bufferSize < 1) {
        throw new KvError(KvErrorCode.InvalidField, `bufferSize must be a positive integer, got ${bufferSize}`, this.storeIndex());
      }
      // etcd: no waitIndex (or 0) means "from the next change".
      let since = this.storeIndex() + 1;
      if (opts.waitIndex !== undefined && opts.waitIndex !== 0) {
        if (!Number.isSafeInteger(opts.waitIndex) || opts.waitIndex < 0) {
          throw new KvError(KvErrorCode.IndexNaN, `waitIndex must be a non-negative integer, got ${String(opts.waitIndex)}`, this.storeIndex());
        }
        since = opts.waitIndex;
        if (since <= this.storeIndex()) backlog = this.history.scan(key, !!opts.recursive, since, this.storeIndex());
      }
      if (this.closed || opts.signal?.aborted) return failedWatchDone();
      const w = new Watcher(key, !!opts.recursive, since, bufferSize, this, opts.signal, backlog);
      const map = opts.recursive ? this.prefix : this.exact;
      let set = map.get(key);
      if (!set) map.set(key, (set = new Set()));
      set.add(w);
      this.count++;
      if (opts.signal) this.attachSignal(opts.signal, w);
      return w;
    } catch (e) {
      return failedWatch(e as Error);
    }
  }

  /** Delivers an event to every watch it concerns (called inside apply). */
  notify(e: KvEvent): void {
    if (this.count === 0) return;
    const k = e.node.key;
    const targets = new Set<Watcher>();
    this.exact.get(k)?.forEach((w) => targets.add(w));
    // Recursive watches on the key and each of its ancestors.
    let p = '';
    this.prefix.get('/')?.forEach((w) => targets.add(w));
    for (const seg of segments(k)) {
      p += '/' + seg;
      this.prefix.get(p)?.forEach((w) => targets.add(w));
    }
    // Deleting or expiring a directory concerns every watch inside it.
    if ((e.action === 'delete' || e.action === 'expire') && e.prevNode?.dir) {
      for (const [key, set] of this.exact) if (isUnder(key, e.prevNode.key)) set.forEach((w) => targets.add(w));
      for (const [key, set] of this.prefix) if (isUnder(key, e.prevNode.key)) set.forEach((w) => targets.add(w));
    }
    for (const w of targets) if (eventMatches(e, w.key, w.recursive)) w.push(e);
  }

  private attachSignal(signal: AbortSignal, w: Watcher): void {
    let entry = this.bySignal.get(signal);
    if (!entry) {
      const watchers = new Set<Watcher>();
      const listener = (): void => {
        this.bySignal.delete(signal);
        for (const x of [...watchers]) x.end();
      };
      entry = { watchers, listener };
      this.bySignal.set(signal, entry);
      signal.addEventListener('abort', listener, { once: true });
    }
    entry.watchers.add(w);
  }

  /** Called by a watcher when it ends. */
  remove(w: Watcher): void {
    const map = w.recursive ? this.prefix : this.exact;
    const set = map.get(w.key);
    if (!set || !set.delete(w)) return;
    this.count--;
    if (set.size === 0) map.delete(w.key);
    if (w.signal) {
      const entry = this.bySignal.get(w.signal);
      if (entry) {
        entry.watchers.delete(w);
        if (entry.watchers.size === 0) {
          this.bySignal.delete(w.signal);
          w.signal.removeEventListener('abort', entry.listener);
        }
      }
    }
  }

  /** Ends every watch for good (the node is closing): iterations finish normally, later watches end at once. */
  close(): void {
    this.closed = true;
    this.closeAll();
  }

  /** Ends every current watch (the node is closing, or restored a snapshot: then with `error`). */
  closeAll(error?: Error): void {
    const all: Watcher[] = [];
    for (const set of this.exact.values()) all.push(...set);
    for (const set of this.prefix.values()) all.push(...set);
    for (const w of all) w.end(error);
  }
}

function failedWatchDone(): AsyncIterableIterator<KvEvent> {
  const it: AsyncIterableIterator<KvEvent> = {
    next: () => Promise.resolve({ value: undefined, done: true }),
    return: () => Promise.resolve({ value: undefined, done: true }),
    [Symbol.asyncIterator]: () => it,
  };
  return it;
}
