import { RaftError, assert } from '../errors.js';
import { EMPTY_HARD_STATE, type Entry, type HardState, type Index, type Snapshot } from '../types.js';
import type { LogBatch, LogStore, PersistedState } from './log-store.js';

/** Options of {@link MemoryLogStore}. */
export interface MemoryLogStoreOptions {
  /**
   * Called once per `save()`, on the turn the batch is written: after it has
   * been validated and before any of it is stored. For tests that count or
   * inspect durable writes (one write per Ready is group commit working).
   *
   * @remarks
   * `batch` is the caller's batch object; do not mutate it. If the hook
   * throws, that `save()` rejects with the thrown error (an `Error` wrapping
   * it when it is not one) and none of the batch is stored, so a test can
   * also simulate a failing disk. The store stays usable afterwards.
   *
   * @defaultValue none
   */
  readonly onWrite?: (batch: LogBatch, opts: { readonly sync: boolean }) => void;
}

/** What a {@link MemoryLogStore} holds right now, for tests. See {@link MemoryLogStore.inspect}. */
export interface MemoryLogStoreContents {
  /** Entries held, including any at or below the snapshot index not yet compacted away. */
  readonly entryCount: number;
  /** Index of the first entry held; `lastIndex + 1` when none is held. */
  readonly firstIndex: Index;
  /** Index of the last entry held; the compaction point when none is held. */
  readonly lastIndex: Index;
  /** Index of the newest snapshot; 0 when there is none. */
  readonly snapshotIndex: Index;
  /** The hard state last saved. */
  readonly hardState: HardState;
}

/** Lifecycle of a {@link MemoryLogStore} handle: `open → closing → closed`. */
export type MemoryLogStoreStatus = 'open' | 'closing' | 'closed';

/** The data behind a store; the handles {@link MemoryLogStore.reopen} makes share it. */
interface MemoryLogData {
  hardState: HardState;
  snapshot: Snapshot | undefined;
  /**
   * Entries held, in index order.
   * Invariant: contiguous, and `entries[0].index === compacted + 1` when non-empty.
   */
  entries: Entry[];
  /**
   * Index of the last entry dropped, by `compact()` or by a batch carrying a snapshot; 0 when none.
   * Invariant: `compacted <= snapshotIndex <= lastIndex` (see {@link lastIndexOf}).
   */
  compacted: Index;
  /** The one handle allowed to use this data; {@link MemoryLogStore.reopen} passes it on. */
  owner: MemoryLogStore;
}

/**
 * A {@link LogStore} that keeps the hard state, the newest snapshot and the
 * log in memory. For tests, and for nodes that need no durability.
 *
 * @remarks
 * **Asynchrony.** Every method returns a promise that settles on a later
 * turn of the event loop (a `setImmediate`), never synchronously and never
 * by throwing, like a store doing real I/O. Operations run one at a time in
 * call order: a `save` called while another is pending is validated against
 * the log as the earlier one leaves it. A `load` sees every operation called
 * before it and none called after it.
 *
 * **Durability and crashes.** "Durable" means "held by this object", and
 * `sync` is accepted but changes nothing. The store outlives the node that
 * used it: to simulate a crash, drop the node without closing the store and
 * start a new node on the same instance; its `load()` returns what was saved.
 * If the old node closed the store, {@link MemoryLogStore.reopen} gives a new
 * handle on the same data, as reopening a data directory would. Writes
 * already called when the node "crashed" are still applied, which is one of
 * the outcomes a real crash allows.
 *
 * **Validation.** Every write is checked against the stored log before any
 * of it is applied, so a rejected write changes nothing (the store stays
 * usable). `RaftErrorCode` has no code for a malformed batch, so the store
 * reuses the read side's codes with the same meaning as `Storage`:
 * `RAFT_UNAVAILABLE` for entries past the end of the log (not contiguous, or
 * leaving a gap after the last index, or a snapshot past it) and
 * `RAFT_COMPACTED` for entries at or below the newest snapshot's index (the
 * compaction point) and for `compact()` past that snapshot. A snapshot not
 * newer than the stored one is `RAFT_SNAPSHOT_OUT_OF_DATE`.
 *
 * **Closing.** Once `close()` has been called, `load`, `save`,
 * `saveSnapshot` and `compact` reject with a plain `Error` (no code:
 * `RaftErrorCode` has none for this) whose message reads
 * `MemoryLogStore is closed: save() was called after close()` (`closing`
 * while operations called earlier are still settling; those complete
 * normally). `close()` itself is idempotent, and `inspect()` still answers.
 *
 * **Ownership.** Entries and snapshots are kept by reference, not copied
 * (the core never mutates what it hands out); `load()` returns fresh arrays
 * of those same objects.
 *
 * @example
 * ```ts
 * let writes = 0;
 * const store = new MemoryLogStore({ onWrite: () => void writes++ });
 * await store.save({ hardState: { term: 1, vote: '1', commit: 0 }, entries }, { sync: true });
 * // ... "crash" the node, then start another on the same store:
 * const { hardState, snapshot, entries: log } = await store.load();
 * ```
 */
