import type { NodeId } from '@kv/raft';

/**
 * Fault injection for one {@link WsTransport}: a set of peers it pretends it
 * cannot reach. For fault testing only (Jepsen-style runs against real
 * processes, where the memory network's `partition` is not available).
 *
 * @remarks
 * While peer `p` is blocked, the transport drops every Raft message to `p`
 * (snapshots included) before it reaches a socket, and every message that
 * arrives from `p`, counting both in {@link PeerFaults.dropped} and in the
 * transport's `messagesDropped`. Messages to a blocked peer are also
 * reported through `onUnreachable`, as a real partition eventually would.
 * Connections themselves stay up (handshakes and keepalives pass), so a
 * heal takes effect at once, without reconnect backoff.
 *
 * Blocking works in both directions on the member where it is set, so
 * blocking each side's peers on that side alone gives a clean partition:
 * for `{a} | {b, c}`, block `[b, c]` on a, `[a]` on b and `[a]` on c. Any
 * pattern of one-way reachability (a bridge member that sees both halves,
 * an isolated leader) is a choice of sets per member.
 *
 * With nothing blocked (the default) the transport pays one boolean check
 * per message.
 *
 * @example
 * ```ts
 * const transport = wsTransport({ listen: 'http://127.0.0.1:2380' });
 * transport.faults.block(['8e9e05c52164694d']);
 * // ... the member is cut off from that peer ...
 * transport.faults.heal();
 * ```
 */
export class PeerFaults {
  #blocked = new Set<NodeId>();
  #dropped = 0;

  /** Whether any peer is blocked. Checked first on every message, so an idle hook costs nothing more. */
  get active(): boolean {
    return this.#blocked.size > 0;
  }

  /** The blocked peers' IDs, sorted (a fresh array). */
  get blocked(): NodeId[] {
    return [...this.#blocked].sort();
  }

  /** Messages dropped because their peer was blocked, both directions, since the transport was created. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Blocks `peerIds` in addition to those already blocked. Unknown IDs are kept and apply once such a peer appears. */
  block(peerIds: Iterable<NodeId>): void {
    for (const id of peerIds) {
      if (typeof id !== 'string' || id === '') throw new TypeError(`PeerFaults.block: peer IDs are non-empty strings, got ${JSON.stringify(id)}`);
      this.#blocked.add(id);
    }
  }

  /** Unblocks `peerIds`; IDs that were not blocked are ignored. */
  unblock(peerIds: Iterable<NodeId>): void {
    for (const id of peerIds) this.#blocked.delete(id);
  }

  /** Unblocks every peer. */
  heal(): void {
    this.#blocked.clear();
  }

  /** Whether messages to and from peer `id` are being dropped. */
  isBlocked(id: NodeId): boolean {
    return this.#blocked.has(id);
  }

  /**
   * Counts one dropped message when `id` is blocked, for the transport's
   * send and receive paths.
   *
   * @internal
   */
  maybeDrop(id: NodeId): boolean {
    if (!this.#blocked.has(id)) return false;
    this.#dropped++;
    return true;
  }
}
