import { mkdir } from 'node:fs/promises';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

import {
  EMPTY_HARD_STATE,
  InvariantError,
  RaftError,
  silentLogger,
  type Entry,
  type HardState,
  type Index,
  type LogBatch,
  type LogStore,
  type PersistedState,
  type RaftLogger,
  type Snapshot,
} from '@kv/raft';
import { ClassicLevel } from 'classic-level';

import {
  BOUNDS_KEY,
  ENTRY_KEYS_END,
  HARD_STATE_KEY,
  LAYOUT_VERSION,
  META_KEY,
  MalformedRecord,
  SNAPSHOT_KEY,
  VERSION_KEY,
  decodeBounds,
  decodeEntry,
  decodeHardState,
  decodeMeta,
  decodeSnapshot,
  decodeVersion,
  describeKey,
  encodeBounds,
  encodeEntry,
  encodeHardState,
  encodeMeta,
  encodeSnapshot,
  encodeVersion,
  entryIndexOf,
  entryKey,
  unframe,
  type LogBounds,
  type MemberMeta,
} from './codec.js';
import { DirLock } from './dir-lock.js';
import { StorageError } from './errors.js';
import { checkTables } from './table-check.js';
import { LogShape } from './log-shape.js';

export type { MemberMeta } from './codec.js';
export { StorageError, isStorageError, type StorageErrorCode } from './errors.js';

/** Options of {@link LevelLogStore}. */
export interface LevelLogStoreOptions {
  /**
   * The data directory, created if missing. The database is `dir/db`
   * (classic-level); `dir/kv.pid` names the process that has it open.
   */
  readonly dir: string;
  /** Where recovery warnings go (a cut torn tail, a lowered commit index). @defaultValue silent */
  readonly logger?: RaftLogger;
  /**
   * Most bytes of entry data that saves queued behind a write may merge
   * into one batch (group commit); a single larger save is still one batch.
   * @defaultValue 64 MiB
   */
  readonly maxGroupBytes?: number;
}

/** Lifecycle of a {@link LevelLogStore}: `new → opening → open → closing → closed`. */
export type LevelLogStoreStatus = 'new' | 'opening' | 'open' | 'closing' | 'closed';

/** Counters of a {@link LevelLogStore}, for tests and benchmarks. */
export interface LevelLogStoreStats {
  /** `db.batch` calls made by writes (saves, snapshots, compactions, metadata), recovery excluded. */
  readonly batches: number;
  /** Of those, the ones written with `sync: true` (an fsync each). */
  readonly syncBatches: number;
  /** `save()` calls written (a batch may hold several: group commit). */
  readonly saves: number;
  /** Entries written by those saves. */
  readonly entries: number;
}

/** What the store holds now, for tests (the contract's `storedRange`). */
export interface LevelLogStoreContents {
  /** Index of the first entry held: the compaction point + 1. */
  readonly firstIndex: Index;
  /** Index of the last entry held; the compaction point when none is held. */
  readonly lastIndex: Index;
  /** Index of the newest snapshot; 0 when there is none. */
  readonly snapshotIndex: Index;
  readonly hardState: HardState;
}

type Db = ClassicLevel<Buffer, Buffer>;
type BatchOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

interface Settle<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

type Task =
  | { kind: 'save'; batch: LogBatch | Error; sync: boolean; bytes: number; settle: Settle<void> }
  | { kind: 'op'; run: () => Promise<unknown>; settle: Settle<unknown> };

/** What recovery read, served by `load()` until the first write, so start-up decodes the log once. */
interface LoadCache {
  readonly hardState: HardState;
  readonly snapshot: Snapshot | undefined;
  readonly entries: Entry[];
}

const MiB = 1024 * 1024;
/**
 * Rows and bytes one iterator step fetches when scanning the log. classic-level
 * stops a step at 16 KiB by default, which made a scan mostly round trips to
 * its thread pool.
 */
const SCAN_ROWS = 10_000;
const SCAN_BYTES = 8 * MiB;

