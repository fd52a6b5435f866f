/**
 * `/v2/members`: etcd v2's members API — GET (list, and `/leader`), POST
 * (add by peer URLs; `"isLearner": true` adds a learner), DELETE and PUT by
 * member ID — and kv's `POST /v2/members/<id>/promote` (etcd v3's member
 * promote). Errors are etcd's `{message}` bodies.
 *
 * @packageDocumentation
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KvMember, KvNode } from '@kv/store';
import { HttpError, membersError } from './etcd-errors.js';
import { readBody } from './form.js';

/** The name a member added over HTTP is stored with until it starts (etcd shows ''). */
export const UNSTARTED_NAME = 'unstarted';

/** What the members handler needs from the server. */
export interface MembersContext {
  readonly node: KvNode;
  readonly maxBodyBytes: number;
  /** This server's URLs, shown as the local member's clientURLs when it published none. */
  readonly clientUrls: () => readonly string[];
  onWrite(): void;
}

function json(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  if (status === 204) {
    res.writeHead(204, extra);
    res.end();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json', ...extra });
  res.end(JSON.stringify(body) + '\n');
}

/** A member in etcd's `/v2/members` shape (`isLearner` only on learners, as etcd v3's JSON leaves out false). */
export function etcdMember(
  ctx: MembersContext,
  m: KvMember,
): { id: string; name: string; peerURLs: string[]; clientURLs: string[]; isLearner?: true } {
  const local = m.id === ctx.node.id;
  const clientURLs = m.clientURLs.length === 0 && local ? [...ctx.clientUrls()] : [...m.clientURLs];
  const name = m.name === UNSTARTED_NAME && m.clientURLs.length === 0 && !local ? '' : m.name;
  return { id: m.id, name, peerURLs: [...m.peerURLs], clientURLs, ...(m.isLearner ? { isLearner: true as const } : {}) };
}

function isUrl(u: unknown): u is string {
  if (typeof u !== 'string') return false;
  try {
    const p = new URL(u);
    return /^(https?|wss?|mem):$/.test(p.protocol) && p.host !== '' || p.protocol === 'mem:';
  } catch {
    return false;
  }
}

async function peerUrlsFrom(req: IncomingMessage, max: number): Promise<{ peerURLs: string[]; name?: string; isLearner: boolean }> {
  const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (ct !== 'application/json') {
    req.resume();
    throw new HttpError(415, { message: 'Bad Content-Type' });
  }
  const raw = await readBody(req, max);
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch (e) {
    throw new HttpError(400, { message: (e as Error).message });
  }
  const urls = (body as { peerURLs?: unknown } | null)?.peerURLs;
  if (!Array.isArray(urls) || urls.length === 0 || !urls.every(isUrl)) {
    throw new HttpError(400, { message: 'peerURLs must be a non-empty array of URLs' });
  }
  const { name, isLearner } = body as { name?: unknown; isLearner?: unknown };
  if (isLearner !== undefined && typeof isLearner !== 'boolean') throw new HttpError(400, { message: 'isLearner must be true or false' });
  return { peerURLs: urls as string[], isLearner: isLearner === true, ...(typeof name === 'string' && name !== '' ? { name } : {}) };
}

/** Handles one `/v2/members[...]` request. */
export async function handleMembers(ctx: MembersContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const { node } = ctx;
  const rest = url.pathname.replace(/^\/v2\/members\/?/, '');
  const method = req.method ?? 'GET';
  try {
    if (rest === '') {
      if (method === 'GET' || method === 'HEAD') {
        const members = await node.members.list();
        return json(res, 200, { members: members.map((m) => etcdMember(ctx, m)) });
      }
      if (method === 'POST') {
        const { peerURLs, name, isLearner } = await peerUrlsFrom(req, ctx.maxBodyBytes);
        ctx.onWrite();
        const { member } = await node.members.add(name ?? UNSTARTED_NAME, peerURLs, isLearner ? { learner: true } : {});
        return json(res, 201, { ...etcdMember(ctx, member), name: name ?? '' });
      }
      return json(res, 405, { message: 'Method Not Allowed' }, { allow: 'GET, HEAD, POST' });
    }
    if (rest === 'leader' && (method === 'GET' || method === 'HEAD')) {
      const leader = (await node.members.list()).find((m) => m.isLeader);
      if (!leader) return json(res, 503, { message: 'During leader election' });
      return json(res, 200, etcdMember(ctx, leader));
    }
    const promote = /^([0-9a-fA-F]{1,16})\/promote$/.exec(rest);
    if (promote !== null) return await promoteMember(ctx, req, res, promote[1]!);
    if (rest.includes('/') || !/^[0-9a-fA-F]{1,16}$/.test(rest)) {
      throw new HttpError(404, { message: `No such member: ${rest}` });
    }
    const id = (await node.members.list()).find((m) => m.id.toLowerCase() === rest.toLowerCase())?.id ?? rest.toLowerCase();
    if (method === 'DELETE') {
      ctx.onWrite();
      await node.members.remove(id);
      return json(res, 204, undefined);
    }
    if (method === 'PUT') {
      const { peerURLs } = await peerUrlsFrom(req, ctx.maxBodyBytes);
      ctx.onWrite();
      await node.members.update(id, peerURLs);
      return json(res, 204, undefined);
    }
    return json(res, 405, { message: 'Method Not Allowed' }, { allow: 'DELETE, PUT' });
  } catch (e) {
    const { status, body } = membersError(e);
    if (res.headersSent) return void res.end();
    json(res, status, body);
  }
}

/**
 * `POST /v2/members/<id>/promote`: makes a learner a voting member, as etcd
 * v3's `MemberPromote`. 200 with the member list (etcd v3's answer) and
 * `X-Etcd-Cluster-ID`; 404 for an unknown member, 412 for one that already
 * votes.
 */
async function promoteMember(ctx: MembersContext, req: IncomingMessage, res: ServerResponse, rawId: string): Promise<void> {
  req.resume();
  if ((req.method ?? 'GET') !== 'POST') return json(res, 405, { message: 'Method Not Allowed' }, { allow: 'POST' });
  const target = (await ctx.node.members.list()).find((m) => m.id.toLowerCase() === rawId.toLowerCase());
  if (target === undefined) throw new HttpError(404, { message: 'etcdserver: member not found' });
  if (!target.isLearner) throw new HttpError(412, { message: 'etcdserver: can only promote a learner member' });
  ctx.onWrite();
  await ctx.node.members.promote(target.id);
  const members = await ctx.node.members.list();
  json(res, 200, { members: members.map((m) => etcdMember(ctx, m)) }, { 'x-etcd-cluster-id': ctx.node.status().clusterId });
}
