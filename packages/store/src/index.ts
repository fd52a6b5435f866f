/**
 * @kv/store — a replicated, etcd v2-style key store to embed: `createNode`
 * makes a member (Raft + the key tree + storage + transport).
 *
 * @packageDocumentation
 */
export { createNode, type CreateNodeOptions } from './create-node.js';
export {
  KvNode,
  VERSION,
  type Consistency,
  type ReadOptions,
  type SetOptions,
  type DeleteOptions,
  type KvMember,
  type KvStatus,
  type KvNodeEvents,
} from './kv-node.js';
export { KvError, KvErrorCode, WatchOverflowError, kvErrorMessage, type KvErrorCodeValue } from './errors.js';
export { LevelLogStore, StorageError, isStorageError, type LevelLogStoreOptions, type LevelLogStoreStats, type LevelLogStoreStatus, type LevelLogStoreContents, type MemberMeta, type StorageErrorCode } from './storage/level-log-store.js';
export type { KvEvent, KvNodeData, KvAction } from './tree/types.js';
export type { WatchOptions } from './watch/watcher-hub.js';
export type { IndexDefinition, IndexValue } from './indexes/index-registry.js';
export { memberId, clusterId, parseInitialCluster } from './members/member-id.js';
export { discoverSrv, type SrvDiscoveryOptions } from './members/discovery-srv.js';
export { discoverUrl, type UrlDiscoveryOptions } from './members/discovery-url.js';
export { KeyTree, type KeyTreeOptions, type GetOptions, type TreeSnapshot, type TreeObserver, type SnapshotNode } from './tree/key-tree.js';
export { EventHistory } from './tree/event-history.js';
export { encodeCommand, decodeCommand, type Command } from './tree/command.js';
export { normalizeKey, DEFAULT_LIMITS, type KeyLimits } from './tree/key.js';
export { takeStoreSnapshot, readStoreSnapshot, StoreSnapshotDecoder, StoreSnapshotFormatError, SNAPSHOT_FRAME_BYTES, MAX_SNAPSHOT_FRAME_BYTES, type StoreSnapshotInfo, type StoreSnapshotStream, type DecodedStoreSnapshot, type StoreSnapshotFrame, type StoreSnapshotErrorCode } from './snapshot/store-snapshot.js';
export { restoreDataDir, type RestoreDataDirOptions, type RestoredDataDir } from './snapshot/restore-data-dir.js';
