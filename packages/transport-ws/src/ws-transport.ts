import { randomBytes } from 'node:crypto';

import {
  MessageType,
  realClock,
  type Clock,
  type Message,
  type NodeId,
  type RaftLogger,
  type TimerHandle,
  type Transport,
  type TransportHandler,
} from '@kv/raft';
import type { WebSocket } from 'ws';

import { Backoff } from './backoff.js';
import { CloseCode, type WsTransportError } from './errors.js';
import { PeerFaults } from './faults.js';
import { encodeMessageFrames, isWireMessageType, type EncodedFrame } from './frame-codec.js';
import type { LocalIdentity, RandomBytes } from './handshake.js';
import { dialTarget, resolveOptions, type ResolvedOptions, type WsTlsOptions, type WsTransportOptions } from './options.js';
import { PeerConnection, type CloseInfo, type ConnectionContext, type ConnectionCounters, type ConnectionEvents } from './peer-connection.js';
import { PeerServer } from './server.js';
import { SnapshotStream } from './snapshot-stream.js';

/** Counters of a {@link WsTransport}, since it was created. */
export interface WsTransportStats {
  /** Raft messages handed to a socket. */
  readonly messagesSent: number;
  /** Raft messages delivered to the handler. */
  readonly messagesReceived: number;
  /** Messages not sent or not delivered: unknown or unreachable peer, backpressure, too large, stopped, blocked by `faults`. */
  readonly messagesDropped: number;
  /** Frames written, handshake frames included. */
  readonly framesSent: number;
  /** Frames read, handshake frames included. */
  readonly framesReceived: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  /** Frames that closed their connection: malformed, oversized, text, protocol violations. */
  readonly badFrames: number;
  /** Handshakes refused, by either side. */
  readonly handshakesRefused: number;
  /** Connections this transport dialed (raft and snapshot). */
  readonly connectionsDialed: number;
  /** Connections it accepted. */
  readonly connectionsAccepted: number;
}

/** One peer: where it is and how we reach it. */
class Peer {
  url: string | undefined;
  /** `url` as a `ws(s)://…/raft` URL, or the reason it cannot be dialed. */
  target: { url: string } | { error: string } | undefined;
  /** Open raft-stream connections with this peer, dialed by either side. */
  readonly conns = new Set<PeerConnection>();
  /** The connection messages go out on. */
  active: PeerConnection | undefined;
  /** Our raft-stream connection still in its handshake. */
  dialing: PeerConnection | undefined;
  /** Frames waiting for `dialing` to open, and their bytes. */
  waiting: EncodedFrame[] = [];
  waitingBytes = 0;
  /** Messages sent this turn, flushed as one frame (or a few) at the end of it. */
  pending: Message[] = [];
  /** Clock time before which no new dial is made. */
  nextDialAt = 0;
  readonly backoff: Backoff;
  snapshot: SnapshotStream | undefined;
  /** Whether the peer counted as active (for the became active / inactive log lines). */
  wasActive = false;
  /** Whether drops for backpressure are being logged (one line per episode). */
  dropping = false;
  /** Given by addPeer (a member), as opposed to learned from a handshake. */
  added = false;

  constructor(
    readonly id: NodeId,
    backoff: Backoff,
  ) {
    this.backoff = backoff;
  }

  get label(): string {
    return `peer ${this.id}${this.url ? ` (${this.url})` : ''}`;
  }
}

const consoleLogger: RaftLogger = Object.freeze({
  debug() {},
  info() {},
  warn: (m: string) => console.warn(`kv transport-ws: ${m}`),
  error: (m: string) => console.error(`kv transport-ws: ${m}`),
});

/**
 * Creates a {@link WsTransport}: Raft messages between members over one
 * WebSocket per pair of members, with snapshots on a connection of their own.
 *
 * @remarks
 * See {@link WsTransport} for the contract, and the package README for the
 * wire protocol and the handshake.
 *
 * @throws TypeError or RangeError naming the option at fault.
 *
 * @example
 * ```ts
 * import { createNode } from '@kv/store';
 * import { wsTransport } from '@kv/transport-ws';
 *
 * const transport = wsTransport({
 *   listen: 'http://0.0.0.0:2380',
 *   advertise: 'http://10.0.0.1:2380',
 *   secret: process.env.KV_PEER_SECRET,
 * });
 * const node = await createNode({
 *   name: 'm1',
 *   transport,
 *   initialCluster: { m1: 'http://10.0.0.1:2380', m2: 'http://10.0.0.2:2380', m3: 'http://10.0.0.3:2380' },
 *   dataDir: './m1.kv',
 * });
 * ```
 */
