import type { Entry, HardState, Index, Snapshot } from '../types.js';

/** What a {@link LogStore} holds, as loaded at start-up. */
export interface PersistedState {
  /** The last hard state saved (the empty one for a new store). */
  readonly hardState: HardState;
  /** The newest snapshot saved, if any. */
  readonly snapshot?: Snapshot;
  /** Entries after the snapshot, in index order, contiguous. */
  readonly entries: readonly Entry[];
}

/** One durable write: everything a Ready asks to persist. */
export interface LogBatch {
  readonly hardState?: HardState;
  /**
   * Entries to append. They replace any stored entries at the same or later
   * indexes (a new leader overwrote an uncommitted suffix).
   */
  readonly entries: readonly Entry[];
  /** A snapshot received from the leader: it replaces the whole log. */
  readonly snapshot?: Snapshot;
}

/**
 * Durable storage of the Raft log, hard state and snapshots. Implemented by
 * hosts and by kv (`MemoryLogStore` here, `LevelLogStore` in @kv/store);
 * used by {@link RaftNode}.
 *
 * @remarks
 * The driver calls `save` with at most one write in flight and waits for it
 * before sending the messages that depend on it, so a resolved `save` must
 * mean durable (fsynced when `sync` is true). A `save` is atomic: after a
 * crash either all of the batch is there or none of it. A rejected promise
 * stops the node (it cannot go on without knowing what is on disk).
 *
 * The method contracts, checked by `logStoreContract` in
 * `@kv/raft/testing`:
 * - `load()` on a new store: empty hard state, no snapshot, no entries.
 * - `save()` entries overwrite from their first index on; a batch with a
 *   snapshot drops every entry up to the snapshot's index (and any entries
 *   that do not match it).
 * - `saveSnapshot()` stores a snapshot the node made itself; entries stay.
 * - `compact(i)` drops entries up to and including `i`; `i` must not pass
 *   the newest snapshot's index; compacting at or below an earlier point is
 *   a no-op (a restarted node may repeat it).
 * - Saves apply in call order; `load()` never sees part of a batch.
 * - Bad input rejects and changes nothing: `RAFT_UNAVAILABLE` for entries
 *   that leave a gap or are not contiguous, `RAFT_COMPACTED` for entries at
 *   or below the snapshot or a compaction past it,
 *   `RAFT_SNAPSHOT_OUT_OF_DATE` for a snapshot not newer than the stored one.
 * - After `close()` every method rejects.
 *
 * Entries kept before the snapshot for slow followers are not reloaded by
 * `load()` (it returns entries after the snapshot): after a restart, a
 * follower that far behind gets the snapshot instead.
 */
export interface LogStore {
  /** Reads everything back at start-up. */
  load(): Promise<PersistedState>;
  /** Appends entries and saves the hard state (and snapshot) in one atomic, durable write. */
  save(batch: LogBatch, opts: { sync: boolean }): Promise<void>;
  /** Durably stores a snapshot the node took of its own state. */
  saveSnapshot(snapshot: Snapshot): Promise<void>;
  /** Drops entries up to and including `index` (covered by a saved snapshot). */
  compact(index: Index): Promise<void>;
  /** Releases the store. Idempotent. */
  close(): Promise<void>;
}
