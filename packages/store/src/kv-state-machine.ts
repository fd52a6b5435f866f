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
    const out = packr.pack(this.tree.toSnapshot());
    // msgpackr writes into one buffer shared by every packer in the process
    // and keeps it: after a snapshot that buffer is snapshot-sized (hundreds
    // of MB for a million keys) and every later pack would keep it alive.
    // Hand it a small one; `out` (a view of the big one) is copied by the
    // driver's snapshot envelope and then released.
    packr.useBuffer(Buffer.allocUnsafeSlow(8192));
    return out;
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
