/**
 * The world an interaction script runs in: a few {@link RawNode}s, each over
 * its own {@link MemoryStorage}, with a message inbox per node, partitions,
 * and one output buffer that commands and the nodes' loggers write to.
 *
 * @remarks
 * Nothing here is asynchronous and nothing is random except each node's
 * election jitter, which comes from `seededRandom(hashString(id))`: the same
 * script prints the same transcript on every run.
 */
import type { ScriptCommand } from '../script/parser.js';
import { InvariantError, RaftError } from '../../errors.js';
import type { RaftLogger } from '../../logger.js';
import type { RawNode } from '../../raw-node.js';
import type { MemoryStorage } from '../../storage.js';
import type { ConfState, Entry, Index, Message, NodeId, Term } from '../../types.js';

/** How much of the core's logging reaches the transcript; each level includes the ones after it. */
export enum LogLevel {
  Debug = 0,
  Info = 1,
  Warn = 2,
  Error = 3,
  None = 4,
}

/** One node of the environment. */
export interface InteractionNode {
  readonly id: NodeId;
  readonly rawNode: RawNode;
  /** What the node has persisted: written only by `process-ready`. */
  readonly storage: MemoryStorage;
  /** Messages sent to this node and not yet delivered, oldest first. */
  inbox: Message[];
  /** Entries handed to this node's state machine, in order. */
  readonly applied: Entry[];
  /**
   * The membership the node's state machine recorded, oldest first: the
   * starting one, then one record per applied conf change entry and per
   * installed snapshot. `compact` snapshots the one in force at its index,
   * as a host must (the configuration now may already include later changes).
   */
  readonly confStates: ConfRecord[];
}

/** The membership in force from `index` on, as a node's state machine recorded it. */
export interface ConfRecord {
  readonly index: Index;
  readonly confState: ConfState;
}

/** The membership a node's state machine had in force at `index`. */
export function confStateAt(node: InteractionNode, index: Index): ConfState {
  let cs: ConfState | undefined;
  for (const rec of node.confStates) if (rec.index <= index) cs = rec.confState;
  if (!cs) throw new Error(`node ${node.id} has no membership recorded at or before index ${index}`);
  return cs;
}

/** A membership as `voters=(1 2 3) learners=(4)`. */
export function describeConfState(cs: ConfState): string {
  return `voters=(${cs.voters.join(' ')}) learners=(${cs.learners.join(' ')})`;
}

/** A log to start a node with, recorded by `set-log` and used by `add-nodes`. */
export interface PresetLog {
  readonly terms: readonly Term[];
  readonly term: Term;
  readonly vote: NodeId;
  readonly commit: number;
}

/** The state shared by every command of one script. */
export class InteractionEnv {
  /** Nodes by ID, in the order they were added ('1', '2', …). */
  readonly nodes = new Map<NodeId, InteractionNode>();
  /** Logs for nodes not yet added; consumed by `add-nodes`. */
  readonly presetLogs = new Map<NodeId, PresetLog>();
  logLevel: LogLevel = LogLevel.Info;
  /** Partition side of each node, or undefined when the network is whole. */
  private sides: Map<NodeId, number> | undefined;
  private sink: string[] = [];

  /** Appends lines to the current output. */
  print(...lines: string[]): void {
    for (const l of lines) this.sink.push(...l.split('\n'));
  }

  /**
   * Runs `fn` with a fresh output buffer and returns what it printed
   * (including the nodes' log lines), restoring the outer buffer even if
   * `fn` throws.
   */
  capture(fn: () => void): string[] {
    const outer = this.sink;
    this.sink = [];
    try {
      fn();
      return this.sink;
    } finally {
      this.sink = outer;
    }
  }

  /** A logger for the core that writes into the transcript, filtered by {@link logLevel}. */
  loggerFor(): RaftLogger {
    const at = (level: LogLevel) => (msg: string) => {
      if (level >= this.logLevel) this.print(msg);
    };
    return { debug: at(LogLevel.Debug), info: at(LogLevel.Info), warn: at(LogLevel.Warn), error: at(LogLevel.Error) };
  }

  /** The node with this ID. @throws Error when there is none. */
  node(id: NodeId): InteractionNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}${this.nodes.size === 0 ? ' (add-nodes first)' : ''}`);
    return n;
  }

  /** Every node ID, in numeric order. */
  ids(): NodeId[] {
    return [...this.nodes.keys()].sort(compareIds);
  }

  /** Cuts the network into sides; every node must be on exactly one. */
  partition(sides: readonly (readonly NodeId[])[]): void {
    const m = new Map<NodeId, number>();
    sides.forEach((side, i) => {
      for (const id of side) {
        this.node(id);
        if (m.has(id)) throw new Error(`node ${id} is on two sides of the partition`);
        m.set(id, i);
      }
    });
    const missing = this.ids().filter((id) => !m.has(id));
    if (missing.length > 0) throw new Error(`nodes ${missing.join(',')} are on no side of the partition`);
    this.sides = m;
  }

  /** Ends every partition. */
  heal(): void {
    this.sides = undefined;
  }

  /** Whether a message from `from` can reach `to` through the current partitions. */
  connected(from: NodeId, to: NodeId): boolean {
    if (!this.sides) return true;
    const a = this.sides.get(from);
    const b = this.sides.get(to);
    return a === undefined || b === undefined || a === b;
  }
}

/** Orders node IDs numerically when both are numbers ('2' before '10'). */
export function compareIds(a: NodeId, b: NodeId): number {
  const na = Number(a);
  const nb = Number(b);
  if (Number.isFinite(na) && Number.isFinite(nb) && na !== nb) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * An error as one transcript line: `CODE: message` for the core's errors,
 * with the script's `file:line: command:` prefix removed so transcripts do
 * not depend on where the file lives.
 */
export function describeError(e: unknown, cmd?: ScriptCommand): string {
  let msg = e instanceof Error ? e.message : String(e);
  const prefix = cmd ? `${cmd.file}:${cmd.line}: ${cmd.name}: ` : undefined;
  if (prefix && msg.startsWith(prefix)) msg = msg.slice(prefix.length);
  if (e instanceof RaftError || e instanceof InvariantError) return `${e.code}: ${msg}`;
  return msg;
}