export class MemoryLogStore implements LogStore {
  private data: MemoryLogData;
  private readonly options: MemoryLogStoreOptions;
  /** Settles when the last operation queued so far has; never rejects. */
  private tail: Promise<unknown> = Promise.resolve();
  private closing: Promise<void> | undefined;
  private state: MemoryLogStoreStatus = 'open';

  /** Creates an empty, open store. */
  constructor(options: MemoryLogStoreOptions = {}) {
    this.options = options;
    this.data = { hardState: EMPTY_HARD_STATE, snapshot: undefined, entries: [], compacted: 0, owner: this };
  }

  /** `open`, then `closing` once `close()` is called, then `closed` once it resolves. */
  get status(): MemoryLogStoreStatus {
    return this.state;
  }

  /**
   * Reads back the hard state, the newest snapshot and the entries after it.
   *
   * @throws `Error` when the store is closing or closed.
   */
  load(): Promise<PersistedState> {
    return this.enqueue('load', () => {
      const d = this.data;
      const from = Math.max(0, snapshotIndexOf(d) - d.compacted);
      const entries = d.entries.slice(from);
      return d.snapshot === undefined
        ? { hardState: d.hardState, entries }
        : { hardState: d.hardState, snapshot: d.snapshot, entries };
    });
  }

  /**
   * Applies a batch atomically: first its snapshot, then its entries, then
   * its hard state.
   *
   * @remarks
   * A snapshot drops every entry up to its index; entries after it stay only
   * when the stored entry at its index has its term (Raft's InstallSnapshot
   * rule), otherwise the whole log goes. Entries then replace the stored log
   * from their first index on.
   *
   * @throws `RaftError` `RAFT_UNAVAILABLE` when the entries are not
   * contiguous or start after `lastIndex + 1` (a gap).
   * @throws `RaftError` `RAFT_COMPACTED` when the entries start at or below
   * the newest snapshot's index.
   * @throws `RaftError` `RAFT_SNAPSHOT_OUT_OF_DATE` when the snapshot is not
   * newer than the stored one.
   * @throws `Error` when the store is closing or closed, or whatever
   * `options.onWrite` throws.
   */
  save(batch: LogBatch, opts: { sync: boolean }): Promise<void> {
    let input: { batch: LogBatch; sync: boolean } | Error;
    try {
      // Copy the array now: once save() has returned, the caller may reuse it.
      input = { batch: { ...batch, entries: [...batch.entries] }, sync: opts.sync };
    } catch (cause) {
      input = new TypeError('save() expects a LogBatch and { sync }', { cause });
    }
    return this.enqueue('save', () => {
      if (input instanceof Error) throw input;
      this.write(input.batch, input.sync);
    });
  }

  /**
   * Stores a snapshot the node took of its own state; entries stay until
   * `compact()`.
   *
   * @throws `RaftError` `RAFT_SNAPSHOT_OUT_OF_DATE` when it is not newer than
   * the stored snapshot.
   * @throws `RaftError` `RAFT_UNAVAILABLE` when its index is past the last
   * stored entry (a node only snapshots entries it has).
   * @throws `Error` when the store is closing or closed.
   */
  saveSnapshot(snapshot: Snapshot): Promise<void> {
    return this.enqueue('saveSnapshot', () => {
      const d = this.data;
      const i = snapshot.metadata.index;
      checkNewer(i, snapshotIndexOf(d));
      if (i > lastIndexOf(d)) {
        throw new RaftError('RAFT_UNAVAILABLE', `snapshot at ${i} is past the last index ${lastIndexOf(d)}`);
      }
      d.snapshot = snapshot;
    });
  }

  /**
   * Drops the entries up to and including `index`. An index at or below an
   * earlier compaction point does nothing (so a restarted node may repeat it).
   *
   * @throws `RaftError` `RAFT_COMPACTED` when `index` is past the newest
   * snapshot's index (those entries are not covered yet).
   * @throws `InvariantError` when `index` is not a non-negative integer.
   * @throws `Error` when the store is closing or closed.
   */
  compact(index: Index): Promise<void> {
    return this.enqueue('compact', () => {
      const d = this.data;
      assert(Number.isSafeInteger(index) && index >= 0, () => `compact index ${index} is not a non-negative integer`);
      const snap = snapshotIndexOf(d);
      if (index > snap) {
        throw new RaftError('RAFT_COMPACTED', `cannot compact to ${index}: the newest snapshot is at ${snap}`);
      }
      if (index <= d.compacted) return;
      d.entries = d.entries.slice(index - d.compacted);
      d.compacted = index;
    });
  }

