import type { AppliedEntry, StateMachine } from '@kv/raft';
import { KvError, KvErrorCode } from './errors.js';
import type { IndexRegistry } from './indexes/index-registry.js';
import { Packr } from 'msgpackr';
import { decodeCommand, unpackPlain } from './tree/command.js';
import type { KeyTree, TreeSnapshot } from './tree/key-tree.js';
import type { KvEvent } from './tree/types.js';
import type { WatcherHub } from './watch/watcher-hub.js';

/** What applying a command gives the proposer: its event(s), or the refusal. */
export type ApplyResult = KvEvent | KvEvent[] | KvError;

/**
 * The key tree as Raft's state machine: decodes each committed command and
 * applies it; snapshots are the tree (with its history) in msgpack.
 */
export class KvStateMachine implements StateMachine<ApplyResult> {
  constructor(
    private readonly tree: KeyTree,
    private readonly indexes: IndexRegistry,
    private readonly hub: WatcherHub,
  ) {}

  apply(entry: AppliedEntry): ApplyResult {
    return this.tree.apply(decodeCommand(entry.data), entry.index);
  }

  snapshot(): Uint8Array {
    // A packer of its own per snapshot: msgpackr keeps its output buffer for
    // reuse, and a shared packer would hold a snapshot-sized buffer (hundreds
    // of MB for a million keys) for the life of the process.
    const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true, int64AsType: 'number' });
    return packr.pack(this.tree.toSnapshot());
  }

  restore(data: Uint8Array): void {
    const snap = unpackPlain(data) as TreeSnapshot;
    this.indexes.clear();
    this.tree.restore(snap);
    // The tree jumped forward: a watcher may have missed events in between.
    // End every watch with etcd's 400 so consumers resume from their index
    // (the history came with the snapshot).
    this.hub.closeAll(new KvError(KvErrorCode.WatcherCleared, 'the store was restored from a snapshot', this.tree.index));
  }
}
