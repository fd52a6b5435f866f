/**
 * `GET /kv/v1/snapshot`: a consistent snapshot of the member's store,
 * streamed in kv's store snapshot format (what `kvctl snapshot save`
 * fetches). An extension: etcd's v2 API has no such route (etcd v3 has the
 * `Maintenance.Snapshot` RPC).
 *
 * @packageDocumentation
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { takeStoreSnapshot, type KvNode } from '@kv/store';
import { membersError } from './etcd-errors.js';

/** The header that carries the number of nodes in the snapshot (for a client's progress bar). */
export const SNAPSHOT_NODES_HEADER = 'x-kv-snapshot-nodes';

/**
 * Answers `GET` (and `HEAD`) with the snapshot as `application/octet-stream`,
 * written as it is encoded and only as fast as the client reads it.
 *
 * @remarks
 * The snapshot is linearizable (a quorum confirms the read first); without
 * a quorum the answer is 503 with etcd's `{message}` body. Headers:
 * `X-Etcd-Cluster-ID`, `X-Etcd-Index` (the snapshot's store index),
 * `X-Raft-Index` (its Raft index), `X-Kv-Snapshot-Nodes`. The body ends
 * with a SHA-256 of the whole, so a cut connection is detected by the
 * reader; a client that goes away stops the encoding.
 */
export async function handleSnapshot(node: KvNode, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = req.method ?? 'GET';
  req.resume();
  if (method !== 'GET' && method !== 'HEAD') {
    res.writeHead(405, { 'content-type': 'application/json', allow: 'GET, HEAD' });
    res.end(JSON.stringify({ message: 'Method Not Allowed' }) + '\n');
    return;
  }
  let snap: Awaited<ReturnType<typeof takeStoreSnapshot>>;
  try {
    snap = await takeStoreSnapshot(node);
  } catch (e) {
    const { status, body } = membersError(e);
    res.writeHead(status === 500 ? 503 : status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body) + '\n');
    return;
  }
  const { info } = snap;
  res.writeHead(200, {
    'content-type': 'application/octet-stream',
    'content-disposition': `attachment; filename="kv-${info.name}-${info.raftIndex}.snapshot"`,
    'x-etcd-cluster-id': info.clusterId,
    'x-etcd-index': String(info.storeIndex),
    'x-raft-index': String(info.raftIndex),
    [SNAPSHOT_NODES_HEADER]: String(info.nodes),
  });
  if (method === 'HEAD') return void res.end();
  const gone = (): boolean => res.destroyed || res.writableEnded;
  for await (const chunk of snap.chunks) {
    if (gone()) return;
    if (!res.write(chunk)) await drainedOrClosed(res);
  }
  if (!gone()) res.end();
}

function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
