/**
 * @kv/raft — the Raft consensus algorithm as a pure, deterministic state
 * machine ({@link RawNode}), with the storage it reads from.
 *
 * @packageDocumentation
 */
export { RawNode, type RaftStatus, type ProgressStatus } from './raw-node.js';
export { sendableBeforePersist } from './persist-order.js';
export { validateConfig, type RaftConfig, type ResolvedRaftConfig } from './config.js';
export { MemoryStorage, type Storage } from './storage.js';
export { RaftError, InvariantError, isRaftError, type RaftErrorCode } from './errors.js';
export { seededRandom, type RandomSource } from './random.js';
export { silentLogger, type RaftLogger } from './logger.js';
export { encodeConfChange, decodeConfChange } from './confchange/codec.js';
export { changeConfig, type ChangeResult } from './confchange/changer.js';
export {
  ConfChangeType,
  type ConfChange,
  EntryType,
  MessageType,
  StateType,
  ProgressState,
  NONE,
  EMPTY_HARD_STATE,
  ENTRY_OVERHEAD_BYTES,
  entrySize,
  type Entry,
  type Message,
  type HardState,
  type SoftState,
  type ConfState,
  type Snapshot,
  type SnapshotMetadata,
  type SnapshotChunk,
  type Ready,
  type ReadState,
  type Term,
  type Index,
  type NodeId,
} from './types.js';
export { describeMessage, describeEntry, describeReady } from './describe.js';
export {
  RaftNode,
  validateNodeOptions,
  type RaftNodeOptions,
  type RaftNodeStatus,
  type RaftNodeEvents,
  type RaftTuning,
  type DriverConfig,
} from './node/raft-node.js';
export type { Transport, TransportHandler, Clock, TimerHandle } from './node/transport.js';
export { realClock } from './node/transport.js';
export type { LogStore, LogBatch, PersistedState } from './node/log-store.js';
export type { StateMachine, AppliedEntry } from './node/state-machine.js';
export type { MemberInfo } from './node/members.js';
export {
  MemoryLogStore,
  type MemoryLogStoreOptions,
  type MemoryLogStoreContents,
  type MemoryLogStoreStatus,
} from './node/memory-log-store.js';
export { Histogram, type RaftNodeMetrics } from './node/histogram.js';
export type { LeaderStats, FollowerStats, FollowerLatency, FollowerCounts } from './node/follower-stats.js';
