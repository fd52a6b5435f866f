import { describeMessage } from '../describe.js';
import { RaftError } from '../errors.js';
import { seededRandom } from '../random.js';
import { StateType, type Message, type NodeId } from '../types.js';
import { ClusterInvariants, SafetyViolation } from './invariants.js';
import { RawCluster } from './raw-cluster.js';

/** Fault rates and shape of one simulation run. */
export interface SimulationOptions {
  readonly seed: number;
  /** Cluster size. @defaultValue 3 */
  readonly nodes?: number;
  /** Rounds with faults active (one tick per node per round). @defaultValue 300 */
  readonly rounds?: number;
  /** Probability that a message is lost. @defaultValue 0.1 */
  readonly dropRate?: number;
  /** Probability that a message is delivered twice. @defaultValue 0.05 */
  readonly duplicateRate?: number;
  /** Most rounds a message may be delayed (delivery order is shuffled too). @defaultValue 3 */
  readonly maxDelayRounds?: number;
  /** Probability per round that the network is split anew. @defaultValue 0.03 */
  readonly partitionRate?: number;
  /** Probability per round that the current leader is cut off from everyone. @defaultValue 0.02 */
  readonly isolateLeaderRate?: number;
  /** Probability per round that partitions heal. @defaultValue 0.05 */
  readonly healRate?: number;
  /** Probability per round of a client proposal. @defaultValue 0.5 */
  readonly proposeRate?: number;
  /** Probability per round of a linearizable read. @defaultValue 0.2 */
  readonly readRate?: number;
  /** Rounds allowed, after healing, for the cluster to commit a new entry everywhere. @defaultValue 200 */
  readonly livenessRounds?: number;
  /** Keep this many transcript lines for a failure report. @defaultValue 150 */
  readonly transcriptLines?: number;
}

/** What a passing run did. */
export interface SimulationResult {
  readonly seed: number;
  readonly nodes: number;
  readonly messagesDelivered: number;
  readonly messagesDropped: number;
  readonly proposals: number;
  readonly proposalsRejected: number;
  readonly committed: number;
  readonly readsChecked: number;
  readonly leaderTerms: number;
  readonly partitions: number;
  /** Rounds it took, after healing, to commit a new entry on every node. */
  readonly recoveryRounds: number;
}

/** A simulation run that broke a safety or liveness property. */
export class SimulationFailure extends Error {
  override readonly name = 'SimulationFailure';
  constructor(
    readonly seed: number,
    readonly nodes: number,
    cause: unknown,
    readonly transcript: readonly string[],
  ) {
    super(
      `simulation seed=${seed} nodes=${nodes} failed: ${cause instanceof Error ? cause.message : String(cause)}\n` +
        `replay: KV_SIM_SEED=${seed} KV_SIM_NODES=${nodes} node scripts/run-tests.mjs simulation\n` +
        `last ${transcript.length} events:\n${transcript.join('\n')}`,
      { cause },
    );
  }
}

/** Whether `e` is a proposal or read the core refused (as opposed to a bug). */
function isRefusal(e: unknown): e is RaftError {
  return (
    e instanceof RaftError &&
    (e.code === 'RAFT_NO_LEADER' ||
      e.code === 'RAFT_NOT_LEADER' ||
      e.code === 'RAFT_TRANSFER_IN_PROGRESS' ||
      e.code === 'RAFT_CONF_CHANGE_PENDING' ||
      e.code === 'RAFT_CONF_CHANGE_INVALID')
  );
}

interface InFlight {
  readonly m: Message;
  readonly at: number;
}

/**
 * Runs a cluster of RawNodes over a faulty in-memory network, driven by one
 * seed, checking every safety property after every step (see
 * {@link ClusterInvariants}), then heals everything and requires the
 * cluster to commit a new entry on every node.
 *
 * @throws SimulationFailure with the seed, a replay command and the last
 * events, when a property breaks.
 */
