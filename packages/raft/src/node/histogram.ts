/**
 * A latency histogram with fixed buckets, in seconds, for Prometheus
 * exposition (cumulative `le` buckets, `_sum`, `_count`). The buckets are
 * etcd's for its disk and apply durations: 1 ms doubling to ~8 s.
 */
export class Histogram {
  static readonly BUCKETS: readonly number[] = Array.from({ length: 14 }, (_, i) => 0.001 * 2 ** i);
  readonly counts = new Array<number>(Histogram.BUCKETS.length).fill(0);
  count = 0;
  sum = 0;

  observe(seconds: number): void {
    this.count++;
    this.sum += seconds;
    for (let i = 0; i < Histogram.BUCKETS.length; i++) {
      if (seconds <= Histogram.BUCKETS[i]) {
        this.counts[i]++;
        break;
      }
    }
  }

  /** Prometheus text lines for `name` (cumulative buckets). */
  render(name: string, help: string): string[] {
    const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
    let cum = 0;
    for (let i = 0; i < Histogram.BUCKETS.length; i++) {
      cum += this.counts[i];
      lines.push(`${name}_bucket{le="${Histogram.BUCKETS[i]}"} ${cum}`);
    }
    lines.push(`${name}_bucket{le="+Inf"} ${this.count}`, `${name}_sum ${this.sum}`, `${name}_count ${this.count}`);
    return lines;
  }
}

/** What a RaftNode counts and times, for `/metrics`. */
export interface RaftNodeMetrics {
  /** Durable writes (LogStore.save): how long each took (the fsync). */
  readonly persistDuration: Histogram;
  /** Applying one Ready's committed entries to the state machine. */
  readonly applyDuration: Histogram;
  proposals: number;
  proposalsFailed: number;
  appliedEntries: number;
  leaderChanges: number;
  /** MsgApps this member sent (as leader) and received (as follower). */
  appendsSent: number;
  appendsReceived: number;
}
