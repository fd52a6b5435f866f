/**
 * @kv/transport-ws — the Raft peer transport over WebSocket: one connection
 * per pair of members (ws), msgpack frames batched per event-loop turn,
 * reconnect with backoff and jitter, backpressure, a frame size limit,
 * snapshots on their own connection, and a handshake that checks cluster
 * ID, member IDs, an optional shared secret (HMAC challenge-response) and
 * clock skew. `wss://` with certificates works.
 *
 * @packageDocumentation
 */
export { wsTransport, WsTransport, type WsTransportStats } from './ws-transport.js';
export { PeerFaults } from './faults.js';
export type { WsTransportOptions, WsTlsOptions, RefusedPeer } from './options.js';
export { WsTransportError, createError, CloseCode, type WsTransportErrorCode } from './errors.js';

/** The package version, kept in step with package.json. */
export const VERSION = '0.1.0';