export function wsTransport(options: WsTransportOptions): WsTransport {
  return new WsTransport(options);
}

/**
 * A {@link Transport} over WebSocket (the `ws` package) with msgpack frames.
 *
 * @remarks
 * Implements {@link Transport}:
 * - `start(handler)` listens and resolves once the port is bound; it
 *   rejects if the transport is already started or the port cannot be
 *   bound. A stopped transport may be started again (a new instance ID:
 *   peers treat it as a restarted member).
 * - `send()` never throws and never delivers or reports synchronously.
 *   Messages sent in one event-loop turn go out as one frame per peer (or a
 *   few, if they exceed `maxFrameBytes`) at the end of the turn. MsgSnap
 *   goes on the peer's snapshot connection instead. Messages to an unknown
 *   peer, to a peer being reconnected to after a failure, or over the
 *   `maxBufferedBytes` limit are dropped and reported through
 *   `onUnreachable` (at most once per peer per `unreachableIntervalMs`).
 * - `addPeer(id, url)` says where `id` listens; connections are made when
 *   there is something to send. `removePeer(id)` closes its connections,
 *   refuses its handshakes and drops its messages until `addPeer` again.
 * - `stop()` is idempotent: it closes every connection (close code 1001)
 *   and the server, and forgets peers (a restarted member adds them again).
 *
 * Connections: either member dials when it has something to send and no
 * open connection to the peer; the connection then carries messages both
 * ways. If both dialed at once, both ends keep the connection dialed by
 * the lower member ID and close the other (close code 4001); a connection
 * from a restarted peer (new instance ID) replaces the old one. A member
 * whose ID is not known yet cannot be ranked: its connections are all
 * kept until they close. After a failed dial, the next waits for an
 * exponential backoff with jitter (`reconnectMinMs` doubling up to
 * `reconnectMaxMs`); messages meanwhile are dropped.
 *
 * Learning: a handshake names the dialer and its advertised URL, so a
 * member that did not know a peer (a leader's new member, or a joining
 * member hearing from the leader) can answer it ({@link peerUrl}). A
 * member that does not know its own ID yet adopts the `to` of the first
 * message it receives.
 *
 * Every inbound message is checked: `to` must be this member and `from`
 * the member the connection was opened with; anything else is dropped with
 * a warning. Malformed frames close their connection (see the codes in
 * the README) and never throw.
 */
