import type { Message, NodeId } from '../types.js';

/**
 * What a {@link Transport} delivers to the node that started it.
 *
 * @remarks
 * Called by transports; implemented by the driver. Calls may come at any
 * time after `start()` resolves and until `stop()` resolves, never
 * synchronously from inside `send()`.
 */
export interface TransportHandler {
  /** A message arrived from a peer. Malformed ones are the transport's to drop. */
  onMessage(m: Message): void;
  /**
   * Messages to `id` could not be delivered (connection lost, queue over its
   * limit). Raft retries on its own; this only makes it retry sooner.
   */
  onUnreachable?(id: NodeId): void;
}

/**
 * Moves Raft messages between members. Implemented by transports
 * (`createMemoryNetwork().transport(name)`, `wsTransport(...)`); used by
 * {@link RaftNode}.
 *
 * @remarks
 * Delivery is best effort: messages may be lost, duplicated, delayed or
 * reordered, and Raft tolerates all of it (a transport that keeps each
 * pair's order, as one WebSocket per pair does, just makes it faster).
 * `send()` must not block and must not throw for an unknown or unreachable
 * peer: it drops, and may report through `onUnreachable`. Snapshot messages
 * (MsgSnap) can be large; a transport may stream them separately so they do
 * not delay heartbeats.
 */
export interface Transport {
  /** Starts receiving. Resolves when the transport can send and receive. */
  start(handler: TransportHandler): Promise<void>;
  /** Sends messages to the peers named in `m.to`. Never throws for delivery problems. */
  send(messages: readonly Message[]): void;
  /** Tells the transport where peer `id` listens (a URL such as `ws://10.0.0.2:2380` or `mem://m2`). */
  addPeer(id: NodeId, url: string): void;
  /** Forgets a peer: no more messages to or from it. */
  removePeer(id: NodeId): void;
  /** Stops sending and receiving and releases sockets. Idempotent. */
  stop(): Promise<void>;
  /**
   * Tells the transport who this member is and which cluster it belongs to,
   * once known (a joining member learns its ID from the cluster), so its
   * handshakes can refuse peers of another cluster or dials meant for
   * someone else. Optional: a transport without peer authentication (the
   * memory network) need not implement it.
   */
  setIdentity?(identity: { readonly memberId?: NodeId; readonly clusterId?: string }): void;
  /**
   * The clock this transport's network runs on, if it is not the real one
   * (the memory network's manual clock). A driver uses it for its ticks so
   * tests control time.
   */
  readonly clock?: Clock;
}

/** A handle for a scheduled callback. */
export type TimerHandle = { readonly id: number } | ReturnType<typeof setTimeout>;

/**
 * Time as the driver sees it: wall time and timers. The default is the real
 * clock; the memory network's manual clock lets tests run time by hand.
 */
export interface Clock {
  /** Milliseconds since an arbitrary epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle): void;
}

/** The process's real clock. */
export const realClock: Clock = Object.freeze({
  now: () => performance.now(),
  setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms),
  clearTimeout: (h: TimerHandle) => clearTimeout(h as ReturnType<typeof setTimeout>),
  setInterval: (fn: () => void, ms: number) => setInterval(fn, ms),
  clearInterval: (h: TimerHandle) => clearInterval(h as ReturnType<typeof setTimeout>),
});
