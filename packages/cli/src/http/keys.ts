/**
 * `/v2/keys/<key>`: etcd v2's keys API on a KvNode — GET (with
 * `recursive`, `sorted`, `quorum`, `wait`/`waitIndex`/`stream`), PUT, POST
 * (in-order keys) and DELETE, with etcd's bodies, statuses and headers.
 *
 * @packageDocumentation
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { KvErrorCode, type KvEvent, type KvNode, type KvNodeData } from '@kv/store';
import { HttpError, formError, keysError } from './etcd-errors.js';
import { Form, parseFormBody, parseQuery, readBody } from './form.js';
import type { HttpMetrics } from './metrics.js';

/** What the keys handler needs from the server. */
export interface KeysContext {
  readonly node: KvNode;
  readonly maxBodyBytes: number;
  /** Counters (open long-polls, writes, reads). */
  readonly metrics: HttpMetrics;
}

/** A value as the HTTP API shows it: a string. */
export function valueString(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8');
  if (v === undefined) return '';
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** A node in etcd's JSON shape and field order. */
export function etcdNode(n: KvNodeData): Record<string, unknown> {
  // etcd omits the root's key and zero indexes (`omitempty`).
  const out: Record<string, unknown> = n.key === '/' ? {} : { key: n.key };
  if (n.dir) out.dir = true;
  else if (n.value !== undefined) out.value = valueString(n.value);
  if (n.expiration !== undefined) out.expiration = n.expiration;
  if (n.ttl !== undefined) out.ttl = n.ttl;
  if (n.nodes !== undefined && n.nodes.length > 0) out.nodes = n.nodes.map(etcdNode);
  if (n.modifiedIndex !== 0) out.modifiedIndex = n.modifiedIndex;
  if (n.createdIndex !== 0) out.createdIndex = n.createdIndex;
  return out;
}

/** An event in etcd's JSON shape. */
export function etcdEvent(ev: KvEvent): Record<string, unknown> {
  const out: Record<string, unknown> = { action: ev.action, node: etcdNode(ev.node) };
  if (ev.prevNode !== undefined) out.prevNode = etcdNode(ev.prevNode);
  return out;
}

/** The headers etcd puts on every keys answer. */
export function etcdHeaders(node: KvNode, etcdIndex: number): Record<string, string> {
  const s = node.status();
  return {
    'content-type': 'application/json',
    'x-etcd-cluster-id': s.clusterId,
    'x-etcd-index': String(etcdIndex),
    'x-raft-index': String(s.raftIndex),
    'x-raft-term': String(s.raftTerm),
  };
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, body: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body) + '\n';
  // A length, as etcd sends, rather than chunked encoding: cheaper to write
  // and to parse for every client.
  res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function keyOf(pathname: string): string {
  const raw = pathname.slice('/v2/keys'.length);
  let key: string;
  try {
    key = decodeURIComponent(raw);
  } catch {
    key = raw;
  }
  return key === '' ? '/' : key;
}

/** Handles one `/v2/keys` request. */
export async function handleKeys(ctx: KeysContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const { node } = ctx;
  const storeIndex = (): number => node.status().storeIndex;
  const method = req.method ?? 'GET';
  let writing = false;
  try {
    if (!['GET', 'HEAD', 'PUT', 'POST', 'DELETE'].includes(method)) {
      res.writeHead(405, { allow: 'GET, HEAD, PUT, POST, DELETE', 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'Method Not Allowed' }) + '\n');
      return;
    }
    // etcd answers a request it cannot parse with index 0 (body and
    // X-Etcd-Index): the store was never consulted.
    const idx = 0;
    const query = parseQuery(url.search, idx);
    const body = method === 'PUT' || method === 'POST' || method === 'DELETE' ? await readBody(req, ctx.maxBodyBytes) : '';
    const form = new Form(parseFormBody(body, req.headers['content-type'], idx), query);
    const key = keyOf(url.pathname);

    const recursive = form.bool('recursive', idx);
    const sorted = form.bool('sorted', idx);
    const wait = form.bool('wait', idx);
    const stream = form.bool('stream', idx);
    const quorum = form.bool('quorum', idx);
    const dir = form.bool('dir', idx);
    const refresh = form.bool('refresh', idx);
    // prevIndex=0 means "not given" to etcd (a plain set or delete).
    const prevIndex = form.uint('prevIndex', 203, idx) || undefined;
    const waitIndex = form.uint('waitIndex', 203, idx);
    const ttl = form.uint('ttl', 202, idx);
    let prevExist: boolean | undefined;
    if (form.has('prevExist')) prevExist = form.bool('prevExist', idx);
    const prevValue = form.get('prevValue');
    if (form.has('prevValue') && prevValue === '') throw formError(KvErrorCode.PrevValueRequired, '"prevValue" cannot be empty', idx);
    if (wait && method !== 'GET' && method !== 'HEAD') throw formError(KvErrorCode.InvalidField, '"wait" can only be used with GET requests', idx);
    const value = form.get('value');
    if (method !== 'GET' && method !== 'HEAD') {
      writing = true;
      ctx.metrics.proposals++;
    }

    switch (method) {
      case 'GET':
      case 'HEAD': {
        if (wait) return await longPoll(ctx, req, res, key, { recursive, stream, ...(waitIndex !== undefined ? { waitIndex } : {}) });
        const ev = await node.get(key, { recursive, sorted, consistency: quorum ? 'linearizable' : 'serializable' });
        ctx.metrics.getsSuccess++;
        return send(res, 200, etcdHeaders(node, storeIndex()), etcdEvent(ev));
      }
      case 'PUT': {
        // A directory ignores a value (etcd creates it all the same); refresh refuses one.
        const ev = await node.set(key, dir ? undefined : refresh ? (value === '' ? undefined : value) : (value ?? ''), {
          ...(ttl !== undefined ? { ttl } : {}),
          ...(prevExist !== undefined ? { prevExist } : {}),
          ...(prevValue !== undefined ? { prevValue } : {}),
          ...(prevIndex !== undefined ? { prevIndex } : {}),
          ...(dir ? { dir } : {}),
          ...(refresh ? { refresh } : {}),
        });
        const created = ev.action === 'create' || (ev.action === 'set' && ev.prevNode === undefined);
        return send(res, created ? 201 : 200, etcdHeaders(node, ev.index), etcdEvent(ev));
      }
      case 'POST': {
        const ev = await node.createInOrder(key, value ?? '', ttl !== undefined ? { ttl } : {});
        return send(res, 201, etcdHeaders(node, ev.index), etcdEvent(ev));
      }
      default: {
        const ev = await node.delete(key, {
          ...(dir ? { dir } : {}),
          ...(recursive ? { recursive } : {}),
          ...(prevValue !== undefined ? { prevValue } : {}),
          ...(prevIndex !== undefined ? { prevIndex } : {}),
        });
        return send(res, 200, etcdHeaders(node, ev.index), etcdEvent(ev));
      }
    }
  } catch (e) {
    if (writing) ctx.metrics.proposalsFailed++;
    else if (method === 'GET') ctx.metrics.getsFail++;
    let index = 0;
    try {
      index = storeIndex();
    } catch {
      // node closed
    }
    if (e instanceof HttpError) return send(res, e.status, { 'content-type': 'application/json', ...(e.status === 413 ? { connection: 'close' } : {}) }, e.body);
    const { status, body } = keysError(e, index);
    send(res, status, etcdHeaders(node, body.index), body);
  }
}