/**
 * A {@link LogStore} on classic-level (LevelDB) in a data directory: the
 * Raft log, hard state, newest snapshot and member metadata, each record
 * checksummed, every write one atomic batch.
 *
 * @remarks
 * **Durability.** Each `save` is one `db.batch(ops, { sync })`: its
 * entries, the entries it overwrites or drops, its hard state and its
 * snapshot land together or not at all. `saveSnapshot`, `compact` and
 * `writeMeta` are sync batches too. A resolved `save` with `sync: true`
 * has been fsynced.
 *
 * **Group commit.** Operations run one at a time in call order. Saves
 * called while a write is in flight queue up and are written together, in
 * one batch and one fsync (each still checked on its own: a refused save
 * changes nothing and the others go through). The Raft driver makes one
 * save per Ready and batches the proposals that arrive during an fsync into
 * the next Ready, so in a node the saving happens there; a host calling
 * `save` concurrently gets it here. {@link LevelLogStore.stats} counts
 * batches.
 *
 * **Recovery.** Opening checks every record's CRC-32. Damaged or missing
 * entries at the end of the log (a torn write) are cut, in a sync batch,
 * with a warning on the logger; if the cut reaches below the hard state's
 * commit index, the commit index is lowered to the new last index (with
 * a warning: the member fetches those entries from the leader again).
 * Damaged entries at or below the snapshot index are dropped (the snapshot
 * covers them). A damaged entry followed by intact ones, or a damaged hard
 * state, snapshot, bounds or metadata record, refuses to open with
 * `StorageError` `STORE_CORRUPT` naming the directory and the index.
 *
 * **Layout.** See `codec.ts`: big-endian index keys under `'e'`, the hard
 * state, snapshot, bounds and metadata under one-byte keys.
 *
 * **Locking.** One handle per data directory, across processes and within
 * one: a second open fails at once with `STORE_DATA_DIR_LOCKED` (see
 * `dir-lock.ts`).
 *
 * **Opening.** The constructor does no I/O. {@link LevelLogStore.open}
 * opens (and recovers) the store; any other method opens it first if
 * needed, so `new LevelLogStore({ dir }).load()` works. An open that fails
 * makes every queued and later operation reject with its error.
 *
 * **Closing.** After `close()` is called, every method rejects with
 * `StorageError` `STORE_CLOSED` (on a later turn, never by throwing);
 * operations called before it complete first. Idempotent.
 *
 * **Failures.** If LevelDB fails a write, that write and every later
 * operation reject with `STORE_IO` (what is on disk is no longer known):
 * close the store and open it again.
 *
 * @example
 * ```ts
 * const store = await LevelLogStore.open({ dir: './m1.kv', logger });
 * const { hardState, snapshot, entries } = await store.load();
 * await store.save({ hardState, entries: more }, { sync: true });
 * await store.close();
 * ```
 */
export class LevelLogStore implements LogStore {
  /** The data directory, as given. */
  readonly dir: string;
  private readonly logger: RaftLogger;
  private readonly maxGroupBytes: number;

  private state: LevelLogStoreStatus = 'new';
  private db: Db | undefined;
  private lock: DirLock | undefined;
  private opening: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /** Set when LevelDB failed a write: every later operation rejects with it. */
  private broken: StorageError | undefined;

  /** What the database holds (durable). Replaced, never changed in place, after each write. */
  private shape = new LogShape();
  private hardState: HardState = EMPTY_HARD_STATE;
  private meta: MemberMeta | undefined;
  private cache: LoadCache | undefined;

  private readonly queue: Task[] = [];
  private working = false;
  private idle: { promise: Promise<void>; resolve: () => void } | undefined;
  /** Background deletion of entries below the compaction point; close waits for it. */
  private cleaning: Promise<void> = Promise.resolve();
  private counters = { batches: 0, syncBatches: 0, saves: 0, entries: 0 };

  /** Makes a handle on `options.dir`; nothing is opened until {@link LevelLogStore.open} or the first operation. */
  constructor(options: LevelLogStoreOptions) {
    if (typeof options?.dir !== 'string' || options.dir === '') throw new TypeError('LevelLogStore: dir must be a non-empty string');
    this.dir = options.dir;
    this.logger = options.logger ?? silentLogger;
    this.maxGroupBytes = options.maxGroupBytes ?? 64 * MiB;
  }

  /**
   * Makes a handle and opens it.
   *
   * @throws StorageError `STORE_DATA_DIR_LOCKED`, `STORE_CORRUPT`, `STORE_IO`.
   */
  static async open(options: LevelLogStoreOptions): Promise<LevelLogStore> {
    const store = new LevelLogStore(options);
    await store.open();
    return store;
  }

  /** Where the database of data directory `dir` lives. */
  static dbLocation(dir: string): string {
    return join(dir, 'db');
  }

  /** See {@link LevelLogStoreStatus}. */
  get status(): LevelLogStoreStatus {
    return this.state;
  }

  /** Counters since this handle opened. */
  get stats(): LevelLogStoreStats {
    return { ...this.counters };
  }

  /**
   * Takes the directory's lock, opens the database and recovers it (checks
   * every record, cuts a torn tail). Idempotent: every call before
   * `close()` returns the same promise.
   *
   * @throws StorageError `STORE_DATA_DIR_LOCKED` when another process, or
   * another handle in this one, has the directory open.
   * @throws StorageError `STORE_CORRUPT` for damage recovery cannot repair.
   * @throws StorageError `STORE_CLOSED` when `close()` was called first.
   * @throws StorageError `STORE_IO` when LevelDB fails otherwise.
   */
  open(): Promise<void> {
    if (this.state === 'closing' || this.state === 'closed') return Promise.reject(this.closedError('open'));
    if (this.opening === undefined) {
      this.state = 'opening';
      this.opening = this.openAndRecover().then(
        () => {
          if (this.state === 'opening') this.state = 'open';
        },
        (e: unknown) => {
          // A failed open leaves nothing open; the handle can only be closed.
          if (this.state === 'opening') this.state = 'closed';
          throw e;
        },
      );
      this.opening.catch(ignore);
    }
    return this.opening;
  }

