import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

import { createError, type WsTransportError } from './errors.js';
import {
  FrameKind,
  PROTOCOL_VERSION,
  type ChallengeFrame,
  type Frame,
  type HelloFrame,
  type ProofFrame,
  type RejectFrame,
  type StreamKind,
} from './frame-codec.js';

/**
 * The handshake every peer connection runs before it carries messages, as
 * two small state machines with no I/O: the connection feeds them frames
 * and does what the returned step says.
 *
 * ```
 *  dialer                                        acceptor
 *  ──────                                        ────────
 *  HELLO {v, cluster, from, to, url, time,  ──▶  check version, cluster ID, `to`, removed
 *         nonce_d, stream, instance}              (refuse → REJECT, close)
 *                                           ◀──  CHALLENGE {cluster, from, url, time,
 *                                                           nonce_a, instance, proof_a?}
 *  check cluster ID, who answered, proof_a
 *  (refuse → REJECT, close)
 *  PROOF {proof_d?}                         ──▶  check proof_d (refuse → REJECT WS_AUTH_FAILED)
 *                                           ◀──  WELCOME
 *  open                                          open
 * ```
 *
 * With a shared secret, `proof_a = HMAC(secret, "acceptor" ‖ transcript)`
 * and `proof_d = HMAC(secret, "dialer" ‖ transcript)`, where the transcript
 * holds every field of HELLO and CHALLENGE, both random nonces among them.
 * Each side proves the secret over the other's fresh nonce, so neither a
 * replayed answer nor one reflected from the other direction passes.
 * Without a secret both proofs are absent; a side that has a secret refuses
 * a peer that sends none.
 *
 * @packageDocumentation
 */

/** What the local member says about itself, read when a handshake step runs. */
export interface LocalIdentity {
  /** The cluster ID; `''` when not known yet (then it is not checked). */
  readonly clusterId: string;
  /** This member's ID; `''` when not known yet (a joining member). */
  readonly memberId: string;
  /** The advertised peer URL. */
  readonly advertise: string;
  /** Random per start of the transport. */
  readonly instance: string;
  /** The shared secret, if any. */
  readonly secret: Buffer | undefined;
  /** Wall-clock time now, ms since the Unix epoch. */
  readonly now: number;
  /** Largest clock difference that passes without a warning, in ms. */
  readonly maxClockSkewMs: number;
}

/** Who is at the other end of an open connection. */
export interface RemoteInfo {
  /** The peer's member ID; `''` when it did not know its own yet. */
  readonly memberId: string;
  /** The peer's cluster ID; `''` when it did not know it. */
  readonly clusterId: string;
  /** The peer's advertised URL. */
  readonly advertise: string;
  /** The peer transport's instance (changes when it restarts). */
  readonly instance: string;
  readonly stream: StreamKind;
  /** Estimated peer clock minus ours, in ms. */
  readonly clockSkewMs: number;
}

/** What the connection must do after feeding a frame to a handshake. */
export type HandshakeStep =
  /** Send `reply` and wait for the next frame. */
  | { readonly kind: 'continue'; readonly reply: Frame; readonly warnings: readonly string[] }
  /** The handshake succeeded: send `reply` (if any), then messages may flow. */
  | { readonly kind: 'open'; readonly remote: RemoteInfo; readonly reply?: Frame; readonly warnings: readonly string[] }
  /** This side refuses: send `reply` (a REJECT), log `error.message`, close with `error.closeCode`. */
  | { readonly kind: 'refuse'; readonly error: WsTransportError; readonly reply: RejectFrame }
  /** The other side refused (it sent REJECT): log `error.message` and close. */
  | { readonly kind: 'refused'; readonly error: WsTransportError };

/** Bytes of each random nonce. */
export const NONCE_BYTES = 32;

/** A source of random bytes; `crypto.randomBytes` unless a test injects one. */
export type RandomBytes = (n: number) => Uint8Array;

