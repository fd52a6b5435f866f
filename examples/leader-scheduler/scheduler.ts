// A leader-only job scheduler: the kind of distributed logic a host app
// builds on @kv/raft. Every member runs the scheduler; only the leader
// fires the job, and each firing is recorded through the Raft log, so the
// history of runs is replicated and a run that could not reach a quorum
// (a leader cut off from the others) never counts.
//
// scheduler.test.ts unit-tests it on the in-memory network with a manual
// clock: a partition, a leader change, no sockets, no waiting.
import type { Clock, RaftNode, StateMachine, TimerHandle } from '@kv/raft';

/** One recorded run of the job. */
export interface JobRun {
  readonly by: string;
  readonly seq: number;
  readonly index: number;
}

/** The replicated history of runs: the state machine every member applies. */
export class JobHistory implements StateMachine<JobRun> {
  runs: JobRun[] = [];
  apply(entry: { index: number; data: Uint8Array }): JobRun {
    const { by, seq } = JSON.parse(new TextDecoder().decode(entry.data)) as { by: string; seq: number };
    const run = { by, seq, index: entry.index };
    this.runs.push(run);
    return run;
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify(this.runs));
  }
  restore(data: Uint8Array): void {
    this.runs = JSON.parse(new TextDecoder().decode(data)) as JobRun[];
  }
}

/** Options of {@link LeaderOnlyScheduler}. */
export interface SchedulerOptions {
  /** How often the leader fires the job, in ms. */
  readonly intervalMs: number;
  /** The clock to schedule on (the node's network clock in tests). */
  readonly clock: Clock;
}

/**
 * Fires a job every `intervalMs` on whichever member leads, and records each
 * run through the log. A member that loses leadership stops at once; a
 * run it started but could not commit is reported as failed, not lost.
 */
export class LeaderOnlyScheduler {
  private timer: TimerHandle | undefined;
  private seq = 0;
  /** Runs this member fired, and how each ended. */
  readonly attempts: { seq: number; outcome: 'committed' | 'failed' | 'pending' }[] = [];

  constructor(
    private readonly node: RaftNode<JobRun>,
    private readonly options: SchedulerOptions,
  ) {
    node.on('leader', () => this.update());
    this.update();
  }

  private update(): void {
    const leading = this.node.status().isLeader;
    if (leading && this.timer === undefined) {
      this.timer = this.options.clock.setInterval(() => this.fire(), this.options.intervalMs);
    } else if (!leading && this.timer !== undefined) {
      this.options.clock.clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private fire(): void {
    // Leadership can be lost between two ticks of the interval; check again.
    if (!this.node.status().isLeader) return this.update();
    const attempt = { seq: ++this.seq, outcome: 'pending' as 'committed' | 'failed' | 'pending' };
    this.attempts.push(attempt);
    const data = new TextEncoder().encode(JSON.stringify({ by: this.node.id, seq: attempt.seq }));
    this.node.propose(data).then(
      () => (attempt.outcome = 'committed'),
      () => (attempt.outcome = 'failed'),
    );
  }

  stop(): void {
    if (this.timer !== undefined) this.options.clock.clearInterval(this.timer);
    this.timer = undefined;
  }
}