  /**
   * Reads back the hard state, the newest snapshot and the entries after it.
   *
   * @throws StorageError `STORE_CORRUPT` when a record fails its check
   * (damage that happened while the store was open), `STORE_CLOSED`.
   */
  load(): Promise<PersistedState> {
    return this.enqueue('load', async () => {
      // Until the first write, what recovery decoded is what the database holds.
      if (this.cache !== undefined) return persisted(this.cache);
      const db = this.db!;
      const snapshot = await this.readSnapshot(db);
      const entries = await this.readEntries(db, Math.max(this.shape.compacted, this.shape.snapshotIndex) + 1, this.shape.last);
      return persisted({ hardState: this.hardState, snapshot, entries });
    });
  }

  /**
   * Writes a batch atomically (see `LogStore.save`); with `sync`, durably.
   *
   * @throws RaftError `RAFT_UNAVAILABLE` for entries that are not contiguous
   * or leave a gap, `RAFT_COMPACTED` for entries at or below the snapshot,
   * `RAFT_SNAPSHOT_OUT_OF_DATE` for a snapshot not newer than the stored one.
   * @throws StorageError `STORE_CLOSED`, `STORE_IO`.
   */
  save(batch: LogBatch, opts: { sync: boolean }): Promise<void> {
    let input: LogBatch | Error;
    let bytes = 0;
    try {
      // Copy the array now: once save() has returned, the caller may reuse it.
      input = { ...batch, entries: [...batch.entries] };
      for (const e of input.entries) bytes += e.data.byteLength;
    } catch (cause) {
      input = new TypeError('save() expects a LogBatch and { sync }', { cause });
    }
    const sync = opts?.sync === true;
    return new Promise<void>((resolve, reject) => {
      if (!this.accepting('save', reject)) return;
      this.queue.push({ kind: 'save', batch: input, sync, bytes, settle: { resolve, reject } });
      this.kick();
    });
  }

  /**
   * Durably stores a snapshot the node took of its own state; entries stay
   * until `compact()`.
   *
   * @throws RaftError `RAFT_SNAPSHOT_OUT_OF_DATE` when it is not newer than
   * the stored snapshot, `RAFT_UNAVAILABLE` when it is past the last entry.
   * @throws StorageError `STORE_CLOSED`, `STORE_IO`.
   */
  saveSnapshot(snapshot: Snapshot): Promise<void> {
    return this.enqueue('saveSnapshot', async () => {
      const i = snapshot.metadata.index;
      checkNewer(i, this.shape.snapshotIndex);
      if (i > this.shape.last) {
        throw new RaftError('RAFT_UNAVAILABLE', `snapshot at ${i} is past the last index ${this.shape.last}`);
      }
      const next = this.shape.clone();
      next.snapshot = { index: i, term: snapshot.metadata.term };
      await this.write([{ type: 'put', key: SNAPSHOT_KEY, value: encodeSnapshot(snapshot) }], true);
      this.shape = next;
    });
  }

  /**
   * Drops the entries up to and including `index`; at or below an earlier
   * compaction point it does nothing.
   *
   * @remarks
   * The new compaction point is written in a sync batch; the entries below
   * it are then deleted in the background (they are never read or written
   * again, and a restart finishes the job).
   *
   * @throws RaftError `RAFT_COMPACTED` when `index` is past the newest snapshot.
   * @throws InvariantError when `index` is not a non-negative integer.
   * @throws StorageError `STORE_CLOSED`, `STORE_IO`.
   */
  compact(index: Index): Promise<void> {
    return this.enqueue('compact', async () => {
      if (!(Number.isSafeInteger(index) && index >= 0)) {
        throw new InvariantError(`compact index ${index} is not a non-negative integer`);
      }
      const snap = this.shape.snapshotIndex;
      if (index > snap) throw new RaftError('RAFT_COMPACTED', `cannot compact to ${index}: the newest snapshot is at ${snap}`);
      if (index <= this.shape.compacted) return;
      const before = this.shape.compacted;
      const next = this.shape.clone();
      next.compactTo(index);
      await this.write([{ type: 'put', key: BOUNDS_KEY, value: encodeBounds(next) }], true);
      this.shape = next;
      this.clearBelow(before, index);
    });
  }

  /**
   * The member metadata recorded in this directory, if any.
   *
   * @throws StorageError `STORE_CLOSED`, and what opening throws.
   */
  readMeta(): Promise<MemberMeta | undefined> {
    return this.enqueue('readMeta', async () => this.meta);
  }