type Role = 'acceptor' | 'dialer';

function transcript(hello: HelloFrame, c: Omit<ChallengeFrame, 'proof' | 'kind'>): string {
  const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
  // JSON keeps the fields apart whatever characters IDs and URLs hold.
  return JSON.stringify([
    'kv-ws',
    PROTOCOL_VERSION,
    hello.cluster,
    hello.from,
    hello.to,
    hello.url,
    hello.time,
    hex(hello.nonce),
    hello.stream,
    hello.instance,
    c.cluster,
    c.from,
    c.url,
    c.time,
    hex(c.nonce),
    c.instance,
  ]);
}

function prove(secret: Buffer, role: Role, text: string): Buffer {
  return createHmac('sha256', secret).update(role).update('\n').update(text).digest();
}

function proofMatches(secret: Buffer, role: Role, text: string, proof: Uint8Array | undefined): boolean {
  if (proof === undefined) return false;
  const want = prove(secret, role, text);
  return proof.byteLength === want.byteLength && timingSafeEqual(want, proof);
}

/** The etcd-worded warning for a peer whose clock is off by more than the limit, or undefined. */
export function clockSkewWarning(peer: string, skewMs: number, maxMs: number): string | undefined {
  if (Math.abs(skewMs) <= maxMs) return undefined;
  return `the clock difference against peer ${peer} is too high [${(Math.abs(skewMs) / 1000).toFixed(3)}s > ${maxMs / 1000}s]`;
}

function reject(error: WsTransportError, cluster: string): HandshakeStep {
  return { kind: 'refuse', error, reply: { kind: FrameKind.Reject, code: error.code, reason: error.message, cluster } };
}

function refusedBy(peer: string, r: RejectFrame, local: LocalIdentity): HandshakeStep {
  if (r.code === 'WS_CLUSTER_ID_MISMATCH') {
    return {
      kind: 'refused',
      error: createError(
        'WS_CLUSTER_ID_MISMATCH',
        `request sent was ignored (cluster ID mismatch: peer[${peer}]=${r.cluster || '?'}, local=${local.clusterId || '?'}): ` +
          `conflicting cluster ID, this member's data belongs to another cluster than ${peer}'s (peer said: ${r.reason})`,
      ),
    };
  }
  return { kind: 'refused', error: createError(r.code, `${peer} refused the connection: ${r.code}: ${r.reason}`) };
}

function unexpected(expected: string, got: Frame, cluster: string): HandshakeStep {
  return reject(createError('WS_BAD_FRAME', `expected ${expected} during the handshake, got ${FrameKind[got.kind]}`), cluster);
}

/**
 * The accepting side of the handshake (see the module comment).
 *
 * @remarks
 * States: `hello → proof → open`. Feed each frame to {@link receive};
 * after a `refuse` or `refused` step the connection must close.
 */
export class AcceptorHandshake {
  #state: 'hello' | 'proof' | 'done' = 'hello';
  #hello: HelloFrame | undefined;
  #challenge: ChallengeFrame | undefined;
  #skewMs = 0;

  /**
   * @param local - reads this member's identity (it may change between
   *   connections: a joining member learns its ID).
   * @param isRemoved - whether a member ID was removed (its connections are refused).
   * @param remoteLabel - names the other end in log lines (its address).
   */
  constructor(
    private readonly local: () => LocalIdentity,
    private readonly isRemoved: (id: string) => boolean,
    private readonly remoteLabel: string,
    private readonly random: RandomBytes = randomBytes,
  ) {}

  receive(frame: Frame): HandshakeStep {
    const local = this.local();
    if (frame.kind === FrameKind.Reject) {
      this.#state = 'done';
      return refusedBy(this.#who(), frame, local);
    }
    if (this.#state === 'hello') {
      if (frame.kind !== FrameKind.Hello) return unexpected('HELLO', frame, local.clusterId);
      return this.#onHello(frame, local);
    }
    if (this.#state === 'proof') {
      if (frame.kind !== FrameKind.Proof) return unexpected('PROOF', frame, local.clusterId);
      return this.#onProof(frame, local);
    }
    return unexpected('nothing', frame, local.clusterId);
  }

  #who(): string {
    const h = this.#hello;
    if (h === undefined) return this.remoteLabel;
    return `${h.from ? `member ${h.from}` : 'a member with no ID yet'} (${h.url || this.remoteLabel})`;
  }

