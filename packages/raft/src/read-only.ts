import type { Index, Message, NodeId } from './types.js';

/** One ReadIndex request waiting for a quorum to confirm leadership. */
export interface ReadIndexStatus {
  /** The request as received (from the leader itself or a follower). */
  readonly req: Message;
  /** The leader's commit index when the request arrived: the read's index. */
  readonly index: Index;
  /** Voters that acknowledged a heartbeat carrying this request's context. */
  readonly acks: Set<NodeId>;
}

/** A request context as a map key (contexts are opaque bytes). */
export function contextKey(ctx: Uint8Array | undefined): string {
  if (!ctx || ctx.byteLength === 0) return '';
  let s = '';
  for (let i = 0; i < ctx.byteLength; i++) s += String.fromCharCode(ctx[i]);
  return s;
}

/**
 * The leader's book of ReadIndex requests (Raft thesis §6.4): each waits
 * until a quorum acknowledges a heartbeat sent after it arrived, which proves
 * that the leader was still the leader when it recorded the read index.
 *
 * @remarks
 * Invariant: `queue` holds exactly the keys of `pending`, in arrival order.
 * An acknowledgement of a later request confirms every earlier one too.
 */
export class ReadOnly {
  private readonly pending = new Map<string, ReadIndexStatus>();
  private queue: string[] = [];

  /** Records a request; a duplicate context is ignored. */
  addRequest(index: Index, req: Message): void {
    const key = contextKey(req.context);
    if (this.pending.has(key)) return;
    this.pending.set(key, { req, index, acks: new Set() });
    this.queue.push(key);
  }

  /** Records `id`'s acknowledgement of the request `ctx`; returns its acks so far. */
  recvAck(id: NodeId, ctx: Uint8Array | undefined): ReadonlySet<NodeId> | undefined {
    const rs = this.pending.get(contextKey(ctx));
    if (!rs) return undefined;
    rs.acks.add(id);
    return rs.acks;
  }

  /**
   * Removes and returns every request up to and including `ctx`, in arrival
   * order: they are all confirmed.
   */
  advance(ctx: Uint8Array | undefined): ReadIndexStatus[] {
    const key = contextKey(ctx);
    const at = this.queue.indexOf(key);
    if (at < 0) return [];
    const done = this.queue.slice(0, at + 1);
    this.queue = this.queue.slice(at + 1);
    const out: ReadIndexStatus[] = [];
    for (const k of done) {
      out.push(this.pending.get(k)!);
      this.pending.delete(k);
    }
    return out;
  }

  /** The context of the newest pending request, carried by heartbeats. */
  lastPendingRequestCtx(): Uint8Array | undefined {
    if (this.queue.length === 0) return undefined;
    return this.pending.get(this.queue[this.queue.length - 1])!.req.context;
  }

  get size(): number {
    return this.queue.length;
  }
}
