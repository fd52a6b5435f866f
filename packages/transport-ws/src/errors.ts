/**
 * Errors of @kv/transport-ws.
 *
 * Everything that goes wrong on a peer connection because of the other end
 * (a refused handshake, a frame that is too large or malformed) becomes a
 * {@link WsTransportError} made by {@link createError}: it is logged, the
 * connection it came from is closed with the matching WebSocket close code,
 * and the process goes on. None of these errors is ever thrown out of
 * `send()`; they reach a host through the logger and the `onRefused` option.
 *
 * @packageDocumentation
 */

/** Stable codes of {@link WsTransportError}. Each has a section in the package README. */
export type WsTransportErrorCode =
  | 'WS_HANDSHAKE_REJECTED'
  | 'WS_FRAME_TOO_LARGE'
  | 'WS_BAD_FRAME'
  | 'WS_CLUSTER_ID_MISMATCH'
  | 'WS_AUTH_FAILED';

/**
 * WebSocket close codes this transport uses (RFC 6455 §7.4, and the private
 * range 4000–4999 for its own reasons).
 */
export const CloseCode = {
  /** A connection that is not needed any more (idle snapshot stream). */
  Normal: 1000,
  /** The transport is stopping. */
  GoingAway: 1001,
  /** A text frame: this protocol is binary only. */
  UnsupportedData: 1003,
  /** A binary frame that does not decode to a valid frame (`WS_BAD_FRAME`). */
  InvalidPayload: 1007,
  /** A handshake was refused (`WS_HANDSHAKE_REJECTED`, `WS_CLUSTER_ID_MISMATCH`, `WS_AUTH_FAILED`). */
  PolicyViolation: 1008,
  /** A frame over `maxFrameBytes` (`WS_FRAME_TOO_LARGE`). */
  MessageTooBig: 1009,
  /** The other connection of a pair that both members dialed at once is kept; this one goes. */
  Duplicate: 4001,
  /** The peer was removed with `removePeer`. */
  Removed: 4003,
  /** The peer restarted and connected again; this older connection is replaced. */
  Replaced: 4004,
  /** No pong arrived within the keepalive interval. */
  Timeout: 4008,
} as const;

/** The close code sent when a connection fails with each error code. */
const CLOSE_CODE_OF: Record<WsTransportErrorCode, number> = {
  WS_HANDSHAKE_REJECTED: CloseCode.PolicyViolation,
  WS_FRAME_TOO_LARGE: CloseCode.MessageTooBig,
  WS_BAD_FRAME: CloseCode.InvalidPayload,
  WS_CLUSTER_ID_MISMATCH: CloseCode.PolicyViolation,
  WS_AUTH_FAILED: CloseCode.PolicyViolation,
};

const ALL_CODES: readonly WsTransportErrorCode[] = Object.keys(CLOSE_CODE_OF) as WsTransportErrorCode[];

const WS_TRANSPORT_ERROR_BRAND = Symbol.for('kv.transport-ws.WsTransportError');

/**
 * A peer connection failed for a reason with a stable code: the connection
 * was closed, nothing else changed.
 *
 * @remarks
 * Branded with `Symbol.for`, so `instanceof` holds across two installed
 * copies of the package. `closeCode` is the WebSocket close code the
 * connection was (or will be) closed with.
 */
export class WsTransportError extends Error {
  override readonly name = 'WsTransportError';
  readonly code: WsTransportErrorCode;
  /** The WebSocket close code that goes with `code`. */
  readonly closeCode: number;

  constructor(code: WsTransportErrorCode, message: string, options?: { cause?: unknown; closeCode?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.closeCode = options?.closeCode ?? CLOSE_CODE_OF[code];
  }

  get [WS_TRANSPORT_ERROR_BRAND](): true {
    return true;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[WS_TRANSPORT_ERROR_BRAND] === true;
  }
}

/**
 * Makes the error for one failure: the one place a {@link WsTransportError}
 * is built, so code, message and close code always agree.
 *
 * @param code - the stable code.
 * @param message - what happened, naming the value and the limit ("frame is
 *   5000000 bytes, maxFrameBytes is 4194304").
 * @param options - `cause` to chain; `closeCode` to override the code's
 *   default close code (a text frame is `WS_BAD_FRAME` with 1003).
 */
export function createError(
  code: WsTransportErrorCode,
  message: string,
  options?: { cause?: unknown; closeCode?: number },
): WsTransportError {
  return new WsTransportError(code, message, options);
}

/** Whether `value` is one of the codes (for codes read off the wire). */
export function isWsTransportErrorCode(value: unknown): value is WsTransportErrorCode {
  return typeof value === 'string' && (ALL_CODES as readonly string[]).includes(value);
}