  #onHello(h: HelloFrame, local: LocalIdentity): HandshakeStep {
    this.#hello = h;
    const refuse = (code: Parameters<typeof createError>[0], message: string): HandshakeStep => {
      this.#state = 'done';
      return reject(createError(code, message), local.clusterId);
    };
    if (h.v !== PROTOCOL_VERSION) {
      return refuse('WS_HANDSHAKE_REJECTED', `${this.#who()} speaks protocol version ${h.v}; this member speaks ${PROTOCOL_VERSION}`);
    }
    if (local.clusterId !== '' && h.cluster !== '' && h.cluster !== local.clusterId) {
      return refuse('WS_CLUSTER_ID_MISMATCH', `request cluster ID mismatch (got ${h.cluster} want ${local.clusterId}) from ${this.#who()}`);
    }
    if (h.from !== '' && h.from === local.memberId) {
      return refuse('WS_HANDSHAKE_REJECTED', `${this.#who()} claims this member's own ID ${h.from}`);
    }
    if (local.memberId !== '' && h.to !== '' && h.to !== local.memberId) {
      return refuse('WS_HANDSHAKE_REJECTED', `streaming request ignored (member ID mismatch got ${h.to} want ${local.memberId}) from ${this.#who()}`);
    }
    if (h.from !== '' && this.isRemoved(h.from)) {
      return refuse('WS_HANDSHAKE_REJECTED', `${this.#who()} was removed from the cluster`);
    }
    this.#skewMs = h.time - local.now;
    const body = {
      cluster: local.clusterId,
      from: local.memberId,
      url: local.advertise,
      time: local.now,
      nonce: this.random(NONCE_BYTES),
      instance: local.instance,
    };
    const proof = local.secret ? prove(local.secret, 'acceptor', transcript(h, body)) : undefined;
    this.#challenge = { kind: FrameKind.Challenge, ...body, proof };
    this.#state = 'proof';
    const warning = clockSkewWarning(h.from || h.url, this.#skewMs, local.maxClockSkewMs);
    return { kind: 'continue', reply: this.#challenge, warnings: warning ? [warning] : [] };
  }

  #onProof(p: ProofFrame, local: LocalIdentity): HandshakeStep {
    const h = this.#hello!;
    const c = this.#challenge!;
    this.#state = 'done';
    if (local.secret && !proofMatches(local.secret, 'dialer', transcript(h, c), p.proof)) {
      return reject(
        createError(
          'WS_AUTH_FAILED',
          `${this.#who()} failed authentication: ${p.proof === undefined ? 'it sent no proof of the shared secret' : 'its proof of the shared secret is wrong'}`,
        ),
        local.clusterId,
      );
    }
    return {
      kind: 'open',
      reply: { kind: FrameKind.Welcome },
      remote: { memberId: h.from, clusterId: h.cluster, advertise: h.url, instance: h.instance, stream: h.stream, clockSkewMs: this.#skewMs },
      warnings: [],
    };
  }
}

/**
 * The dialing side of the handshake (see the module comment).
 *
 * @remarks
 * States: `start → challenge → welcome → open`. Call {@link start} once
 * the socket opens and send its HELLO; feed each frame to {@link receive}.
 */
export class DialerHandshake {
  #state: 'new' | 'challenge' | 'welcome' | 'done' = 'new';
  #hello: HelloFrame | undefined;
  #challenge: ChallengeFrame | undefined;
  #skewMs = 0;

