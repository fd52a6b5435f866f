/**
 * `/health`, `/version` and `/v2/stats/{self,leader,store}` in etcd's shapes.
 *
 * @packageDocumentation
 */
import type { ServerResponse } from 'node:http';
import { VERSION as STORE_VERSION, type KvNode } from '@kv/store';
import type { HttpMetrics } from './metrics.js';

/** The etcd versions this API answers as (the v2 API of etcd 2.3). */
export const ETCD_SERVER_VERSION = '2.3.8';
export const ETCD_CLUSTER_VERSION = '2.3.0';

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body) + '\n');
}

/** `/version`. */
export function handleVersion(res: ServerResponse): void {
  json(res, 200, { etcdserver: ETCD_SERVER_VERSION, etcdcluster: ETCD_CLUSTER_VERSION, kv: STORE_VERSION });
}

/** `/health`: 200 `{"health":"true"}` when a linearizable read completes in time, else 503. */
export async function handleHealth(node: KvNode, res: ServerResponse, timeoutMs = 2000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ health: boolean; reason?: string }>((r) => {
    timer = setTimeout(() => r({ health: false, reason: 'timed out' }), timeoutMs);
  });
  const h = await Promise.race([node.health().catch((e: Error) => ({ health: false, reason: e.message })), timeout]);
  clearTimeout(timer);
  if (h.health) json(res, 200, { health: 'true' });
  else json(res, 503, { health: 'false', ...(h.reason !== undefined ? { reason: h.reason } : {}) });
}

/** `/v2/stats/self`. */
export function handleStatsSelf(node: KvNode, metrics: HttpMetrics, res: ServerResponse): void {
  const s = node.status();
  const uptimeMs = Date.now() - metrics.startTime.getTime();
  json(res, 200, {
    name: s.name,
    id: s.id,
    state: s.isLeader ? 'StateLeader' : s.leader === undefined ? 'StateCandidate' : 'StateFollower',
    startTime: metrics.startTime.toISOString(),
    leaderInfo: { leader: s.leader ?? '', uptime: `${(uptimeMs / 1000).toFixed(3)}s`, startTime: metrics.startTime.toISOString() },
    recvAppendRequestCnt: node.raftMetrics().appendsReceived,
    sendAppendRequestCnt: node.raftMetrics().appendsSent,
    raftTerm: s.raftTerm,
    raftIndex: s.raftIndex,
    appliedIndex: s.appliedIndex,
  });
}

/**
 * `/v2/stats/leader`: on the leader, each follower's round-trip latency
 * (ms) and answer counts since it became leader; elsewhere 403
 * `{"message":"not current leader"}`, as etcd answers.
 */
export function handleStatsLeader(node: KvNode, res: ServerResponse): void {
  const stats = node.leaderStats();
  if (stats === undefined) return json(res, 403, { message: 'not current leader' });
  json(res, 200, stats);
}

/** `/v2/stats/store`. */
export function handleStatsStore(node: KvNode, metrics: HttpMetrics, res: ServerResponse): void {
  const s = node.status();
  json(res, 200, {
    getsSuccess: metrics.getsSuccess,
    getsFail: metrics.getsFail,
    setsSuccess: metrics.proposals - metrics.proposalsFailed,
    setsFail: metrics.proposalsFailed,
    watchers: s.watchers,
    keys: s.keys,
    index: s.storeIndex,
  });
}