  /**
   * Records member metadata (replacing what was there) in a sync batch.
   *
   * @throws StorageError `STORE_CLOSED`, `STORE_IO`, and what opening throws.
   */
  writeMeta(meta: MemberMeta): Promise<void> {
    const copy: MemberMeta = { clusterId: meta.clusterId, memberId: meta.memberId, name: meta.name, ...(meta.removed ? { removed: true } : {}) };
    return this.enqueue('writeMeta', async () => {
      await this.write([{ type: 'put', key: META_KEY, value: encodeMeta(copy) }], true);
      this.meta = copy;
    });
  }

  /**
   * Waits for the operations already called, closes the database and
   * releases the directory. Idempotent: every call returns the same promise.
   */
  close(): Promise<void> {
    if (this.closing === undefined) {
      const wasOpening = this.opening;
      this.state = 'closing';
      this.closing = (async () => {
        await this.drained();
        if (wasOpening !== undefined) await wasOpening.catch(ignore);
        await this.cleaning;
        try {
          if (this.db !== undefined && this.db.status === 'open') await this.db.close();
        } finally {
          this.db = undefined;
          await this.lock?.release();
          this.lock = undefined;
          this.cache = undefined;
          this.state = 'closed';
        }
      })();
    }
    return this.closing;
  }

  /**
   * What the store holds, counting only writes that have completed.
   * Synchronous and allowed in any state.
   */
  inspect(): LevelLogStoreContents {
    return {
      firstIndex: this.shape.compacted + 1,
      lastIndex: this.shape.last,
      snapshotIndex: this.shape.snapshotIndex,
      hardState: this.hardState,
    };
  }

  /** Bytes of every file under the data directory (the database, its logs, `kv.pid`). */
  sizeOnDisk(): number {
    return dirSize(this.dir);
  }

  // ------------------------------------------------------------------ the queue