  /**
   * @param local - reads this member's identity.
   * @param peerId - the member this connection is meant to reach (`''` if unknown).
   * @param url - where it was dialed, for log lines.
   * @param stream - which kind of connection this is.
   */
  constructor(
    private readonly local: () => LocalIdentity,
    private readonly peerId: string,
    private readonly url: string,
    private readonly stream: StreamKind,
    private readonly random: RandomBytes = randomBytes,
  ) {}

  /** The HELLO to send first. */
  start(): HelloFrame {
    const local = this.local();
    this.#hello = {
      kind: FrameKind.Hello,
      v: PROTOCOL_VERSION,
      cluster: local.clusterId,
      from: local.memberId,
      to: this.peerId,
      url: local.advertise,
      time: local.now,
      nonce: this.random(NONCE_BYTES),
      stream: this.stream,
      instance: local.instance,
    };
    this.#state = 'challenge';
    return this.#hello;
  }

  #who(): string {
    return this.peerId ? `peer ${this.peerId} (${this.url})` : `peer at ${this.url}`;
  }

  receive(frame: Frame): HandshakeStep {
    const local = this.local();
    if (frame.kind === FrameKind.Reject) {
      this.#state = 'done';
      return refusedBy(this.peerId || this.url, frame, local);
    }
    if (this.#state === 'challenge') {
      if (frame.kind !== FrameKind.Challenge) return unexpected('CHALLENGE', frame, local.clusterId);
      return this.#onChallenge(frame, local);
    }
    if (this.#state === 'welcome') {
      if (frame.kind !== FrameKind.Welcome) return unexpected('WELCOME', frame, local.clusterId);
      this.#state = 'done';
      const c = this.#challenge!;
      return {
        kind: 'open',
        remote: { memberId: c.from, clusterId: c.cluster, advertise: c.url, instance: c.instance, stream: this.stream, clockSkewMs: this.#skewMs },
        warnings: [],
      };
    }
    return unexpected('nothing', frame, local.clusterId);
  }

  #onChallenge(c: ChallengeFrame, local: LocalIdentity): HandshakeStep {
    const h = this.#hello!;
    const refuse = (code: Parameters<typeof createError>[0], message: string): HandshakeStep => {
      this.#state = 'done';
      return reject(createError(code, message), local.clusterId);
    };
    if (local.clusterId !== '' && c.cluster !== '' && c.cluster !== local.clusterId) {
      return refuse(
        'WS_CLUSTER_ID_MISMATCH',
        `conflicting cluster ID with ${this.#who()}: local=${local.clusterId}, peer=${c.cluster}; this member's data belongs to another cluster`,
      );
    }
    if (c.from !== '' && c.from === local.memberId) {
      return refuse('WS_HANDSHAKE_REJECTED', `dialed ${this.#who()} but reached this member itself`);
    }
    if (this.peerId !== '' && c.from !== '' && c.from !== this.peerId) {
      return refuse('WS_HANDSHAKE_REJECTED', `dialed ${this.#who()} but reached member ${c.from}`);
    }
    if (local.secret && !proofMatches(local.secret, 'acceptor', transcript(h, c), c.proof)) {
      return refuse(
        'WS_AUTH_FAILED',
        `${this.#who()} failed authentication: ${c.proof === undefined ? 'it sent no proof of the shared secret' : 'its proof of the shared secret is wrong'}`,
      );
    }
    // Half the round trip is the best guess of when the peer read its clock.
    const sentAt = h.time;
    this.#skewMs = c.time - (sentAt + (local.now - sentAt) / 2);
    this.#challenge = c;
    this.#state = 'welcome';
    const proof = local.secret ? prove(local.secret, 'dialer', transcript(h, c)) : undefined;
    const warning = clockSkewWarning(this.peerId || c.from || this.url, this.#skewMs, local.maxClockSkewMs);
    return { kind: 'continue', reply: { kind: FrameKind.Proof, proof }, warnings: warning ? [warning] : [] };
  }
}
