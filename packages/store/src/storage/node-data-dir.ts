import type { RaftLogger, RaftNode } from '@kv/raft';

import { StorageError } from './errors.js';
import { LevelLogStore, type MemberMeta } from './level-log-store.js';

/** What a node built by `createNode` is told about itself, to check against the data directory. */
export interface NodeIdentity {
  readonly name: string;
  readonly state: 'new' | 'existing';
  /** The cluster ID that `initialCluster` and `initialClusterToken` give. */
  readonly clusterId: string;
  /** The `memberId` option, if given. */
  readonly memberId?: string;
}

/**
 * A member's data directory as `createNode({ dataDir })` uses it: the
 * {@link LevelLogStore} and the member metadata it records.
 *
 * @remarks
 * The metadata (member ID, cluster ID, name) is written before the node's
 * first log entry, so a directory with a log always says whose it is. A
 * restarted member takes its ID from it (a member that joined with
 * `initialClusterState: 'existing'` cannot derive its own). A directory of
 * another cluster, or of a member removed from its cluster, refuses to start.
 *
 * @internal Used by `createNode`.
 */
export class NodeDataDir {
  private meta: MemberMeta | undefined;
  private closed = false;

  private constructor(
    readonly store: LevelLogStore,
    meta: MemberMeta | undefined,
    private readonly logger: RaftLogger,
  ) {
    this.meta = meta;
  }

  /**
   * Opens (creating if needed) the data directory.
   *
   * @throws StorageError `STORE_DATA_DIR_LOCKED`, `STORE_CORRUPT`, `STORE_IO`.
   */
  static async open(options: { dir: string; logger: RaftLogger }): Promise<NodeDataDir> {
    const store = await LevelLogStore.open({ dir: options.dir, logger: options.logger });
    try {
      return new NodeDataDir(store, await store.readMeta(), options.logger);
    } catch (e) {
      await store.close();
      throw e;
    }
  }

  /** The data directory, as given. */
  get dir(): string {
    return this.store.dir;
  }

  /**
   * Checks the recorded metadata against what the node is told and returns
   * it (undefined for a directory without any).
   *
   * @throws StorageError `STORE_MEMBER_REMOVED` for a removed member's directory.
   * @throws StorageError `STORE_CLUSTER_ID_MISMATCH` when the node bootstraps
   * (`'new'`) a cluster whose ID differs from the recorded one, or is given a
   * `memberId` other than the recorded one.
   */
  check(who: NodeIdentity): MemberMeta | undefined {
    const m = this.meta;
    if (m === undefined) return undefined;
    if (m.removed === true) {
      throw new StorageError(
        'STORE_MEMBER_REMOVED',
        `data dir ${this.dir} belongs to member ${m.memberId} (${m.name}) of cluster ${m.clusterId || '(unknown)'}, ` +
          `and this member has been permanently removed from the cluster; delete the data dir and add the member again to rejoin`,
        { dir: this.dir },
      );
    }
    if (who.memberId !== undefined && who.memberId !== m.memberId) {
      throw new StorageError(
        'STORE_CLUSTER_ID_MISMATCH',
        `data dir ${this.dir} belongs to member ${m.memberId}, but memberId ${who.memberId} was given; ` +
          `leave memberId out (the data dir records it) or use another data dir`,
        { dir: this.dir },
      );
    }
    if (who.state === 'new' && m.clusterId !== '' && m.clusterId !== who.clusterId) {
      throw new StorageError(
        'STORE_CLUSTER_ID_MISMATCH',
        `data dir ${this.dir} has a different cluster ID (${m.clusterId}) than the cluster that initialCluster and ` +
          `initialClusterToken describe (${who.clusterId}): it holds member ${m.memberId} of another cluster. ` +
          `Use that cluster's settings, start with initialClusterState 'existing' to restart it as recorded, or use another data dir`,
        { dir: this.dir },
      );
    }
    if (m.name !== who.name) {
      this.logger.warn(`data dir ${this.dir} was member ${m.memberId} named ${m.name}; it starts now as ${who.name}`);
    }
    return m;
  }

  /**
   * Records this member's identity if the directory has none yet. Call it
   * before the node writes its first log entry.
   */
  async record(meta: MemberMeta): Promise<void> {
    if (this.meta !== undefined) return;
    await this.store.writeMeta(meta);
    this.meta = meta;
  }

  /**
   * Follows the running node: records the cluster ID once a joining member
   * learns it from the membership, and marks the directory removed when the
   * member is removed (before the node closes the store).
   */
  attach(node: { once(event: 'removed', fn: () => void): unknown }, raft: RaftNode<unknown>): void {
    const learn = (): void => {
      const m = this.meta;
      if (m === undefined || m.clusterId !== '' || this.closed) return;
      const clusterId = clusterIdOf(raft);
      if (clusterId === undefined) return;
      raft.off('applied', learn);
      this.update({ ...m, clusterId }, 'the cluster ID');
    };
    if (this.meta !== undefined && this.meta.clusterId === '') {
      raft.on('applied', learn);
      learn();
    }
    // Registered after KvNode's own listener, which starts close(); both run
    // within one emit, so this write is queued before the store's close.
    node.once('removed', () => {
      const m = this.meta;
      if (m !== undefined) this.update({ ...m, removed: true }, 'the removal');
    });
  }

  private update(meta: MemberMeta, what: string): void {
    this.meta = meta;
    this.store.writeMeta(meta).catch((e: unknown) => {
      this.logger.warn(`data dir ${this.dir}: recording ${what} failed: ${(e as Error).message}`);
    });
  }

  /** Bytes on disk under the directory. */
  size(): number {
    return this.store.sizeOnDisk();
  }

  /** Closes the store (after the writes already called). Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    await this.store.close();
  }
}

/** The cluster ID the membership carries (set by `createNode` in each initial member's metadata). */
function clusterIdOf(raft: RaftNode<unknown>): string | undefined {
  for (const m of raft.memberList()) {
    const c = (m.meta as { clusterId?: unknown } | undefined)?.clusterId;
    if (typeof c === 'string' && c !== '') return c;
  }
  return undefined;
}
