/**
 * Mapping errors to etcd's HTTP answers: KvError → etcd's status and
 * `{errorCode, message, cause, index}` body; RaftError → etcd's 300
 * "Raft Internal Error"; anything else → 500.
 *
 * @packageDocumentation
 */
import { RaftError } from '@kv/raft';
import { KvError, KvErrorCode, type KvErrorCodeValue } from '@kv/store';

/** An etcd v2 keys-API error body. */
export interface EtcdErrorBody {
  readonly errorCode: number;
  readonly message: string;
  readonly cause: string;
  readonly index: number;
}

/** An answer to send: status, JSON body and extra headers. */
export interface HttpAnswer {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/** A refusal carrying a ready-made HTTP answer (members API style `{message}` errors). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(typeof body === 'object' && body !== null && 'message' in body ? String((body as { message: unknown }).message) : `HTTP ${status}`);
  }
}

/** etcd's `error.StatusCode()`: the few mapped codes, 400 for the rest. */
export function etcdStatus(code: number): number {
  switch (code) {
    case 100:
      return 404;
    case 101:
    case 105:
      return 412;
    case 102:
    case 108:
      return 403;
    case 110:
      return 401;
    case 300:
    case 301:
    case 400:
      return 500;
    default:
      return 400;
  }
}

/** etcd's cause string for a Raft-level failure of a request. */
function raftCause(e: RaftError): string {
  switch (e.code) {
    case 'RAFT_TIMEOUT':
      return 'etcdserver: request timed out';
    case 'RAFT_NO_LEADER':
      return 'etcdserver: no leader';
    case 'RAFT_LEADER_CHANGED':
      return 'etcdserver: leader changed';
    case 'RAFT_STOPPED':
    case 'RAFT_REMOVED':
      return 'etcdserver: server stopped';
    default:
      return `etcdserver: ${e.message}`;
  }
}

/** A keys-API error body for any failure. */
export function keysError(e: unknown, index: number): { status: number; body: EtcdErrorBody } {
  if (e instanceof KvError) return { status: etcdStatus(e.errorCode), body: e.toJSON() };
  if (e instanceof RaftError) {
    return { status: 500, body: { errorCode: KvErrorCode.RaftInternal, message: 'Raft Internal Error', cause: raftCause(e), index } };
  }
  return { status: 500, body: { errorCode: KvErrorCode.RaftInternal, message: 'Raft Internal Error', cause: (e as Error)?.message ?? String(e), index } };
}

/** A members-API error: etcd answers those with `{message}` only. */
export function membersError(e: unknown): { status: number; body: { message: string } } {
  if (e instanceof HttpError) return { status: e.status, body: e.body as { message: string } };
  if (e instanceof KvError) {
    if (e.errorCode === KvErrorCode.KeyNotFound) return { status: 404, body: { message: `No such member: ${e.cause}` } };
    if (e.message === 'Peer URLs exists' || /already in use/.test(e.cause)) return { status: 409, body: { message: 'etcdserver: peerURL exists' } };
    return { status: 400, body: { message: e.cause || e.message } };
  }
  if (e instanceof RaftError) {
    if (e.code === 'RAFT_CONF_CHANGE_PENDING' || e.code === 'RAFT_CONF_CHANGE_INVALID') return { status: 409, body: { message: `etcdserver: ${e.message}` } };
    return { status: 500, body: { message: raftCause(e) } };
  }
  return { status: 500, body: { message: (e as Error)?.message ?? String(e) } };
}

/** A KvError built for a form problem. */
export function formError(code: KvErrorCodeValue, cause: string, index: number): KvError {
  return new KvError(code, cause, index);
}
