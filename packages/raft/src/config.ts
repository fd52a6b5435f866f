import { RaftError } from './errors.js';
import { silentLogger, type RaftLogger } from './logger.js';
import { hashString, seededRandom, type RandomSource } from './random.js';
import type { Storage } from './storage.js';
import { NONE, type Index, type NodeId } from './types.js';

/**
 * Configuration of one Raft core ({@link RawNode}).
 *
 * @remarks
 * Time in the core is counted in ticks: the host calls `tick()` every
 * heartbeat interval (the driver does it from a timer), so with the
 * defaults (`heartbeatTick` 1, `electionTick` 10) and a 100 ms tick, leaders
 * heartbeat every 100 ms and followers campaign after 1–2 s of silence.
 */
export interface RaftConfig {
  /** This node's ID; must not be empty. */
  id: NodeId;
  /** The log, hard state and membership to start from. */
  storage: Storage;
  /**
   * Ticks without hearing from a leader before a follower campaigns. The
   * actual timeout is randomized in `[electionTick, 2 × electionTick)`.
   * Must be greater than `heartbeatTick`; 10× is a good ratio.
   * @defaultValue 10
   */
  electionTick?: number;
  /** Ticks between a leader's heartbeats. @defaultValue 1 */
  heartbeatTick?: number;
  /**
   * The last index the application has applied, when restarting. Entries up
   * to it are not handed out again.
   * @defaultValue 0 (apply from the first entry after the snapshot)
   */
  applied?: Index;
  /**
   * Most bytes of entries in one MsgApp (at least one entry is always
   * sent). Smaller means faster recovery of a lagging follower's pipe;
   * larger means fewer messages under load.
   * @defaultValue 1 MiB
   */
  maxSizePerMsgBytes?: number;
  /** Most entries in one MsgApp. @defaultValue 4096 */
  maxEntriesPerMsg?: number;
  /**
   * Most MsgApps in flight to one follower in Replicate state. With a 1 ms
   * round trip and 256 messages of up to 1 MiB, a follower can be fed up to
   * 256 GiB/s — the limit exists to bound memory when a follower is slow.
   * @defaultValue 256
   */
  maxInflightMsgs?: number;
  /** Most bytes in flight to one follower; 0 for no limit. @defaultValue 0 */
  maxInflightBytes?: number;
  /** Most bytes of committed entries handed out in one Ready. @defaultValue 64 MiB */
  maxCommittedSizePerReadyBytes?: number;
  /**
   * A leader steps down when it has not heard from a quorum within an
   * election timeout; followers then also ignore vote requests while they
   * hear from a leader (leader lease).
   * @defaultValue true
   */
  checkQuorum?: boolean;
  /**
   * Run a pre-election before raising the term, so a node that was cut off
   * does not disrupt a healthy leader when it comes back (thesis §9.6).
   * @defaultValue true
   */
  preVote?: boolean;
  /** Followers drop proposals instead of forwarding them to the leader. @defaultValue false */
  disableProposalForwarding?: boolean;
  /** Election jitter. @defaultValue a generator seeded from a hash of `id` */
  random?: RandomSource;
  /** Where log lines go. @defaultValue discard */
  logger?: RaftLogger;
}

/** A {@link RaftConfig} with every default filled in. */
export type ResolvedRaftConfig = Required<RaftConfig>;

const MiB = 1024 * 1024;

function positiveInt(field: string, v: number): void {
  if (!Number.isInteger(v) || v <= 0) {
    throw new RaftError('RAFT_INVALID_CONFIG', `${field} must be a positive integer, got ${v}`);
  }
}

/**
 * Fills in defaults and enforces every documented constraint.
 *
 * @throws RaftError `RAFT_INVALID_CONFIG` naming the field at fault.
 */
export function validateConfig(c: RaftConfig): ResolvedRaftConfig {
  if (typeof c.id !== 'string' || c.id === NONE) {
    throw new RaftError('RAFT_INVALID_CONFIG', 'id must be a non-empty string');
  }
  if (!c.storage) throw new RaftError('RAFT_INVALID_CONFIG', 'storage is required');
  const r: ResolvedRaftConfig = {
    id: c.id,
    storage: c.storage,
    electionTick: c.electionTick ?? 10,
    heartbeatTick: c.heartbeatTick ?? 1,
    applied: c.applied ?? 0,
    maxSizePerMsgBytes: c.maxSizePerMsgBytes ?? MiB,
    maxEntriesPerMsg: c.maxEntriesPerMsg ?? 4096,
    maxInflightMsgs: c.maxInflightMsgs ?? 256,
    maxInflightBytes: c.maxInflightBytes ?? 0,
    maxCommittedSizePerReadyBytes: c.maxCommittedSizePerReadyBytes ?? 64 * MiB,
    checkQuorum: c.checkQuorum ?? true,
    preVote: c.preVote ?? true,
    disableProposalForwarding: c.disableProposalForwarding ?? false,
    random: c.random ?? seededRandom(hashString(c.id)),
    logger: c.logger ?? silentLogger,
  };
  positiveInt('heartbeatTick', r.heartbeatTick);
  positiveInt('electionTick', r.electionTick);
  if (r.electionTick <= r.heartbeatTick) {
    throw new RaftError(
      'RAFT_INVALID_CONFIG',
      `electionTick (${r.electionTick}) must be greater than heartbeatTick (${r.heartbeatTick})`,
    );
  }
  positiveInt('maxSizePerMsgBytes', r.maxSizePerMsgBytes);
  positiveInt('maxEntriesPerMsg', r.maxEntriesPerMsg);
  positiveInt('maxInflightMsgs', r.maxInflightMsgs);
  positiveInt('maxCommittedSizePerReadyBytes', r.maxCommittedSizePerReadyBytes);
  if (!Number.isInteger(r.maxInflightBytes) || r.maxInflightBytes < 0) {
    throw new RaftError('RAFT_INVALID_CONFIG', `maxInflightBytes must be 0 (no limit) or a positive integer, got ${r.maxInflightBytes}`);
  }
  if (r.maxInflightBytes > 0 && r.maxInflightBytes < r.maxSizePerMsgBytes) {
    throw new RaftError(
      'RAFT_INVALID_CONFIG',
      `maxInflightBytes (${r.maxInflightBytes}) must be at least maxSizePerMsgBytes (${r.maxSizePerMsgBytes})`,
    );
  }
  if (!Number.isInteger(r.applied) || r.applied < 0) {
    throw new RaftError('RAFT_INVALID_CONFIG', `applied must be a non-negative integer, got ${r.applied}`);
  }
  return r;
}
