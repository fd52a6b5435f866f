/**
 * Counters kept by the HTTP server, and `/metrics` in Prometheus text.
 *
 * @packageDocumentation
 */
import type { KvNode } from '@kv/store';

/** Counters of one served node (also feed `/v2/stats/*`). */
export class HttpMetrics {
  readonly startTime = new Date();
  leaderChanges = 0;
  proposals = 0;
  proposalsFailed = 0;
  getsSuccess = 0;
  getsFail = 0;
  watchers = 0;
  /** Stream watches ended because their client fell too far behind (see `STREAM_BACKLOG_LIMIT_BYTES`). */
  watchStreamsCut = 0;
  readonly requests = new Map<string, number>();
  private lastLeader: string | undefined;
  private readonly onLeader = (leader: string | undefined): void => {
    if (leader !== undefined && leader !== this.lastLeader) this.leaderChanges++;
    this.lastLeader = leader;
  };

  constructor(private readonly node: KvNode) {
    this.lastLeader = node.status().leader;
    if (this.lastLeader !== undefined) this.leaderChanges = 1;
    node.on('leader', this.onLeader);
  }

  /** Records an answered request. */
  request(method: string, status: number): void {
    const k = `${method}|${status}`;
    this.requests.set(k, (this.requests.get(k) ?? 0) + 1);
  }

  detach(): void {
    this.node.off('leader', this.onLeader);
  }

  /** The Prometheus text exposition. */
  render(): string {
    const s = this.node.status();
    const lines: string[] = [];
    const metric = (name: string, type: 'gauge' | 'counter', help: string, value: number): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
    };
    metric('kv_applied_index', 'gauge', 'The Raft index of the last applied entry.', s.appliedIndex);
    metric('kv_committed_index', 'gauge', 'The Raft commit index.', s.raftIndex);
    metric('kv_store_index', 'gauge', 'The store index (X-Etcd-Index).', s.storeIndex);
    metric('kv_raft_term', 'gauge', 'The current Raft term.', s.raftTerm);
    metric('kv_is_leader', 'gauge', '1 if this member is the leader.', s.isLeader ? 1 : 0);
    metric('kv_has_leader', 'gauge', '1 if a leader is known.', s.leader !== undefined ? 1 : 0);
    metric('kv_leader_changes_total', 'counter', 'Leader changes seen by this member.', this.leaderChanges);
    metric('kv_proposals_total', 'counter', 'Writes proposed through this HTTP server.', this.proposals);
    metric('kv_proposals_failed_total', 'counter', 'Writes through this HTTP server that failed.', this.proposalsFailed);
    metric('kv_keys', 'gauge', 'Keys in the store.', s.keys);
    metric('kv_db_size_bytes', 'gauge', 'Bytes of storage on disk.', s.dbSize);
    metric('kv_watchers', 'gauge', 'Watchers registered in the store.', s.watchers);
    metric('kv_http_watchers', 'gauge', 'Open HTTP long-poll watches.', this.watchers);
    metric('kv_http_watch_streams_cut_total', 'counter', 'Stream watches ended because the client fell more than the backlog limit behind.', this.watchStreamsCut);
    const raft = this.node.raftMetrics();
    metric('kv_raft_proposals_total', 'counter', 'Proposals made on this member (all clients).', raft.proposals);
    metric('kv_raft_proposals_failed_total', 'counter', 'Proposals on this member that failed (refused, timed out, dropped).', raft.proposalsFailed);
    metric('kv_raft_applied_entries_total', 'counter', 'Committed entries applied on this member.', raft.appliedEntries);
    lines.push(...raft.persistDuration.render('kv_disk_fsync_duration_seconds', 'Durable writes of the Raft log (one fsync each), in seconds.'));
    lines.push(...raft.applyDuration.render('kv_apply_duration_seconds', "Applying one batch of committed entries, in seconds."));
    lines.push('# HELP kv_http_requests_total HTTP requests answered, by method and status.', '# TYPE kv_http_requests_total counter');
    for (const [k, v] of [...this.requests].sort()) {
      const [method, code] = k.split('|');
      lines.push(`kv_http_requests_total{method="${method}",code="${code}"} ${v}`);
    }
    return lines.join('\n') + '\n';
  }
}
