import type { Clock, Message, RaftLogger, TimerHandle } from '@kv/raft';
import { WebSocket, type RawData } from 'ws';

import { CloseCode, createError, type WsTransportError } from './errors.js';
import { FrameKind, decodeFrame, encodeControlFrame, type Frame, type StreamKind } from './frame-codec.js';
import {
  AcceptorHandshake,
  DialerHandshake,
  type HandshakeStep,
  type LocalIdentity,
  type RandomBytes,
  type RemoteInfo,
} from './handshake.js';

/** Counters a connection adds to; owned by the transport. */
export interface ConnectionCounters {
  framesSent: number;
  framesReceived: number;
  bytesSent: number;
  bytesReceived: number;
  badFrames: number;
  handshakesRefused: number;
}

/** What every connection of one transport shares. */
export interface ConnectionContext {
  /** This member's identity, read at each handshake step. */
  identity(): LocalIdentity;
  /** Whether a member ID was removed (its handshakes are refused). */
  isRemoved(id: string): boolean;
  readonly maxFrameBytes: number;
  readonly handshakeTimeoutMs: number;
  readonly logger: RaftLogger;
  readonly clock: Clock;
  readonly counters: ConnectionCounters;
  readonly random?: RandomBytes;
  /** TLS settings for dialing `wss://` (ignored for `ws://`). */
  readonly tls?: DialTlsOptions;
}

/** TLS settings a dialer uses. */
export interface DialTlsOptions {
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  readonly ca?: string | Buffer | (string | Buffer)[];
  readonly rejectUnauthorized?: boolean;
}

/** How a connection ended. */
export interface CloseInfo {
  readonly code: number;
  readonly reason: string;
  /** Set when this side (or a REJECT from the other) failed the connection with a coded error. */
  readonly error?: WsTransportError;
  /** Whether the handshake had completed. */
  readonly wasOpen: boolean;
  /** The socket error that ended it, if any (`connect ECONNREFUSED …`, a TLS failure). */
  readonly socketError?: string;
}

/** What a connection tells its owner. Never called synchronously from a method of the connection. */
export interface ConnectionEvents {
  /** The handshake completed: `conn.remote` is set and `send` may be used. */
  onOpen(conn: PeerConnection): void;
  /** A batch of messages arrived (only after `onOpen`). */
  onMessages(conn: PeerConnection, messages: Message[]): void;
  /** The connection closed; called once, also when it never opened. */
  onClose(conn: PeerConnection, info: CloseInfo): void;
  /** A handshake was refused, by either side, with this error. */
  onRefused(conn: PeerConnection, error: WsTransportError): void;
}

type State = 'handshaking' | 'open' | 'closing' | 'closed';

/** How long a closing connection may take to finish the close handshake before its socket is destroyed. */
const CLOSE_GRACE_MS = 1000;

/**
 * One WebSocket between this member and a peer, from the first byte to the
 * close: the handshake, frame decoding, keepalive and the close reason.
 *
 * @remarks
 * ```
 *   handshaking ──(handshake done)──> open ──close()/error──> closing ──> closed
 *        │                                                      ▲
 *        └──────────── refused / bad frame / timeout ───────────┘
 * ```
 * Bad input never throws out of here: a malformed or oversized frame, a
 * text frame, a refused handshake or a socket error closes this one
 * connection with a logged reason and a close code (see {@link CloseCode}).
 * The transport owns routing; this class knows nothing of other peers.
 */
export class PeerConnection {
  readonly role: 'dialer' | 'acceptor';
  /** Where the other end is, for log lines: its URL, or its address until the handshake names it. */
  label: string;
  /** Who is at the other end; set once open. */
  remote: RemoteInfo | undefined;
  /** The stream kind: known up front when dialing, from HELLO when accepting. */
  stream: StreamKind;
  #state: State = 'handshaking';
  readonly #ws: WebSocket;
  readonly #ctx: ConnectionContext;
  readonly #events: ConnectionEvents;
  readonly #handshake: AcceptorHandshake | DialerHandshake;
  #handshakeTimer: TimerHandle | undefined;
  #closeTimer: TimerHandle | undefined;
  #closeError: WsTransportError | undefined;
  #alive = true;
  #wasOpen = false;
  #socketError: string | undefined;