export class WsTransport implements Transport {
  readonly #o: ResolvedOptions;
  readonly #logger: RaftLogger;
  readonly #clockImpl: Clock;
  readonly #wallClock: () => number;
  readonly #randomBytes: RandomBytes;
  readonly #random: () => number;
  readonly #tls: WsTlsOptions | undefined;
  readonly #onRefused: WsTransportOptions['onRefused'];
  #clusterId: string;
  #memberId: string;
  #instance = '';
  #advertise = '';
  #boundPort: number | undefined;
  #handler: TransportHandler | undefined;
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #server: PeerServer | undefined;
  readonly #peers = new Map<NodeId, Peer>();
  readonly #removed = new Set<NodeId>();
  /** Every connection not yet closed. */
  readonly #conns = new Set<PeerConnection>();
  /** The member each connection is with, once known. */
  readonly #connPeer = new Map<PeerConnection, NodeId>();
  /** The snapshot stream that dialed each snapshot connection. */
  readonly #snapshotOwner = new Map<PeerConnection, SnapshotStream>();
  /** Resolvers of `stop()` waiting for connections to close. */
  readonly #closeWaiters = new Map<PeerConnection, () => void>();
  readonly #lastUnreachable = new Map<NodeId, number>();
  readonly #lastLog = new Map<string, number>();
  #flushScheduled = false;
  #keepalive: TimerHandle | undefined;
  readonly #faults = new PeerFaults();
  readonly #counters: ConnectionCounters & {
    messagesSent: number;
    messagesReceived: number;
    messagesDropped: number;
    connectionsDialed: number;
    connectionsAccepted: number;
  } = {
    messagesSent: 0,
    messagesReceived: 0,
    messagesDropped: 0,
    framesSent: 0,
    framesReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    badFrames: 0,
    handshakesRefused: 0,
    connectionsDialed: 0,
    connectionsAccepted: 0,
  };
  readonly #ctx: ConnectionContext;
  readonly #events: ConnectionEvents;

  /** Use {@link wsTransport}. @throws TypeError or RangeError naming the option at fault. */
  constructor(options: WsTransportOptions) {
    this.#o = resolveOptions(options);
    this.#logger = options.logger ?? consoleLogger;
    this.#clockImpl = options.clock ?? realClock;
    this.#wallClock = options.wallClock ?? Date.now;
    this.#randomBytes = options.randomBytes ?? randomBytes;
    this.#random = options.random ?? Math.random;
    this.#tls = options.tls;
    this.#onRefused = options.onRefused;
    this.#clusterId = options.clusterId ?? '';
    this.#memberId = options.memberId ?? '';
    const tls = options.tls;
    this.#ctx = {
      identity: () => this.#identity(),
      isRemoved: (id) => this.#removed.has(id),
      maxFrameBytes: this.#o.maxFrameBytes,
      handshakeTimeoutMs: this.#o.handshakeTimeoutMs,
      logger: this.#logger,
      clock: this.#clockImpl,
      counters: this.#counters,
      random: this.#randomBytes,
      ...(tls
        ? {
            tls: {
              ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
              ...(tls.key !== undefined ? { key: tls.key } : {}),
              ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
              ...(tls.rejectUnauthorized !== undefined ? { rejectUnauthorized: tls.rejectUnauthorized } : {}),
            },
          }
        : {}),
    };
    this.#events = {
      onOpen: (c) => this.#onOpen(c),
      onMessages: (c, ms) => this.#onMessages(c, ms),
      onClose: (c, info) => this.#onClose(c, info),
      onRefused: (c, err) => this.#refused(c, err),
    };
  }

  // ------------------------------------------------------------------ public surface

  /**
   * The URL peers reach this member at: `advertise`, or the listen URL with
   * the bound port once started (before that, with the configured port).
   */
  get url(): string {
    if (this.#advertise) return this.#advertise;
    return this.#o.advertise ?? this.#defaultAdvertise(this.#boundPort ?? this.#o.listenPort);
  }

  /** The bound port, once started. */
  get port(): number | undefined {
    return this.#boundPort;
  }

  /**
   * The fault-injection hook: peers this transport pretends it cannot reach,
   * for fault testing (see {@link PeerFaults}). Nothing is blocked unless a
   * test blocks it, and with nothing blocked it costs one boolean check per
   * message.
   */
  get faults(): PeerFaults {
    return this.#faults;
  }

  /** This member's ID; `''` until known. */
  get memberId(): string {
    return this.#memberId;
  }

  /** The cluster ID; `''` until known. */
  get clusterId(): string {
    return this.#clusterId;
  }

  /** A snapshot of the counters. */
  get stats(): WsTransportStats {
    const c = this.#counters;
    return Object.freeze({
      messagesSent: c.messagesSent,
      messagesReceived: c.messagesReceived,
      messagesDropped: c.messagesDropped,
      framesSent: c.framesSent,
      framesReceived: c.framesReceived,
      bytesSent: c.bytesSent,
      bytesReceived: c.bytesReceived,
      badFrames: c.badFrames,
      handshakesRefused: c.handshakesRefused,
      connectionsDialed: c.connectionsDialed,
      connectionsAccepted: c.connectionsAccepted,
    });
  }

  /**
   * Sets this member's ID once it is known (a joining member learns it
   * from the cluster). Handshakes from then on name it and check that
   * dialers meant to reach it.
   *
   * @throws RangeError when the ID is empty or a different ID was already set.
   */
  setMemberId(id: NodeId): void {
    if (typeof id !== 'string' || id === '') throw new RangeError('WsTransport.setMemberId: the ID must be a non-empty string');
    if (this.#memberId !== '' && this.#memberId !== id) {
      throw new RangeError(`WsTransport.setMemberId: this member is already ${this.#memberId}, cannot become ${id}`);
    }
    this.#memberId = id;
  }

  /**
   * Sets the cluster ID once it is known; handshakes with members of
   * another cluster are refused from then on.
   *
   * @throws RangeError when the ID is empty or a different ID was already set.
   */
  setClusterId(id: string): void {
    if (typeof id !== 'string' || id === '') throw new RangeError('WsTransport.setClusterId: the ID must be a non-empty string');
    if (this.#clusterId !== '' && this.#clusterId !== id) {
      throw new RangeError(`WsTransport.setClusterId: the cluster ID is already ${this.#clusterId}, cannot become ${id}`);
    }
    this.#clusterId = id;
  }

  /** Sets the member ID and/or cluster ID once known (the {@link Transport} hook). */
  setIdentity(identity: { readonly memberId?: NodeId; readonly clusterId?: string }): void {
    if (identity.memberId) this.setMemberId(identity.memberId);
    if (identity.clusterId) this.setClusterId(identity.clusterId);
  }

  /** Where peer `id` listens: as given to `addPeer`, or learned from its handshake. */
  peerUrl(id: NodeId): string | undefined {
    return this.#peers.get(id)?.url;
  }

  /** Whether an open connection to peer `id` can carry messages now. */
  isConnected(id: NodeId): boolean {
    return this.#peers.get(id)?.active?.isOpen === true;
  }

  async start(handler: TransportHandler): Promise<void> {
    if (this.#handler !== undefined || this.#starting !== undefined) {
      throw new Error(`ws transport ${this.url} is already started; stop() it before starting it again`);
    }
    if (this.#stopping !== undefined) await this.#stopping;
    this.#starting = this.#listen(handler);
    try {
      await this.#starting;
    } finally {
      this.#starting = undefined;
    }
  }

  send(messages: readonly Message[]): void {
    if (this.#handler === undefined) {
      this.#counters.messagesDropped += messages.length;
      return;
    }
    for (const m of messages) this.#route(m);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  addPeer(id: NodeId, url: string): void {
    if (typeof id !== 'string' || id === '' || id === this.#memberId) return;
    this.#removed.delete(id);
    const peer = this.#peer(id);
    peer.added = true;
    if (peer.url !== url) {
      peer.url = url;
      peer.target = dialTarget(url);
      peer.nextDialAt = 0;
      peer.backoff.reset();
      if ('error' in peer.target) this.#logger.warn(`cannot dial peer ${id}: ${peer.target.error}`);
    }
  }

  removePeer(id: NodeId): void {
    this.#removed.add(id);
    this.#lastUnreachable.delete(id);
    const peer = this.#peers.get(id);
    if (peer === undefined) return;
    this.#peers.delete(id);
    this.#counters.messagesDropped += peer.pending.length + peer.waiting.reduce((n, f) => n + f.count, 0);
    peer.pending = [];
    peer.waiting = [];
    peer.snapshot?.stop(CloseCode.Removed, 'removed');
    for (const c of [...peer.conns, ...(peer.dialing ? [peer.dialing] : [])]) c.close(CloseCode.Removed, 'removed');
    for (const [c, pid] of this.#connPeer) if (pid === id && !c.isClosed) c.close(CloseCode.Removed, 'removed');
  }

  stop(): Promise<void> {
    if (this.#stopping !== undefined) return this.#stopping;
    if (this.#handler === undefined && this.#server === undefined && this.#starting === undefined) return Promise.resolve();
    this.#stopping = this.#shutdown().finally(() => {
      this.#stopping = undefined;
    });
    return this.#stopping;
  }

  // ------------------------------------------------------------------ lifecycle

  async #listen(handler: TransportHandler): Promise<void> {
    this.#instance = Buffer.from(this.#randomBytes(8)).toString('hex');
    const server = new PeerServer({
      ...(this.#o.secure ? { tls: { cert: this.#tls!.cert!, key: this.#tls!.key!, ...(this.#tls!.ca !== undefined ? { ca: this.#tls!.ca } : {}), clientCertAuth: this.#tls!.clientCertAuth ?? false } } : {}),
      maxFrameBytes: this.#o.maxFrameBytes,
      logger: this.#logger,
      onConnection: (ws, remote) => this.#accept(ws, remote),
    });
    let port = this.#o.listenPort;
    if (port === 0 && this.#boundPort !== undefined) port = this.#boundPort;
    try {
      try {
        this.#boundPort = await server.listen(this.#o.listenHost, port);
      } catch (e) {
        if (port === this.#o.listenPort) throw e;
        // The port we had is taken now: take any, and say so (peers knew the old one).
        this.#logger.warn(`port ${port} is taken; listening on a new port`);
        this.#boundPort = await server.listen(this.#o.listenHost, 0);
      }
    } catch (e) {
      await server.close();
      throw e;
    }
    this.#server = server;
    this.#advertise = this.#o.advertise ?? this.#defaultAdvertise(this.#boundPort);
    this.#handler = handler;
    this.#keepalive = this.#clockImpl.setInterval(() => {
      for (const c of this.#conns) c.keepalive(this.#o.keepaliveIntervalMs);
    }, this.#o.keepaliveIntervalMs);
    this.#logger.info(`listening for peers at ${this.#o.listen.protocol}//${this.#o.listenHost}:${this.#boundPort}, advertised as ${this.#advertise}`);
  }

  async #shutdown(): Promise<void> {
    if (this.#starting !== undefined) await this.#starting.catch(() => {});
    // What was sent before stop() goes out on open connections ahead of the
    // close frame: a member's last messages (a leader's final commit index,
    // say) are often the ones that matter most.
    if (this.#flushScheduled) this.#flush();
    this.#handler = undefined;
    if (this.#keepalive !== undefined) this.#clockImpl.clearInterval(this.#keepalive);
    this.#keepalive = undefined;
    for (const peer of this.#peers.values()) {
      this.#counters.messagesDropped += peer.pending.length + peer.waiting.reduce((n, f) => n + f.count, 0);
      peer.snapshot?.stop();
    }
    const closing = [...this.#conns].map(
      (c) =>
        new Promise<void>((resolve) => {
          this.#closeWaiters.set(c, resolve);
          c.close(CloseCode.GoingAway, 'going away');
        }),
    );
    // Peers normally answer a close at once; a stuck one is cut off with the server.
    await Promise.race([Promise.all(closing), new Promise<void>((r) => setTimeout(r, 250).unref())]);
    await this.#server?.close();
    this.#server = undefined;
    for (const c of this.#conns) c.terminate();
    this.#conns.clear();
    this.#connPeer.clear();
    this.#snapshotOwner.clear();
    this.#closeWaiters.clear();
    this.#peers.clear();
    this.#removed.clear();
    this.#lastUnreachable.clear();
    this.#lastLog.clear();
    this.#advertise = '';
  }

  #defaultAdvertise(port: number): string {
    const host = this.#o.listen.hostname;
    return `${this.#o.listen.protocol}//${host}:${port}`;
  }

  #identity(): LocalIdentity {
    return {
      clusterId: this.#clusterId,
      memberId: this.#memberId,
      advertise: this.url,
      instance: this.#instance,
      secret: this.#o.secret,
      now: this.#wallClock(),
      maxClockSkewMs: this.#o.maxClockSkewMs,
    };
  }

  // ------------------------------------------------------------------ sending

  #peer(id: NodeId): Peer {
    let p = this.#peers.get(id);
    if (p === undefined) {
      p = new Peer(id, new Backoff({ minMs: this.#o.reconnectMinMs, maxMs: this.#o.reconnectMaxMs, random: this.#random }));
      this.#peers.set(id, p);
    }
    return p;
  }

  #route(m: Message): void {
    if (!isWireMessageType(m.type)) {
      // Local inputs (MsgHup, MsgBeat, …) never cross the wire; a receiver would reject the frame.
      this.#counters.messagesDropped++;
      this.#rateLog(`local:${m.type}`, 'warn', `dropped ${MessageType[m.type] ?? `message type ${m.type}`} to ${m.to}: not a message peers exchange`);
      return;
    }
    if (this.#memberId === '' && typeof m.from === 'string' && m.from !== '') this.#adopt(m.from, 'a message it sent');
    if (m.to === '' || m.to === this.#memberId) {
      this.#counters.messagesDropped++;
      return;
    }
    const peer = this.#peers.get(m.to);
    if (peer === undefined || this.#removed.has(m.to) || (this.#faults.active && this.#faults.maybeDrop(m.to))) {
      this.#counters.messagesDropped++;
      this.#reportUnreachable(m.to);
      return;
    }
    if (m.type === MessageType.MsgSnap && m.snapshot !== undefined) {
      this.#snapshotStream(peer).enqueue(m);
      return;
    }
    peer.pending.push(m);
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#handler === undefined) return;
    for (const peer of this.#peers.values()) {
      if (peer.pending.length === 0) continue;
      const batch = peer.pending;
      peer.pending = [];
      const { frames, tooLarge } = encodeMessageFrames(batch, this.#o.maxFrameBytes);
      for (const t of tooLarge) {
        this.#counters.messagesDropped++;
        this.#rateLog(
          `large:${peer.id}`,
          'error',
          `dropped ${MessageType[t.message.type]} to ${peer.label}: WS_FRAME_TOO_LARGE: it encodes to ${t.bytes} bytes, maxFrameBytes is ${this.#o.maxFrameBytes}`,
        );
      }
      for (const f of frames) this.#deliver(peer, f);
    }
  }

  #deliver(peer: Peer, frame: EncodedFrame): void {
    const conn = peer.active;
    if (conn !== undefined && conn.isOpen) {
      const buffered = conn.bufferedAmount;
      if (buffered + frame.data.byteLength > this.#o.maxBufferedBytes) {
        this.#counters.messagesDropped += frame.count;
        if (!peer.dropping) {
          peer.dropping = true;
          this.#logger.warn(
            `dropping messages to ${peer.label}: ${buffered} bytes are waiting in its connection and a frame of ${frame.data.byteLength} ` +
              `would pass maxBufferedBytes (${this.#o.maxBufferedBytes}); the peer is slow or stuck`,
          );
        }
        this.#reportUnreachable(peer.id);
        return;
      }
      if (peer.dropping) {
        peer.dropping = false;
        this.#logger.info(`sending to ${peer.label} again after dropping messages for backpressure`);
      }
      conn.send(frame.data);
      this.#counters.messagesSent += frame.count;
      return;
    }
    if (peer.dialing === undefined) this.#maybeDial(peer);
    if (peer.dialing !== undefined && peer.waitingBytes + frame.data.byteLength <= this.#o.maxBufferedBytes) {
      peer.waiting.push(frame);
      peer.waitingBytes += frame.data.byteLength;
      return;
    }
    this.#counters.messagesDropped += frame.count;
    this.#reportUnreachable(peer.id);
  }

  #maybeDial(peer: Peer): void {
    if (peer.target === undefined || 'error' in peer.target) return;
    if (this.#clockImpl.now() < peer.nextDialAt) return;
    const conn = this.#dial(peer, 'raft');
    if (conn !== undefined) peer.dialing = conn;
  }

  #dial(peer: Peer, stream: 'raft' | 'snapshot'): PeerConnection | undefined {
    if (peer.target === undefined || 'error' in peer.target) return undefined;
    let conn: PeerConnection;
    try {
      conn = PeerConnection.dial(peer.target.url, peer.url ?? peer.target.url, peer.id, stream, this.#ctx, this.#events);
    } catch (e) {
      // new WebSocket() throws synchronously for URLs it cannot use.
      this.#rateLog(`dial:${peer.id}`, 'warn', `cannot dial ${peer.label}: ${e instanceof Error ? e.message : String(e)}`);
      peer.nextDialAt = this.#clockImpl.now() + peer.backoff.next();
      return undefined;
    }
    this.#counters.connectionsDialed++;
    this.#conns.add(conn);
    this.#connPeer.set(conn, peer.id);
    return conn;
  }

  #snapshotStream(peer: Peer): SnapshotStream {
    if (peer.snapshot !== undefined) return peer.snapshot;
    const stream: SnapshotStream = new SnapshotStream({
      peerId: peer.id,
      dial: () => {
        const conn = this.#dial(peer, 'snapshot');
        if (conn !== undefined) this.#snapshotOwner.set(conn, stream);
        return conn;
      },
      chunkBytes: this.#o.snapshotChunkBytes,
      maxFrameBytes: this.#o.maxFrameBytes,
      highWaterBytes: Math.max(this.#o.snapshotChunkBytes, Math.min(this.#o.maxBufferedBytes, 4 * this.#o.snapshotChunkBytes)),
      idleMs: this.#o.snapshotIdleMs,
      clock: this.#clockImpl,
      logger: this.#logger,
      onDropped: (n, why) => {
        this.#counters.messagesDropped += n;
        this.#logger.warn(`dropped ${n} snapshot message(s) to ${peer.label}: ${why}`);
        this.#reportUnreachable(peer.id);
      },
      onSent: (n) => {
        this.#counters.messagesSent += n;
      },
    });
    peer.snapshot = stream;
    return stream;
  }

  #reportUnreachable(id: NodeId): void {
    const handler = this.#handler;
    if (handler?.onUnreachable === undefined || id === '') return;
    const now = this.#clockImpl.now();
    const last = this.#lastUnreachable.get(id);
    if (last !== undefined && now - last < this.#o.unreachableIntervalMs) return;
    this.#lastUnreachable.set(id, now);
    setImmediate(() => {
      if (this.#handler === handler) handler.onUnreachable?.(id);
    });
  }

  // ------------------------------------------------------------------ connections

  #accept(ws: WebSocket, remote: string): void {
    if (this.#handler === undefined) {
      ws.terminate();
      return;
    }
    this.#counters.connectionsAccepted++;
    const conn = PeerConnection.accept(ws, remote, this.#ctx, this.#events);
    this.#conns.add(conn);
  }

  #onOpen(conn: PeerConnection): void {
    if (this.#handler === undefined) return;
    const remote = conn.remote!;
    if (conn.role === 'dialer') {
      const owner = this.#snapshotOwner.get(conn);
      if (owner !== undefined) {
        owner.opened(conn);
        return;
      }
      const peer = this.#peers.get(this.#connPeer.get(conn)!);
      if (peer === undefined) {
        conn.close(CloseCode.Removed, 'removed');
        return;
      }
      if (peer.dialing === conn) peer.dialing = undefined;
      peer.backoff.reset();
      this.#attach(peer, conn);
      const waiting = peer.waiting;
      peer.waiting = [];
      peer.waitingBytes = 0;
      for (const f of waiting) this.#deliver(peer, f);
      return;
    }
    // Accepted: the dialer named itself (or does not know its ID yet).
    if (remote.memberId === '') return;
    this.#connPeer.set(conn, remote.memberId);
    const peer = this.#learn(remote.memberId, remote.advertise);
    if (peer !== undefined && conn.stream === 'raft') this.#attach(peer, conn);
  }

  /** Records a peer met through a connection, learning its URL if we had none. */
  #learn(id: NodeId, url: string): Peer | undefined {
    if (this.#removed.has(id) || id === this.#memberId) return undefined;
    const known = this.#peers.get(id);
    if (known !== undefined && known.url !== undefined) return known;
    const peer = this.#peer(id);
    if (url !== '') {
      peer.url = url;
      peer.target = dialTarget(url);
      this.#logger.info(`learned that peer ${id} is at ${url}`);
    }
    return peer;
  }

  /**
   * Makes an open raft-stream connection available for sending to `peer`,
   * settling which connection to keep when there are two.
   */
  #attach(peer: Peer, conn: PeerConnection): void {
    peer.conns.add(conn);
    const cur = peer.active;
    if (cur === undefined || !cur.isOpen || cur === conn) {
      peer.active = conn;
    } else if (cur.remote!.instance !== conn.remote!.instance) {
      // The peer restarted: the older connection belongs to its previous life.
      peer.active = conn;
      cur.close(CloseCode.Replaced, 'replaced by a newer connection');
    } else {
      // Both members dialed each other. Both ends keep the connection the
      // lower member ID dialed, so they agree without another round trip.
      const dialerOf = (c: PeerConnection): string => (c.role === 'dialer' ? this.#memberId : c.remote!.memberId);
      const a = dialerOf(cur);
      const b = dialerOf(conn);
      if (a === '' || b === '' || a === b) {
        peer.active = conn; // cannot rank: keep both until one closes
      } else {
        const keep = a < b ? cur : conn;
        const drop = keep === cur ? conn : cur;
        peer.active = keep;
        drop.close(CloseCode.Duplicate, 'duplicate connection');
      }
    }
    if (!peer.wasActive) {
      peer.wasActive = true;
      this.#logger.info(`peer ${peer.id} became active`);
    }
  }

  #onMessages(conn: PeerConnection, messages: Message[]): void {
    const handler = this.#handler;
    if (handler === undefined) return;
    for (const m of messages) {
      if (this.#memberId === '' && m.to !== '') this.#adopt(m.to, `a message from ${m.from}`);
      if (m.to !== this.#memberId) {
        this.#counters.messagesDropped++;
        this.#rateLog(`to:${this.#connPeer.get(conn) ?? '?'}`, 'warn', `dropped ${MessageType[m.type]} from ${conn.label} addressed to ${m.to}: this member is ${this.#memberId}`);
        continue;
      }
      let from = this.#connPeer.get(conn);
      if (from === undefined && m.from !== '') {
        // A dialer that did not know its ID: its first message names it.
        from = m.from;
        this.#connPeer.set(conn, from);
        const peer = this.#learn(from, conn.remote?.advertise ?? '');
        if (peer !== undefined && conn.stream === 'raft' && conn.isOpen) this.#attach(peer, conn);
      }
      if (m.from !== from) {
        this.#counters.messagesDropped++;
        this.#rateLog(`from:${this.#connPeer.get(conn) ?? '?'}`, 'warn', `dropped ${MessageType[m.type]} claiming to be from ${m.from} on the connection with ${conn.label}`);
        continue;
      }
      if (this.#removed.has(m.from) || (this.#faults.active && this.#faults.maybeDrop(m.from))) {
        this.#counters.messagesDropped++;
        continue;
      }
      this.#counters.messagesReceived++;
      try {
        handler.onMessage(m);
      } catch (e) {
        // A handler that throws has a bug; surface it as the memory network does, without breaking this connection.
        queueMicrotask(() => {
          throw e;
        });
      }
      if (this.#handler !== handler) return;
    }
  }

  #onClose(conn: PeerConnection, info: CloseInfo): void {
    this.#conns.delete(conn);
    this.#closeWaiters.get(conn)?.();
    this.#closeWaiters.delete(conn);
    const peerId = this.#connPeer.get(conn);
    this.#connPeer.delete(conn);
    const owner = this.#snapshotOwner.get(conn);
    if (owner !== undefined) {
      this.#snapshotOwner.delete(conn);
      owner.closed(conn, info);
      return;
    }
    if (this.#handler === undefined || peerId === undefined || conn.stream !== 'raft') return;
    const peer = this.#peers.get(peerId);
    if (peer === undefined) return;
    peer.conns.delete(conn);
    if (!peer.added && peer.conns.size === 0 && (peer.dialing === undefined || peer.dialing === conn)) {
      // Known only from its handshake: forgotten with its last connection,
      // so dialers naming made-up member IDs cannot grow what we keep.
      this.#peers.delete(peer.id);
      for (const key of this.#lastLog.keys()) if (key.endsWith(`:${peer.id}`)) this.#lastLog.delete(key);
      this.#markInactive(peer, info);
      return;
    }
    if (peer.dialing === conn) {
      // The dial failed (refused, unreachable, handshake failed).
      peer.dialing = undefined;
      const delay = peer.backoff.next();
      peer.nextDialAt = this.#clockImpl.now() + delay;
      const lost = peer.waiting.reduce((n, f) => n + f.count, 0);
      peer.waiting = [];
      peer.waitingBytes = 0;
      this.#counters.messagesDropped += lost;
      const why = info.error ? `${info.error.code}: ${info.error.message}` : (info.socketError ?? `connection closed (${info.code})`);
      this.#logger.debug(`cannot reach ${peer.label} (attempt ${peer.backoff.attempts}): ${why}; next attempt in ${delay} ms`);
      // Refusals were logged by the connection; plain failures get a line now and then.
      if (info.error === undefined) this.#rateLog(`unreachable:${peer.id}`, 'warn', `cannot reach ${peer.label}: ${why}`, 30_000);
      this.#markInactive(peer, info);
      this.#reportUnreachable(peer.id);
      return;
    }
    if (peer.active !== conn) return;
    peer.active = undefined;
    for (const c of peer.conns) if (c.isOpen) peer.active = c;
    if (peer.active !== undefined) return;
    if (info.code === CloseCode.Duplicate || info.code === CloseCode.Replaced) {
      // The peer kept the other connection of the pair, which is still in its
      // handshake here: give it a moment rather than dial a third.
      peer.nextDialAt = this.#clockImpl.now() + this.#o.reconnectMinMs;
      return;
    }
    peer.nextDialAt = this.#clockImpl.now() + peer.backoff.next();
    this.#markInactive(peer, info);
    this.#reportUnreachable(peer.id);
  }

  #markInactive(peer: Peer, info: CloseInfo): void {
    if (!peer.wasActive) return;
    peer.wasActive = false;
    const why = info.error ? `${info.error.code}: ${info.error.message}` : `connection closed${info.code ? ` (${info.code}${info.reason ? ` ${info.reason}` : ''})` : ''}`;
    this.#logger.warn(`peer ${peer.id} became inactive (${why})`);
  }

  #refused(conn: PeerConnection, error: WsTransportError): void {
    if (this.#onRefused === undefined) return;
    const memberId = this.#connPeer.get(conn) ?? conn.remote?.memberId ?? '';
    const url = (memberId && this.#peers.get(memberId)?.url) || conn.label;
    try {
      this.#onRefused(error, { memberId, url });
    } catch (e) {
      this.#logger.error(`onRefused threw: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  #adopt(id: NodeId, source: string): void {
    this.#memberId = id;
    this.#peers.delete(id);
    this.#logger.info(`this member's ID is ${id} (learned from ${source})`);
  }

  /** Logs `line` at most once per `intervalMs` per `key`. */
  #rateLog(key: string, level: 'warn' | 'error', line: string, intervalMs = 1000): void {
    const now = this.#clockImpl.now();
    const last = this.#lastLog.get(key);
    if (last !== undefined && now - last < intervalMs) return;
    this.#lastLog.set(key, now);
    this.#logger[level](line);
  }
}
