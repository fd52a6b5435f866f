// Shared pieces of the transport tests: transports on 127.0.0.1 with port 0,
// a handler that records what arrives, a logger that keeps its lines, and
// waitFor for conditions that real sockets make true "soon". Nothing sleeps
// for a fixed time: waitFor polls with a deadline and says what it waited for.

import { MessageType, type Message, type NodeId, type RaftLogger } from '@kv/raft';

import type { WsTransportOptions } from '../src/options.ts';
import { wsTransport, type WsTransport } from '../src/ws-transport.ts';
import { freePort } from '../../../examples/local-processes.ts';

/** A logger that keeps every line, prefixed by its level. */
export function captureLogger(lines: string[]): RaftLogger {
  return {
    debug: (m: string) => void lines.push(`debug ${m}`),
    info: (m: string) => void lines.push(`info ${m}`),
    warn: (m: string) => void lines.push(`warn ${m}`),
    error: (m: string) => void lines.push(`error ${m}`),
  };
}

/** A message with every field set (as `message()` in @kv/raft builds them). */
export function msg(fields: Partial<Message> & Pick<Message, 'type' | 'from' | 'to'>): Message {
  return {
    term: 1,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    ...fields,
  };
}

/** A heartbeat from `from` to `to` with `commit` as a sequence number. */
export function heartbeat(from: NodeId, to: NodeId, seq = 0): Message {
  return msg({ type: MessageType.MsgHeartbeat, from, to, commit: seq });
}

/** A started transport and what it has seen. */
export interface Member {
  readonly id: NodeId;
  readonly t: WsTransport;
  readonly received: Message[];
  readonly unreachable: NodeId[];
  readonly lines: string[];
  /** The advertised URL (after start). */
  readonly url: string;
}

/** Creates and starts a transport for member `id` on 127.0.0.1 (port 0 unless `listen` is given). */
export async function member(id: NodeId, options: Partial<WsTransportOptions> = {}): Promise<Member> {
  const lines: string[] = [];
  const received: Message[] = [];
  const unreachable: NodeId[] = [];
  const t = wsTransport({
    listen: 'ws://127.0.0.1:0',
    memberId: id,
    clusterId: 'c1',
    logger: captureLogger(lines),
    ...options,
  });
  await t.start({ onMessage: (m) => void received.push(m), onUnreachable: (p) => void unreachable.push(p) });
  return { id, t, received, unreachable, lines, url: t.url };
}

/** Adds every member to every other's peers. */
export function connectAll(members: readonly Member[]): void {
  for (const a of members) for (const b of members) if (a !== b) a.t.addPeer(b.id, b.url);
}

/** Stops every transport (idempotent). */
export async function stopAll(members: readonly (Member | undefined)[]): Promise<void> {
  await Promise.all(members.map((m) => m?.t.stop()));
}

/**
 * Resolves once `cond()` holds, checking every few milliseconds; rejects
 * after `timeoutMs` with `what` in the message.
 */
export async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Lines of `lines` that contain `text`. */
export function linesWith(lines: readonly string[], text: string): string[] {
  return lines.filter((l) => l.includes(text));
}

export { freePort };

/** The next turn of the event loop (after pending I/O callbacks). */
export function nextTurn(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