  private constructor(
    ws: WebSocket,
    role: 'dialer' | 'acceptor',
    label: string,
    stream: StreamKind,
    handshake: AcceptorHandshake | DialerHandshake,
    ctx: ConnectionContext,
    events: ConnectionEvents,
  ) {
    this.#ws = ws;
    this.role = role;
    this.label = label;
    this.stream = stream;
    this.#handshake = handshake;
    this.#ctx = ctx;
    this.#events = events;
    this.#handshakeTimer = ctx.clock.setTimeout(() => {
      this.#handshakeTimer = undefined;
      if (this.#state !== 'handshaking') return;
      this.#fail(createError('WS_HANDSHAKE_REJECTED', `handshake with ${this.label} did not finish within ${ctx.handshakeTimeoutMs} ms`));
    }, ctx.handshakeTimeoutMs);
    ws.on('message', (data, isBinary) => this.#onFrame(data, isBinary));
    ws.on('pong', () => (this.#alive = true));
    ws.on('error', (err) => this.#onSocketError(err));
    ws.on('close', (code, reason) => this.#onClose(code, reason.toString('utf8')));
  }

  /**
   * Wraps a WebSocket the server accepted; the handshake waits for HELLO.
   *
   * @param remoteAddress - `host:port` of the other end, for log lines.
   */
  static accept(ws: WebSocket, remoteAddress: string, ctx: ConnectionContext, events: ConnectionEvents): PeerConnection {
    const hs = new AcceptorHandshake(() => ctx.identity(), (id) => ctx.isRemoved(id), remoteAddress, ctx.random);
    // The stream kind is what HELLO says; 'raft' until then.
    return new PeerConnection(ws, 'acceptor', remoteAddress, 'raft', hs, ctx, events);
  }

  /**
   * Dials `wsUrl` (a `ws://` or `wss://` URL with the `/raft` path) to
   * reach member `peerId` (`''` if unknown); sends HELLO once the socket opens.
   */
  static dial(
    wsUrl: string,
    peerLabel: string,
    peerId: string,
    stream: StreamKind,
    ctx: ConnectionContext,
    events: ConnectionEvents,
  ): PeerConnection {
    const tls = ctx.tls;
    const ws = new WebSocket(wsUrl, {
      perMessageDeflate: false,
      maxPayload: ctx.maxFrameBytes,
      handshakeTimeout: ctx.handshakeTimeoutMs,
      followRedirects: false,
      ...(wsUrl.startsWith('wss:') && tls
        ? {
            ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
            ...(tls.key !== undefined ? { key: tls.key } : {}),
            ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
            rejectUnauthorized: tls.rejectUnauthorized ?? true,
          }
        : {}),
    });
    const hs = new DialerHandshake(() => ctx.identity(), peerId, peerLabel, stream, ctx.random);
    const conn = new PeerConnection(ws, 'dialer', peerLabel, stream, hs, ctx, events);
    ws.on('open', () => conn.#sendFrame(hs.start()));
    return conn;
  }

  /** Whether the handshake completed and the connection has not started closing. */
  get isOpen(): boolean {
    return this.#state === 'open';
  }

  /** Whether the connection is closing or closed. */
  get isClosed(): boolean {
    return this.#state === 'closing' || this.#state === 'closed';
  }

  /** Bytes handed to the socket and not yet written to the kernel (ws's `bufferedAmount`). */
  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  /**
   * Sends one encoded MESSAGES frame. `done` runs once the frame has been
   * written to the socket (or with an error if it could not be). Only call
   * while {@link isOpen}.
   */
  send(data: Buffer, done?: (err?: Error) => void): void {
    this.#ctx.counters.framesSent++;
    this.#ctx.counters.bytesSent += data.byteLength;
    this.#ws.send(data, { binary: true }, done);
  }

  /**
   * Starts the closing handshake with `code` and a short `reason`; the
   * socket is destroyed if the peer does not answer within a second.
   * Idempotent.
   */
  close(code: number, reason: string): void {
    if (this.#state === 'closing' || this.#state === 'closed') return;
    this.#state = 'closing';
    this.#clearHandshakeTimer();
    try {
      this.#ws.close(code, reason.slice(0, 120));
    } catch {
      // close() throws only for invalid codes; ours are valid, but never let it escape.
      this.#ws.terminate();
    }
    this.#closeTimer = this.#ctx.clock.setTimeout(() => this.#ws.terminate(), CLOSE_GRACE_MS);
  }

  /** Destroys the socket at once (no closing handshake). */
  terminate(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closing';
    this.#ws.terminate();
  }

  /**
   * One keepalive round, called by the transport every keepalive interval:
   * a connection that has not answered the previous ping (and sent nothing
   * since) is dead — a peer that vanished without closing its socket — and
   * is destroyed.
   */
  keepalive(intervalMs: number): void {
    if (this.#state !== 'open') return;
    if (!this.#alive) {
      this.#ctx.logger.warn(`closing the connection with ${this.label}: no pong within ${intervalMs} ms`);
      this.terminate();
      return;
    }
    this.#alive = false;
    try {
      this.#ws.ping();
    } catch {
      // The socket is closing; the close event follows.
    }
  }

  #sendFrame(frame: Exclude<Frame, { kind: FrameKind.Messages }>): void {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    const data = encodeControlFrame(frame);
    this.#ctx.counters.framesSent++;
    this.#ctx.counters.bytesSent += data.byteLength;
    this.#ws.send(data, { binary: true });
  }

  #onFrame(data: RawData, isBinary: boolean): void {
    if (this.#state === 'closed' || this.#closeError !== undefined) return;
    this.#alive = true;
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    this.#ctx.counters.framesReceived++;
    this.#ctx.counters.bytesReceived += buf.byteLength;
    if (!isBinary) {
      this.#fail(createError('WS_BAD_FRAME', `text frame of ${buf.byteLength} bytes from ${this.label}; peers speak binary frames only`, { closeCode: CloseCode.UnsupportedData }));
      return;
    }
    let frame: Frame;
    try {
      frame = decodeFrame(buf, this.#ctx.maxFrameBytes);
    } catch (e) {
      this.#fail(e as WsTransportError);
      return;
    }
    if (this.#state === 'handshaking') {
      this.#step(this.#handshake.receive(frame));
      return;
    }
    if (frame.kind === FrameKind.Messages) {
      if (this.#state === 'open' || this.#state === 'closing') this.#events.onMessages(this, frame.messages);
      return;
    }
    if (frame.kind === FrameKind.Reject) {
      this.#fail(createError(frame.code, `${this.label} closed the connection: ${frame.code}: ${frame.reason}`), { log: 'warn' });
      return;
    }
    this.#fail(createError('WS_BAD_FRAME', `unexpected ${FrameKind[frame.kind]} frame from ${this.label} after the handshake`));
  }

  #step(step: HandshakeStep): void {
    switch (step.kind) {
      case 'continue':
        for (const w of step.warnings) this.#ctx.logger.warn(w);
        this.#sendFrame(step.reply as Exclude<Frame, { kind: FrameKind.Messages }>);
        return;
      case 'open': {
        for (const w of step.warnings) this.#ctx.logger.warn(w);
        if (step.reply) this.#sendFrame(step.reply as Exclude<Frame, { kind: FrameKind.Messages }>);
        this.#clearHandshakeTimer();
        this.remote = step.remote;
        this.stream = step.remote.stream;
        if (this.role === 'acceptor') {
          this.label = `${step.remote.memberId ? `member ${step.remote.memberId}` : 'a member with no ID yet'} (${step.remote.advertise || this.label})`;
        }
        this.#state = 'open';
        this.#wasOpen = true;
        this.#events.onOpen(this);
        return;
      }
      case 'refuse':
        this.#ctx.counters.handshakesRefused++;
        this.#sendFrame(step.reply);
        this.#fail(step.error, { log: 'error' });
        this.#events.onRefused(this, step.error);
        return;
      case 'refused':
        this.#ctx.counters.handshakesRefused++;
        this.#fail(step.error, { log: 'error' });
        this.#events.onRefused(this, step.error);
        return;
    }
  }

  /** Closes the connection because of `error`, logging why. */
  #fail(error: WsTransportError, opts: { log?: 'warn' | 'error' } = {}): void {
    if (this.#closeError !== undefined || this.#state === 'closed') return;
    this.#closeError = error;
    if (error.code === 'WS_BAD_FRAME' || error.code === 'WS_FRAME_TOO_LARGE') this.#ctx.counters.badFrames++;
    const line = `closing the connection with ${this.label}: ${error.code}: ${error.message}`;
    if ((opts.log ?? 'warn') === 'error') this.#ctx.logger.error(line);
    else this.#ctx.logger.warn(line);
    this.close(error.closeCode, error.code);
  }

  #onSocketError(err: Error & { code?: string }): void {
    // ws reports protocol violations it found itself (a frame over
    // maxPayload, a bad opcode, an unmasked client frame) with WS_ERR_*
    // codes, then closes the socket; connection failures (refused, reset,
    // TLS) arrive here too. Nothing is thrown.
    if (this.#closeError !== undefined || this.#state === 'closed') return;
    this.#socketError ??= err.message;
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' || err.code === 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH') {
      // Checked by ws on the frame header, before any of the payload is buffered.
      this.#fail(createError('WS_FRAME_TOO_LARGE', `${this.label} sent a frame over maxFrameBytes (${this.#ctx.maxFrameBytes}): ${err.message}`, { cause: err }));
    } else if (typeof err.code === 'string' && err.code.startsWith('WS_ERR_')) {
      this.#fail(createError('WS_BAD_FRAME', `${this.label} broke the WebSocket protocol: ${err.message}`, { cause: err }));
    } else if (this.#wasOpen) {
      this.#ctx.logger.warn(`connection with ${this.label} failed: ${err.message}`);
    } else {
      this.#ctx.logger.debug(`cannot connect to ${this.label}: ${err.message}`);
    }
  }

  #onClose(code: number, reason: string): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#clearHandshakeTimer();
    if (this.#closeTimer !== undefined) this.#ctx.clock.clearTimeout(this.#closeTimer);
    this.#closeTimer = undefined;
    this.#events.onClose(this, {
      code,
      reason,
      wasOpen: this.#wasOpen,
      ...(this.#closeError !== undefined ? { error: this.#closeError } : {}),
      ...(this.#socketError !== undefined ? { socketError: this.#socketError } : {}),
    });
  }

  #clearHandshakeTimer(): void {
    if (this.#handshakeTimer !== undefined) this.#ctx.clock.clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = undefined;
  }
}