  /**
   * Closes this handle once the operations already called have settled;
   * later calls reject. Idempotent: every call returns the same promise. The
   * data stays, for {@link MemoryLogStore.reopen}.
   */
  close(): Promise<void> {
    if (this.closing === undefined) {
      this.state = 'closing';
      this.closing = this.tail.then(nextTurn).then(() => {
        this.state = 'closed';
      });
    }
    return this.closing;
  }

  /**
   * Closes this handle (as {@link MemoryLogStore.close}) and returns a new,
   * open handle on the same data, with the same options: what reopening a
   * data directory after a restart does.
   *
   * @remarks
   * Only the newest handle on the data may reopen it, so two handles are
   * never open on the same data (a stand-in for a data-directory lock).
   *
   * @throws `Error` when the data was already reopened through another handle.
   */
  async reopen(): Promise<MemoryLogStore> {
    await this.close();
    if (this.data.owner !== this) {
      throw new Error('MemoryLogStore: this data was already reopened through another handle');
    }
    const next = new MemoryLogStore(this.options);
    next.data = this.data;
    this.data.owner = next;
    return next;
  }

  /**
   * What the store holds now, counting only operations that have completed.
   * Synchronous and allowed in any state, for test assertions.
   */
  inspect(): MemoryLogStoreContents {
    const d = this.data;
    const lastIndex = lastIndexOf(d);
    return {
      entryCount: d.entries.length,
      firstIndex: d.compacted + 1,
      lastIndex,
      snapshotIndex: snapshotIndexOf(d),
      hardState: d.hardState,
    };
  }

  /**
   * Runs `work` on a later turn, after every operation called before it has
   * settled. A call on a closing or closed handle rejects, also on a later turn.
   */
  private enqueue<T>(method: string, work: () => T): Promise<T> {
    if (this.state !== 'open') {
      const err = new Error(`MemoryLogStore is ${this.state}: ${method}() was called after close()`);
      return nextTurn().then(() => {
        throw err;
      });
    }
    const run = this.tail.then(nextTurn).then(work);
    this.tail = run.catch(ignore);
    return run;
  }

  /** Validates a whole batch against the stored log, then applies it. Runs inside the queue. */
  private write(batch: LogBatch, sync: boolean): void {
    const d = this.data;
    const { entries, snapshot } = batch;
    for (let k = 1; k < entries.length; k++) {
      if (entries[k].index !== entries[k - 1].index + 1) {
        throw new RaftError(
          'RAFT_UNAVAILABLE',
          `batch entries are not contiguous: entry ${entries[k].index} follows entry ${entries[k - 1].index}`,
        );
      }
    }

    // The log as the snapshot (if any) leaves it, computed without changing `d`.
    let base = d.entries;
    let compacted = d.compacted;
    let snapIndex = snapshotIndexOf(d);
    if (snapshot !== undefined) {
      const i = snapshot.metadata.index;
      checkNewer(i, snapIndex);
      const at = i - d.compacted - 1;
      const matches = at < d.entries.length && d.entries[at].term === snapshot.metadata.term;
      base = matches ? d.entries.slice(at + 1) : [];
      compacted = i;
      snapIndex = i;
    }

    if (entries.length > 0) {
      const first = entries[0].index;
      assert(Number.isSafeInteger(first), () => `entry index ${first} is not an integer`);
      const last = base.length > 0 ? base[base.length - 1].index : compacted;
      if (first <= snapIndex) {
        throw new RaftError(
          'RAFT_COMPACTED',
          `batch entries start at ${first}, at or below the snapshot index ${snapIndex}`,
        );
      }
      if (first > last + 1) {
        throw new RaftError(
          'RAFT_UNAVAILABLE',
          `batch entries start at ${first}, leaving a gap after the last index ${last}`,
        );
      }
    }

    if (this.options.onWrite !== undefined) {
      try {
        this.options.onWrite(batch, { sync });
      } catch (e) {
        throw e instanceof Error ? e : new Error(`onWrite threw ${String(e)}`, { cause: e });
      }
    }

    // Everything checked: apply. Nothing below can throw.
    if (snapshot !== undefined) {
      d.snapshot = snapshot;
      d.compacted = compacted;
      d.entries = base;
    }
    if (entries.length > 0) {
      d.entries.length = entries[0].index - d.compacted - 1;
      for (const e of entries) d.entries.push(e);
    }
    if (batch.hardState !== undefined) d.hardState = batch.hardState;
  }
}

function snapshotIndexOf(d: MemoryLogData): Index {
  return d.snapshot?.metadata.index ?? 0;
}

/** The last index of the log: the last entry held, or the compaction point when none is. */
function lastIndexOf(d: MemoryLogData): Index {
  return d.entries.length > 0 ? d.entries[d.entries.length - 1].index : d.compacted;
}

function checkNewer(index: Index, current: Index): void {
  if (!(index > current)) {
    throw new RaftError(
      'RAFT_SNAPSHOT_OUT_OF_DATE',
      `snapshot at ${index} is not newer than the stored one at ${current}`,
    );
  }
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function ignore(): void {}