  /** Queues `run` behind every operation called before it; it runs once the store is open. */
  private enqueue<T>(method: string, run: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!this.accepting(method, reject)) return;
      this.queue.push({ kind: 'op', run, settle: { resolve: resolve as (v: unknown) => void, reject } });
      this.kick();
    });
  }

  /** False (after arranging a rejection on a later turn) when the store no longer takes operations. */
  private accepting(method: string, reject: (e: unknown) => void): boolean {
    if (this.state === 'closing' || this.state === 'closed') {
      const err = this.closedError(method);
      setImmediate(() => reject(err));
      return false;
    }
    return true;
  }

  private closedError(method: string): StorageError {
    return new StorageError('STORE_CLOSED', `LevelLogStore for data dir ${this.dir} is ${this.state}: ${method}() was called after close()`, {
      dir: this.dir,
    });
  }

  private kick(): void {
    if (this.working) return;
    this.working = true;
    void this.work();
  }

  /** Runs queued tasks in order until the queue is empty. */
  private async work(): Promise<void> {
    try {
      let openError: unknown;
      try {
        await this.open();
      } catch (e) {
        openError = e;
      }
      // Every operation settles on a later turn than the call, like real I/O.
      await nextTurn();
      while (this.queue.length > 0) {
        const head = this.queue[0];
        if (openError !== undefined || this.broken !== undefined) {
          this.queue.shift();
          head.settle.reject(openError ?? this.broken);
        } else if (head.kind === 'op') {
          this.queue.shift();
          try {
            head.settle.resolve(await head.run());
          } catch (e) {
            head.settle.reject(e);
          }
        } else {
          await this.writeSaves(this.takeSaves());
        }
      }
    } finally {
      this.working = false;
      this.idle?.resolve();
      this.idle = undefined;
    }
  }

  /** Resolves once the queue is empty and nothing runs. */
  private drained(): Promise<void> {
    if (!this.working && this.queue.length === 0) return Promise.resolve();
    if (this.idle === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.idle = { promise, resolve };
    }
    return this.idle.promise;
  }

  /** Takes the saves at the head of the queue that fit in one group. */
  private takeSaves(): Array<Extract<Task, { kind: 'save' }>> {
    const group: Array<Extract<Task, { kind: 'save' }>> = [];
    let bytes = 0;
    while (this.queue.length > 0) {
      const t = this.queue[0];
      if (t.kind !== 'save') break;
      if (group.length > 0 && bytes + t.bytes > this.maxGroupBytes) break;
      bytes += t.bytes;
      group.push(t);
      this.queue.shift();
    }
    return group;
  }

  // ------------------------------------------------------------------ writes

  /**
   * Checks each save against the log as the saves before it leave it, then
   * writes the accepted ones in one batch and settles all of them in order.
   */
  private async writeSaves(group: Array<Extract<Task, { kind: 'save' }>>): Promise<void> {
    let shape = this.shape;
    let hardState = this.hardState;
    const ops: BatchOp[] = [];
    const outcomes: Array<Error | undefined> = [];
    const clears: Array<[Index, Index]> = [];
    let sync = false;
    let accepted = 0;
    let entries = 0;
    for (const t of group) {
      try {
        if (t.batch instanceof Error) throw t.batch;
        const plan = planSave(shape, t.batch);
        shape = plan.shape;
        if (t.batch.hardState !== undefined) hardState = t.batch.hardState;
        for (const op of plan.ops) ops.push(op);
        if (plan.clear !== undefined) clears.push(plan.clear);
        sync ||= t.sync;
        accepted++;
        entries += t.batch.entries.length;
        outcomes.push(undefined);
      } catch (e) {
        outcomes.push(e instanceof Error ? e : new Error(String(e)));
      }
    }
    let failure: StorageError | undefined;
    if (ops.length > 0) {
      try {
        await this.write(ops, sync);
      } catch (e) {
        failure = e as StorageError;
      }
    }
    if (failure === undefined) {
      this.shape = shape;
      this.hardState = hardState;
      this.counters.saves += accepted;
      this.counters.entries += entries;
      for (const [after, through] of clears) this.clearBelow(after, through);
    }
    for (let k = 0; k < group.length; k++) {
      const err = outcomes[k] ?? failure;
      if (err === undefined) group[k].settle.resolve();
      else group[k].settle.reject(err);
    }
  }

  /** One `db.batch`; a failure breaks the store (what is on disk is no longer known). */
  private async write(ops: BatchOp[], sync: boolean): Promise<void> {
    this.cache = undefined;
    try {
      await writeBatch(this.db!, ops, sync);
    } catch (cause) {
      this.broken = new StorageError(
        'STORE_IO',
        `a write to data dir ${this.dir} failed (${(cause as Error).message}); close the store and open it again`,
        { dir: this.dir, cause },
      );
      throw this.broken;
    }
    this.counters.batches++;
    if (sync) this.counters.syncBatches++;
  }

  /** Deletes entries in `(after, through]` in the background: they are below the compaction point, never touched again. */
  private clearBelow(after: Index, through: Index): void {
    if (through <= after) return;
    const db = this.db!;
    this.cleaning = this.cleaning
      .then(() => db.clear({ gt: entryKey(after), lte: entryKey(through) }))
      .catch((e: unknown) => {
        this.logger.warn(`data dir ${this.dir}: deleting compacted entries ${after + 1}..${through} failed (${(e as Error).message}); the next start retries`);
      });
  }

  // ------------------------------------------------------------------ reads

  private async readSnapshot(db: Db): Promise<Snapshot | undefined> {
    const value = await db.get(SNAPSHOT_KEY);
    if (value === undefined) return undefined;
    return this.decodeOrCorrupt(SNAPSHOT_KEY, value, decodeSnapshot);
  }

  /** Entries `from..to`, each checked; a damaged or missing one is `STORE_CORRUPT`. */
  private async readEntries(db: Db, from: Index, to: Index): Promise<Entry[]> {
    const out: Entry[] = [];
    if (from > to) return out;
    const it = db.iterator({ gte: entryKey(from), lte: entryKey(to), highWaterMarkBytes: SCAN_BYTES });
    try {
      let expected = from;
      for (;;) {
        const rows = await it.nextv(SCAN_ROWS);
        if (rows.length === 0) break;
        for (const [key, value] of rows) {
          const i = entryIndexOf(key);
          if (i !== expected) throw this.corrupt(`log entry ${expected} is missing`, expected);
          out.push(this.decodeOrCorrupt(key, value, (p) => decodeEntry(i, p)));
          expected++;
        }
      }
      if (expected <= to) throw this.corrupt(`log entry ${expected} is missing`, expected);
    } finally {
      await it.close();
    }
    return out;
  }

  private decodeOrCorrupt<T>(key: Buffer, value: Buffer, decode: (payload: Buffer) => T): T {
    const index = entryIndexOf(key);
    const payload = unframe(key, value);
    if (typeof payload === 'string') throw this.corrupt(`${describeKey(key)}: ${payload}`, index);
    try {
      return decode(payload);
    } catch (e) {
      if (e instanceof MalformedRecord) throw this.corrupt(`${describeKey(key)}: ${e.message}`, index);
      throw e;
    }
  }

  private corrupt(what: string, index?: Index): StorageError {
    return new StorageError('STORE_CORRUPT', `data dir ${this.dir} is corrupt: ${what} (in ${LevelLogStore.dbLocation(this.dir)})`, {
      dir: this.dir,
      ...(index !== undefined && !Number.isNaN(index) ? { index } : {}),
    });
  }

  // ------------------------------------------------------------------ open and recovery

  private async openAndRecover(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true });
    } catch (cause) {
      throw new StorageError('STORE_IO', `cannot create data dir ${this.dir}: ${(cause as Error).message}`, { dir: this.dir, cause });
    }
    let db!: Db;
    this.lock = await DirLock.acquire(this.dir, async () => {
      this.checkCurrentFile();
      const damage = await checkTables(LevelLogStore.dbLocation(this.dir));
      if (damage !== undefined) {
        throw this.corrupt(`${damage}; LevelDB reads its tables without checking them and would abort the process or return damaged data`);
      }
      // Constructed only once the directory is claimed in this process:
      // abstract-level starts opening a database as soon as it is constructed,
      // and a second LevelDB open in one process drops the process's lock.
      db = new ClassicLevel<Buffer, Buffer>(LevelLogStore.dbLocation(this.dir), {
        keyEncoding: 'buffer',
        valueEncoding: 'buffer',
      });
      try {
        await db.open();
      } catch (e) {
        const code = (e as { cause?: { code?: string } }).cause?.code;
        if (code === 'LEVEL_LOCKED') throw e;
        if (code === 'LEVEL_CORRUPTION') {
          throw new StorageError('STORE_CORRUPT', `data dir ${this.dir}: LevelDB reports corruption: ${(e as Error).cause}`, {
            dir: this.dir,
            cause: e,
          });
        }
        // classic-level's own message is "Database failed to open"; LevelDB's reason is its cause.
        const why = (e as { cause?: unknown }).cause;
        const detail = why instanceof Error ? `${messageOf(e)}: ${why.message}` : messageOf(e);
        throw new StorageError('STORE_IO', `cannot open the database in data dir ${this.dir}: ${detail}`, { dir: this.dir, cause: e });
      }
    });
    try {
      await this.recover(db);
      this.db = db;
    } catch (e) {
      await db.close().catch(ignore);
      await this.lock.release();
      this.lock = undefined;
      throw e instanceof StorageError ? e : new StorageError('STORE_IO', `recovery of data dir ${this.dir} failed: ${messageOf(e)}`, { dir: this.dir, cause: e });
    }
  }

  /**
   * Refuses a database whose CURRENT file is gone while its tables, logs or
   * manifests are there: LevelDB would take it for a new database, write a
   * fresh manifest over the remains and open it empty or half-filled.
   */
  private checkCurrentFile(): void {
    const location = LevelLogStore.dbLocation(this.dir);
    let names: string[];
    try {
      names = readdirSync(location);
    } catch {
      return; // no database yet
    }
    if (names.includes('CURRENT')) return;
    const remains = names.filter((n) => /^(MANIFEST-\d+|\d+\.(ldb|sst|log))$/.test(n));
    if (remains.length === 0) return;
    throw this.corrupt(
      `the database's CURRENT file is missing but ${remains.length} of its files are there (${remains.slice(0, 3).join(', ')}${remains.length > 3 ? ', …' : ''}); ` +
        `refusing to let LevelDB start a new database over them`,
    );
  }

  /** Reads and checks everything, repairs a torn tail, and sets the in-memory view. */
  private async recover(db: Db): Promise<void> {
    const [version, hard, snap, boundsRecord, meta] = await db.getMany([VERSION_KEY, HARD_STATE_KEY, SNAPSHOT_KEY, BOUNDS_KEY, META_KEY]);
    if (version === undefined) {
      if (await hasAnyKey(db)) throw this.corrupt('the layout version record is missing from a non-empty database');
      await db.batch([{ type: 'put', key: VERSION_KEY, value: encodeVersion() }], { sync: true });
      this.cache = { hardState: EMPTY_HARD_STATE, snapshot: undefined, entries: [] };
      return;
    }
    const layout = this.decodeOrCorrupt(VERSION_KEY, version, decodeVersion);
    if (layout !== LAYOUT_VERSION) {
      throw this.corrupt(`layout version ${layout} is not supported by this version of kv (it reads version ${LAYOUT_VERSION})`);
    }
    let hardState = hard === undefined ? EMPTY_HARD_STATE : this.decodeOrCorrupt(HARD_STATE_KEY, hard, decodeHardState);
    const snapshot = snap === undefined ? undefined : this.decodeOrCorrupt(SNAPSHOT_KEY, snap, decodeSnapshot);
    const bounds: LogBounds = boundsRecord === undefined ? { compacted: 0, last: 0 } : this.decodeOrCorrupt(BOUNDS_KEY, boundsRecord, decodeBounds);
    this.meta = meta === undefined ? undefined : this.decodeOrCorrupt(META_KEY, meta, decodeMeta);
    const snapIndex = snapshot?.metadata.index ?? 0;
    if (snapIndex < bounds.compacted || snapIndex > bounds.last) {
      throw this.corrupt(`the snapshot index ${snapIndex} is outside the log bounds (${bounds.compacted}, ${bounds.last}]`);
    }

    // Scan (compacted, last]: every entry must be there and pass its check.
    const held: Entry[] = [];
    const beyond: Buffer[] = [];
    let droppedBelowSnapshot = false;
    let tail: { from: Index; why: string } | undefined;
    const damaged = (i: Index, why: string): void => {
      if (i <= snapIndex) droppedBelowSnapshot = true;
      else tail ??= { from: i, why };
    };
    let expected = bounds.compacted + 1;
    const it = db.iterator({ gte: entryKey(expected), lt: ENTRY_KEYS_END, highWaterMarkBytes: SCAN_BYTES });
    try {
      for (;;) {
        const rows = await it.nextv(SCAN_ROWS);
        if (rows.length === 0) break;
        for (const [key, value] of rows) {
          const i = entryIndexOf(key);
          // Only this store writes under 'e', always 9-byte keys in index order:
          // anything else is damage that no index can name (and a NaN index
          // would poison the bounds written back below).
          if (Number.isNaN(i)) {
            throw this.corrupt(`key ${key.toString('hex')} among the log entries is not an entry key (an 'e' and 8 bytes of index)`);
          }
          if (i < expected) throw this.corrupt(`log entry keys are out of order: entry ${i} comes after entry ${expected - 1}`, i);
          if (i > bounds.last) {
            beyond.push(key);
            continue;
          }
          for (; expected < i; expected++) damaged(expected, 'it is missing');
          expected = i + 1;
          const payload = unframe(key, value);
          let entry: Entry | undefined;
          if (typeof payload === 'string') {
            damaged(i, payload);
          } else {
            try {
              entry = decodeEntry(i, payload);
            } catch (e) {
              if (!(e instanceof MalformedRecord)) throw e;
              damaged(i, e.message);
            }
          }
          if (entry === undefined) continue;
          if (tail !== undefined) {
            throw this.corrupt(
              `log entry ${tail.from} is damaged (${tail.why}) but entry ${i} after it is intact, so this is not a torn write at the end ` +
                `of the log; refusing to start. Restore the member from a backup, or remove it from the cluster, delete its data dir and add it again`,
              tail.from,
            );
          }
          held.push(entry);
        }
      }
    } finally {
      await it.close();
    }
    for (; expected <= bounds.last; expected++) damaged(expected, 'it is missing');

    // Repair: drop what the snapshot covers if any of it is damaged, cut a torn tail.
    const ops: BatchOp[] = [];
    let compacted = bounds.compacted;
    let last = bounds.last;
    if (droppedBelowSnapshot) {
      this.logger.warn(
        `data dir ${this.dir}: log entries at or below the snapshot index ${snapIndex} are damaged; dropping entries ` +
          `${compacted + 1}..${snapIndex} (the snapshot covers them)`,
      );
      // Deleting a key that is already missing is harmless in LevelDB.
      for (let i = compacted + 1; i <= snapIndex; i++) ops.push({ type: 'del', key: entryKey(i) });
      compacted = snapIndex;
    }
    if (tail !== undefined) {
      this.logger.warn(
        `data dir ${this.dir}: log entries ${tail.from}..${last} at the end of the log are damaged or missing (entry ${tail.from}: ${tail.why}); ` +
          `cutting them as a torn write: the log now ends at ${tail.from - 1}`,
      );
      for (let i = tail.from; i <= last; i++) ops.push({ type: 'del', key: entryKey(i) });
      last = tail.from - 1;
    }
    for (const key of beyond) ops.push({ type: 'del', key });
    if (hardState.commit > last) {
      if (tail === undefined) throw this.corrupt(`the hard state's commit index ${hardState.commit} is past the last entry ${last}`);
      this.logger.warn(
        `data dir ${this.dir}: the commit index was ${hardState.commit} but the log now ends at ${last}; lowering it to ${last}. ` +
          `Committed entries were lost here: this member fetches them from the leader again (a single-member cluster has lost them)`,
      );
      hardState = { ...hardState, commit: last };
      ops.push({ type: 'put', key: HARD_STATE_KEY, value: encodeHardState(hardState) });
    }
    if (compacted !== bounds.compacted || last !== bounds.last) {
      ops.push({ type: 'put', key: BOUNDS_KEY, value: encodeBounds({ compacted, last }) });
    }
    if (ops.length > 0) await writeBatch(db, ops, true);
    // Entries below the compaction point left by a background delete a crash interrupted.
    await db.clear({ gte: entryKey(0), lte: entryKey(compacted) });

    const shape = new LogShape();
    shape.reset(compacted);
    if (snapshot !== undefined) shape.snapshot = { index: snapshot.metadata.index, term: snapshot.metadata.term };
    // `held` is in index order and contiguous up to any damage.
    const kept = compacted === bounds.compacted && last === bounds.last ? held : held.filter((e) => e.index > compacted && e.index <= last);
    for (const e of kept) shape.append(e);
    this.shape = shape;
    this.hardState = hardState;
    const firstAfterSnapshot = kept.length === 0 ? 0 : Math.max(0, snapIndex + 1 - kept[0].index);
    this.cache = { hardState, snapshot, entries: firstAfterSnapshot === 0 ? kept : kept.slice(firstAfterSnapshot) };
  }
}

