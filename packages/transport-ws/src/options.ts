import type { Clock, RaftLogger } from '@kv/raft';

import type { WsTransportError } from './errors.js';
import type { RandomBytes } from './handshake.js';
import { PEER_PATH } from './server.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Certificates for `wss://`, used by both the listening and the dialing side. */
export interface WsTlsOptions {
  /** This member's certificate (PEM): served when listening on `wss://`, presented as a client certificate when dialing. */
  readonly cert?: string | Buffer;
  /** The private key of `cert` (PEM). */
  readonly key?: string | Buffer;
  /**
   * Certificate authorities to trust (PEM), for peers' server certificates
   * and, with `clientCertAuth`, their client certificates. A self-signed
   * certificate can be its own CA.
   * @defaultValue Node's bundled root CAs
   */
  readonly ca?: string | Buffer | (string | Buffer)[];
  /**
   * Require dialing peers to present a certificate that chains to `ca`
   * (etcd's `--peer-client-cert-auth`).
   * @defaultValue false
   */
  readonly clientCertAuth?: boolean;
  /**
   * Verify peers' server certificates when dialing `wss://`. Turn off only
   * in tests.
   * @defaultValue true
   */
  readonly rejectUnauthorized?: boolean;
}

/** Who a refused handshake was with, as far as known. */
export interface RefusedPeer {
  /** The peer's member ID; `''` when it was not known. */
  readonly memberId: string;
  /** The peer's URL, or its address for an inbound connection that never said. */
  readonly url: string;
}

/** Options of {@link wsTransport}. */
export interface WsTransportOptions {
  /**
   * Where to listen: `ws://host:port` or `http://host:port` for plain
   * WebSocket, `wss://host:port` or `https://host:port` for TLS (then `tls`
   * must hold `cert` and `key`). etcd's peer URLs are `http://`: this
   * transport speaks WebSocket on that port. Port `0` picks a free port
   * (see {@link WsTransport.url}); a restart of the same transport binds the
   * port it had.
   */
  readonly listen: string;
  /**
   * The URL other members reach this one at, sent in every handshake so a
   * peer that did not know this member can answer it.
   * @defaultValue `listen`, with the bound port; required when `listen`
   * binds a wildcard address (`0.0.0.0`, `::`)
   */
  readonly advertise?: string;
  /** Certificates for `wss://` (listening and dialing). */
  readonly tls?: WsTlsOptions;
  /**
   * A secret every member shares. When set, each handshake runs an HMAC
   * challenge-response over random nonces from both sides, and a peer that
   * cannot prove the secret is refused (`WS_AUTH_FAILED`). All members must
   * agree: a member with a secret refuses one without.
   * @defaultValue none (no authentication; use TLS client certificates or a private network)
   */
  readonly secret?: string | Uint8Array;
  /**
   * The cluster ID. Handshakes between members whose IDs are both known and
   * differ are refused on both sides (`WS_CLUSTER_ID_MISMATCH`). Unknown
   * (`''`) skips the check; set it later with {@link WsTransport.setClusterId}.
   * @defaultValue ''
   */
  readonly clusterId?: string;
  /**
   * This member's ID. When unknown (a member joining a cluster learns its ID
   * from the cluster) the transport takes it from the first message
   * addressed to it, the first message it sends, or
   * {@link WsTransport.setMemberId}, whichever comes first.
   * @defaultValue '' (unknown)
   */
  readonly memberId?: string;
  /**
   * Largest frame sent or accepted, in bytes (ws's `maxPayload` on both
   * ends). Batches are split to fit; a single message that does not fit is
   * dropped with `WS_FRAME_TOO_LARGE` logged; snapshots are split into
   * chunks of `snapshotChunkBytes`. A peer's larger frame closes its
   * connection (close code 1009). Keep it above the Raft core's
   * `maxSizePerMsgBytes` (1 MiB by default) plus headroom.
   * @defaultValue 16 MiB
   */
  readonly maxFrameBytes?: number;
  /**
   * How many bytes may wait in one peer connection's socket (ws's
   * `bufferedAmount`) before further messages to that peer are dropped and
   * `onUnreachable` reported: what a slow or stuck peer can cost in memory.
   * Raft retries what is dropped. At least `maxFrameBytes`.
   * @defaultValue 64 MiB
   */
  readonly maxBufferedBytes?: number;
  /**
   * Size of the pieces a snapshot is sent in on its own connection.
   * @defaultValue min(1 MiB, maxFrameBytes / 2)
   */
  readonly snapshotChunkBytes?: number;
  /** First reconnect delay after a failure, in ms (doubles per failure, with jitter). @defaultValue 100 */
  readonly reconnectMinMs?: number;
  /** Longest reconnect delay, in ms. @defaultValue 2000 */
  readonly reconnectMaxMs?: number;
  /** Time a connection has to finish the handshake, in ms. @defaultValue 5000 */
  readonly handshakeTimeoutMs?: number;
  /**
   * Interval of WebSocket pings, in ms. A connection that answers neither
   * the ping nor anything else within one interval is closed (a peer that
   * vanished without closing its socket).
   * @defaultValue 10000
   */
  readonly keepaliveIntervalMs?: number;
  /** A snapshot connection with nothing to send is closed after this long, in ms. @defaultValue 30000 */
  readonly snapshotIdleMs?: number;
  /** Clock difference against a peer that draws a warning, in ms (etcd: 1 s). @defaultValue 1000 */
  readonly maxClockSkewMs?: number;
  /** `onUnreachable` is reported at most once per peer per this many ms. @defaultValue 100 */
  readonly unreachableIntervalMs?: number;
  /**
   * Where log lines go: refusals (both sides say why), peers becoming
   * active/inactive, dropped messages, clock skew, bad frames.
   * @defaultValue warnings and errors to `console`, prefixed `kv transport-ws:`
   */
  readonly logger?: RaftLogger;
  /**
   * Timers for handshake timeouts, keepalive and idle snapshot connections,
   * and `now()` for reconnect backoff.
   * @defaultValue the real clock
   */
  readonly clock?: Clock;
  /**
   * Wall-clock time in ms since the Unix epoch, exchanged in handshakes to
   * detect clock skew between members. Inject to test the warning.
   * @defaultValue `Date.now`
   */
  readonly wallClock?: () => number;
  /**
   * Called when a handshake is refused, by this side or the peer, with the
   * coded error (`WS_CLUSTER_ID_MISMATCH`, `WS_AUTH_FAILED`,
   * `WS_HANDSHAKE_REJECTED`, `WS_BAD_FRAME`). A host may stop on a cluster
   * ID mismatch, as etcd does ("conflicting cluster ID … Exiting"); the
   * transport itself only logs and keeps refusing.
   */
  readonly onRefused?: (error: WsTransportError, peer: RefusedPeer) => void;
  /** Random bytes for nonces and the instance ID. @defaultValue `crypto.randomBytes` @internal */
  readonly randomBytes?: RandomBytes;
  /** Jitter source for reconnect backoff, in [0, 1). @defaultValue `Math.random` @internal */
  readonly random?: () => number;
}