export function runSimulation(options: SimulationOptions): SimulationResult {
  const o = {
    nodes: 3,
    rounds: 300,
    dropRate: 0.1,
    duplicateRate: 0.05,
    maxDelayRounds: 3,
    partitionRate: 0.03,
    isolateLeaderRate: 0.02,
    healRate: 0.05,
    proposeRate: 0.5,
    readRate: 0.2,
    livenessRounds: 200,
    transcriptLines: 150,
    ...options,
  };
  const rng = seededRandom(o.seed);
  const ids: NodeId[] = Array.from({ length: o.nodes }, (_, i) => String(i + 1));
  const invariants = new ClusterInvariants();
  // Vary flow control per seed, so small batches, a one-message window and
  // byte limits are exercised as often as the defaults.
  const pick = <T,>(xs: readonly T[]): T => xs[rng.intn(xs.length)];
  const config = {
    maxEntriesPerMsg: pick([1, 3, 4096]),
    maxInflightMsgs: pick([1, 4, 256]),
    maxSizePerMsgBytes: pick([64, 1024 * 1024]),
    checkQuorum: pick([true, true, false]),
    preVote: pick([true, true, false]),
  };
  const cluster = new RawCluster({ ids, seed: o.seed, observer: invariants, config });
  const transcript: string[] = [];
  const note = (line: string): void => {
    transcript.push(line);
    if (transcript.length > o.transcriptLines) transcript.shift();
  };
  note(`config ${JSON.stringify(config)}`);

  // group[id] = partition number; nodes talk only within a group.
  const group = new Map<NodeId, number>(ids.map((id) => [id, 0]));
  let inflight: InFlight[] = [];
  let round = 0;
  let faulty = true;
  const stats = { delivered: 0, dropped: 0, proposals: 0, rejected: 0, partitions: 0, reads: 0 };

  const send = (msgs: readonly Message[]): void => {
    for (const m of msgs) {
      if (faulty && rng.next() < o.dropRate) {
        stats.dropped++;
        continue;
      }
      const copies = faulty && rng.next() < o.duplicateRate ? 2 : 1;
      for (let c = 0; c < copies; c++) {
        const delay = faulty ? rng.intn(o.maxDelayRounds + 1) : 0;
        inflight.push({ m, at: round + delay });
      }
    }
  };
  const ready = (id: NodeId): void => send(cluster.processReady(id));

  const deliverDue = (): void => {
    const due: InFlight[] = [];
    const later: InFlight[] = [];
    for (const f of inflight) (f.at <= round ? due : later).push(f);
    inflight = later;
    // Shuffle: messages overtake each other.
    for (let i = due.length - 1; i > 0; i--) {
      const j = rng.intn(i + 1);
      [due[i], due[j]] = [due[j], due[i]];
    }
    for (const { m } of due) {
      if (group.get(m.from) !== group.get(m.to)) {
        stats.dropped++;
        continue;
      }
      note(describeMessage(m));
      try {
        cluster.get(m.to).node.step(m);
      } catch (e) {
        if (!(e instanceof RaftError)) throw e;
        note(`  ${m.to} refused: ${e.message}`);
      }
      stats.delivered++;
      ready(m.to);
    }
  };

  const nemesis = (): void => {
    if (rng.next() < o.partitionRate) {
      // A random split into two sides (either may be a minority).
      for (const id of ids) group.set(id, rng.intn(2));
      stats.partitions++;
      note(`partition ${[0, 1].map((g) => `(${ids.filter((id) => group.get(id) === g).join(',')})`).join(' ')}`);
    } else if (rng.next() < o.isolateLeaderRate) {
      // Cut the leader off right after it may have replicated to a minority:
      // the situations of the paper's figure 8.
      const l = cluster.leader();
      if (!l) return;
      for (const id of ids) group.set(id, id === l.id ? 1 : 0);
      stats.partitions++;
      note(`isolate ${l.id}`);
    } else if (rng.next() < o.healRate) {
      for (const id of ids) group.set(id, 0);
      note('heal');
    }
  };

  let clientSeq = 0;
  const client = (): void => {
    if (rng.next() < o.proposeRate) {
      const id = ids[rng.intn(ids.length)];
      const data = new TextEncoder().encode(`p${++clientSeq}`);
      stats.proposals++;
      try {
        cluster.get(id).node.propose(data);
        note(`propose ${id} p${clientSeq}`);
      } catch (e) {
        if (!isRefusal(e)) throw e;
        stats.rejected++;
        note(`propose ${id} p${clientSeq} -> ${e.code}`);
      }
      ready(id);
    }
    if (rng.next() < o.readRate) {
      const id = ids[rng.intn(ids.length)];
      const ctx = `r${++clientSeq}`;
      try {
        cluster.get(id).node.readIndex(new TextEncoder().encode(ctx));
        invariants.readRequested(ctx);
        stats.reads++;
        note(`read-index ${id} ${ctx}`);
      } catch (e) {
        if (!isRefusal(e)) throw e;
        note(`read-index ${id} ${ctx} -> ${e.code}`);
      }
      ready(id);
    }
  };

  const oneRound = (): void => {
    round++;
    if (faulty) nemesis();
    client();
    for (const id of ids) {
      // Now and then a node misses a tick: clocks drift apart.
      if (faulty && rng.next() < 0.05) continue;
      cluster.get(id).node.tick();
      ready(id);
    }
    deliverDue();
  };

  try {
    for (let i = 0; i < o.rounds; i++) oneRound();

    // Heal and require progress: a new entry must commit on every node.
    faulty = false;
    for (const id of ids) group.set(id, 0);
    note('heal (final)');
    const marker = new TextEncoder().encode(`final-${o.seed}`);
    let proposedAt = -1;
    let recoveryRounds = -1;
    for (let i = 0; i < o.livenessRounds; i++) {
      oneRound();
      const leader = cluster.leader();
      if (proposedAt < 0 && leader && leader.node.raft.state === StateType.Leader) {
        try {
          leader.node.propose(marker);
          proposedAt = leader.node.raft.log.lastIndex();
          note(`propose ${leader.id} final`);
          ready(leader.id);
        } catch (e) {
          if (!(e instanceof RaftError)) throw e;
        }
      }
      if (proposedAt > 0) {
        const everywhere = [...cluster.nodes.values()].every((n) => n.appliedIndex >= proposedAt);
        if (everywhere) {
          recoveryRounds = i + 1;
          break;
        }
        // The leader that took the proposal may have lost leadership before
        // it committed: propose again through the new one.
        const l = cluster.leader();
        if (l && l.node.raft.log.termOrZero(proposedAt) !== l.node.raft.term && l.node.raft.log.committed < proposedAt) {
          proposedAt = -1;
        }
      }
    }
    if (recoveryRounds < 0) {
      const states = [...cluster.nodes.values()]
        .map((n) => `${n.id}: state=${n.node.raft.state} term=${n.node.raft.term} lead=${n.node.raft.lead} applied=${n.appliedIndex} last=${n.node.raft.log.lastIndex()}`)
        .join('; ');
      throw new Error(`no progress within ${o.livenessRounds} rounds after healing (${states})`);
    }
    return {
      seed: o.seed,
      nodes: o.nodes,
      messagesDelivered: stats.delivered,
      messagesDropped: stats.dropped,
      proposals: stats.proposals,
      proposalsRejected: stats.rejected,
      committed: invariants.highestApplied,
      readsChecked: invariants.checkedReads,
      leaderTerms: invariants.leaderTerms,
      partitions: stats.partitions,
      recoveryRounds,
    };
  } catch (e) {
    if (e instanceof SafetyViolation || e instanceof Error) throw new SimulationFailure(o.seed, o.nodes, e, transcript);
    throw e;
  }
}