/**
 * Checks `batch` against `shape` and returns the log it leaves and the
 * database operations that make it so; throws (changing nothing) when the
 * batch is invalid. The rules are `LogStore.save`'s, as `MemoryLogStore`
 * implements them.
 */
function planSave(shape: LogShape, batch: LogBatch): { shape: LogShape; ops: BatchOp[]; clear?: [Index, Index] } {
  const { entries, snapshot } = batch;
  for (let k = 1; k < entries.length; k++) {
    if (entries[k].index !== entries[k - 1].index + 1) {
      throw new RaftError(
        'RAFT_UNAVAILABLE',
        `batch entries are not contiguous: entry ${entries[k].index} follows entry ${entries[k - 1].index}`,
      );
    }
  }
  const next = shape.clone();
  const ops: BatchOp[] = [];
  let clear: [Index, Index] | undefined;
  if (snapshot !== undefined) {
    const i = snapshot.metadata.index;
    checkNewer(i, shape.snapshotIndex);
    if (next.termAt(i) === snapshot.metadata.term) {
      next.compactTo(i);
    } else {
      // Raft's InstallSnapshot rule: the log does not match, so none of it stays.
      for (let k = Math.max(i, shape.compacted) + 1; k <= shape.last; k++) ops.push({ type: 'del', key: entryKey(k) });
      next.reset(i);
    }
    next.snapshot = { index: i, term: snapshot.metadata.term };
    ops.push({ type: 'put', key: SNAPSHOT_KEY, value: encodeSnapshot(snapshot) });
    if (i > shape.compacted) clear = [shape.compacted, Math.min(i, shape.last)];
  }
  if (entries.length > 0) {
    const first = entries[0].index;
    if (!Number.isSafeInteger(first)) throw new InvariantError(`entry index ${first} is not an integer`);
    if (first <= next.snapshotIndex) {
      throw new RaftError('RAFT_COMPACTED', `batch entries start at ${first}, at or below the snapshot index ${next.snapshotIndex}`);
    }
    if (first > next.last + 1) {
      throw new RaftError('RAFT_UNAVAILABLE', `batch entries start at ${first}, leaving a gap after the last index ${next.last}`);
    }
    const newLast = entries[entries.length - 1].index;
    for (let k = newLast + 1; k <= next.last; k++) ops.push({ type: 'del', key: entryKey(k) });
    next.truncateFrom(first);
    for (const e of entries) {
      const key = entryKey(e.index);
      ops.push({ type: 'put', key, value: encodeEntry(key, e) });
      next.append(e);
    }
  }
  if (batch.hardState !== undefined) ops.push({ type: 'put', key: HARD_STATE_KEY, value: encodeHardState(batch.hardState) });
  if (next.compacted !== shape.compacted || next.last !== shape.last) {
    ops.push({ type: 'put', key: BOUNDS_KEY, value: encodeBounds(next) });
  }
  return clear === undefined ? { shape: next, ops } : { shape: next, ops, clear };
}