/** Options with defaults applied and checked. */
export interface ResolvedOptions {
  listen: URL;
  listenHost: string;
  listenPort: number;
  secure: boolean;
  advertise: string | undefined;
  secret: Buffer | undefined;
  maxFrameBytes: number;
  maxBufferedBytes: number;
  snapshotChunkBytes: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  handshakeTimeoutMs: number;
  keepaliveIntervalMs: number;
  snapshotIdleMs: number;
  maxClockSkewMs: number;
  unreachableIntervalMs: number;
}

function positiveInt(field: string, v: number): number {
  if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`wsTransport: ${field} must be a positive integer, got ${v}`);
  return v;
}

const WILDCARD_HOSTS = new Set(['', '0.0.0.0', '::', '[::]']);

/**
 * Applies defaults to {@link WsTransportOptions} and checks them.
 *
 * @throws TypeError or RangeError naming the option at fault.
 */
export function resolveOptions(o: WsTransportOptions): ResolvedOptions {
  if (o === null || typeof o !== 'object') throw new TypeError('wsTransport: options are required ({ listen })');
  if (typeof o.listen !== 'string') throw new TypeError('wsTransport: listen must be a URL such as ws://127.0.0.1:2380');
  let listen: URL;
  try {
    listen = new URL(o.listen);
  } catch {
    throw new RangeError(`wsTransport: listen is not a URL: ${JSON.stringify(o.listen)}`);
  }
  const secure = listen.protocol === 'wss:' || listen.protocol === 'https:';
  if (!secure && listen.protocol !== 'ws:' && listen.protocol !== 'http:') {
    throw new RangeError(`wsTransport: listen must be a ws://, wss://, http:// or https:// URL, got ${o.listen}`);
  }
  if (secure && (o.tls?.cert === undefined || o.tls?.key === undefined)) {
    throw new RangeError(`wsTransport: listening on ${listen.protocol}// needs tls.cert and tls.key`);
  }
  const listenHost = listen.hostname.replace(/^\[(.*)\]$/, '$1');
  const listenPort = listen.port === '' ? (secure ? 443 : 80) : Number(listen.port);
  if (o.advertise === undefined && WILDCARD_HOSTS.has(listen.hostname)) {
    throw new RangeError(`wsTransport: listen binds every address (${o.listen}); set advertise to the URL peers reach this member at`);
  }
  if (o.advertise !== undefined) {
    let a: URL;
    try {
      a = new URL(o.advertise);
    } catch {
      throw new RangeError(`wsTransport: advertise is not a URL: ${JSON.stringify(o.advertise)}`);
    }
    if (!['ws:', 'wss:', 'http:', 'https:'].includes(a.protocol)) {
      throw new RangeError(`wsTransport: advertise must be a ws://, wss://, http:// or https:// URL, got ${o.advertise}`);
    }
  }
  let secret: Buffer | undefined;
  if (o.secret !== undefined) {
    secret = typeof o.secret === 'string' ? Buffer.from(o.secret, 'utf8') : Buffer.from(o.secret);
    if (secret.byteLength === 0) throw new RangeError('wsTransport: secret must not be empty');
  }
  const maxFrameBytes = positiveInt('maxFrameBytes', o.maxFrameBytes ?? 16 * MiB);
  if (maxFrameBytes < 4 * KiB) throw new RangeError(`wsTransport: maxFrameBytes must be at least 4096, got ${maxFrameBytes}`);
  const maxBufferedBytes = positiveInt('maxBufferedBytes', o.maxBufferedBytes ?? Math.max(64 * MiB, maxFrameBytes));
  if (maxBufferedBytes < maxFrameBytes) {
    throw new RangeError(`wsTransport: maxBufferedBytes (${maxBufferedBytes}) must be at least maxFrameBytes (${maxFrameBytes})`);
  }
  const snapshotChunkBytes = positiveInt('snapshotChunkBytes', o.snapshotChunkBytes ?? Math.min(MiB, Math.floor(maxFrameBytes / 2)));
  if (snapshotChunkBytes > maxFrameBytes - KiB) {
    throw new RangeError(`wsTransport: snapshotChunkBytes (${snapshotChunkBytes}) must leave 1 KiB of maxFrameBytes (${maxFrameBytes}) for headers`);
  }
  const reconnectMinMs = positiveInt('reconnectMinMs', o.reconnectMinMs ?? 100);
  const reconnectMaxMs = positiveInt('reconnectMaxMs', o.reconnectMaxMs ?? 2000);
  if (reconnectMaxMs < reconnectMinMs) {
    throw new RangeError(`wsTransport: reconnectMaxMs (${reconnectMaxMs}) must be at least reconnectMinMs (${reconnectMinMs})`);
  }
  for (const f of ['clusterId', 'memberId'] as const) {
    if (o[f] !== undefined && typeof o[f] !== 'string') throw new TypeError(`wsTransport: ${f} must be a string`);
  }
  return {
    listen,
    listenHost,
    listenPort,
    secure,
    advertise: o.advertise,
    secret,
    maxFrameBytes,
    maxBufferedBytes,
    snapshotChunkBytes,
    reconnectMinMs,
    reconnectMaxMs,
    handshakeTimeoutMs: positiveInt('handshakeTimeoutMs', o.handshakeTimeoutMs ?? 5000),
    keepaliveIntervalMs: positiveInt('keepaliveIntervalMs', o.keepaliveIntervalMs ?? 10_000),
    snapshotIdleMs: positiveInt('snapshotIdleMs', o.snapshotIdleMs ?? 30_000),
    maxClockSkewMs: positiveInt('maxClockSkewMs', o.maxClockSkewMs ?? 1000),
    unreachableIntervalMs: positiveInt('unreachableIntervalMs', o.unreachableIntervalMs ?? 100),
  };
}

/** `ws(s)://host:port/…/raft` for a peer URL, or why it cannot be dialed. */
export function dialTarget(url: string): { url: string } | { error: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { error: `${JSON.stringify(url)} is not a URL` };
  }
  const scheme = u.protocol === 'ws:' || u.protocol === 'http:' ? 'ws:' : u.protocol === 'wss:' || u.protocol === 'https:' ? 'wss:' : undefined;
  if (scheme === undefined) return { error: `${url} is not a ws://, wss://, http:// or https:// URL` };
  return { url: `${scheme}//${u.host}${u.pathname.replace(/\/+$/, '')}${PEER_PATH}` };
}