/**
 * Bytes a stream watch (`stream=true`) may leave waiting for a client that
 * reads slower than changes arrive. Past it the server ends the stream, as
 * etcd ends a watch whose event channel is full: the client has every
 * event before the cut, and can watch again from the next index.
 */
const STREAM_BACKLOG_LIMIT_BYTES = 1024 * 1024;

/**
 * How long a stream ended for falling behind may take to hand its backlog
 * to the client before the connection is dropped (a client that reads
 * nothing would otherwise pin the backlog for as long as it stays
 * connected).
 */
const STREAM_END_GRACE_MS = 10_000;

/**
 * `wait=true`: headers go out at once (as etcd does), then the first
 * matching event (or, with `stream=true`, every one) until the client goes.
 *
 * @remarks
 * A watch holds one store watcher, released as soon as the response ends
 * or the client goes away. A stream never buffers more than
 * {@link STREAM_BACKLOG_LIMIT_BYTES} (plus one event) for a slow client:
 * it stops and ends the response instead.
 */
async function longPoll(
  ctx: KeysContext,
  req: IncomingMessage,
  res: ServerResponse,
  key: string,
  opts: { recursive: boolean; stream: boolean; waitIndex?: number },
): Promise<void> {
  const { node } = ctx;
  const ac = new AbortController();
  const onClose = (): void => ac.abort();
  res.on('close', onClose);
  req.on('close', () => {
    if (!req.complete) ac.abort();
  });
  const it = node.watch(key, { recursive: opts.recursive, signal: ac.signal, ...(opts.waitIndex !== undefined ? { waitIndex: opts.waitIndex } : {}) });
  ctx.metrics.watchers++;
  try {
    // Pull the first event lazily so a bad waitIndex (401) is still a normal error answer.
    const first = it.next();
    const race = await Promise.race([first, new Promise<'pending'>((r) => setImmediate(() => r('pending')))]);
    let r: IteratorResult<KvEvent>;
    if (race !== 'pending') {
      r = race;
      if (r.done) return void res.end();
      res.writeHead(200, etcdHeaders(node, node.status().storeIndex));
    } else {
      res.writeHead(200, etcdHeaders(node, node.status().storeIndex));
      res.flushHeaders();
      r = await first;
      if (r.done) return void res.end();
    }
    res.write(JSON.stringify(etcdEvent(r.value)) + '\n');
    if (!opts.stream) return void res.end();
    for (;;) {
      r = await it.next();
      if (r.done || res.destroyed) break;
      if (res.writableLength > STREAM_BACKLOG_LIMIT_BYTES) return endSlowStream(ctx, res);
      res.write(JSON.stringify(etcdEvent(r.value)) + '\n');
    }
    res.end();
  } finally {
    ctx.metrics.watchers--;
    ac.abort();
    res.off('close', onClose);
    void it.return?.();
  }
}

/** Ends a stream whose client fell behind, and drops the connection if the backlog is still unread after the grace time. */
function endSlowStream(ctx: KeysContext, res: ServerResponse): void {
  ctx.metrics.watchStreamsCut++;
  const timer = setTimeout(() => res.destroy(), STREAM_END_GRACE_MS);
  timer.unref();
  res.once('close', () => clearTimeout(timer));
  res.end();
}