function checkNewer(index: Index, current: Index): void {
  if (!(index > current)) {
    throw new RaftError('RAFT_SNAPSHOT_OUT_OF_DATE', `snapshot at ${index} is not newer than the stored one at ${current}`);
  }
}

function persisted(c: LoadCache): PersistedState {
  return c.snapshot === undefined
    ? { hardState: c.hardState, entries: [...c.entries] }
    : { hardState: c.hardState, snapshot: c.snapshot, entries: [...c.entries] };
}

/**
 * Writes `ops` atomically as one LevelDB write batch. Through classic-level's
 * chained batch: its array form validates and copies every operation and was
 * 4× slower here (~90k vs ~390k puts/s in batches of 64).
 */
async function writeBatch(db: Db, ops: readonly BatchOp[], sync: boolean): Promise<void> {
  const batch = db.batch();
  try {
    for (const op of ops) {
      if (op.type === 'put') batch.put(op.key, op.value);
      else batch.del(op.key);
    }
  } catch (e) {
    await batch.close();
    throw e;
  }
  await batch.write({ sync });
}

async function hasAnyKey(db: Db): Promise<boolean> {
  const keys = await db.keys({ limit: 1 }).all();
  return keys.length > 0;
}

/** Total bytes of the files under `dir` (0 if it is gone). */
function dirSize(dir: string): number {
  let total = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const path = join(dir, name);
    try {
      const st = statSync(path);
      total += st.isDirectory() ? dirSize(path) : st.size;
    } catch {
      // Removed meanwhile (LevelDB replaces files as it compacts).
    }
  }
  return total;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function ignore(): void {}
