import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

import type { RaftLogger } from '@kv/raft';
import { WebSocketServer, type WebSocket } from 'ws';

/** TLS settings of the listening side. */
export interface ServerTlsOptions {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  /** CAs that client certificates must chain to (with `clientCertAuth`). */
  readonly ca?: string | Buffer | (string | Buffer)[];
  /** Require and verify a client certificate (etcd's `--peer-client-cert-auth`). */
  readonly clientCertAuth?: boolean;
}

/** Options of {@link PeerServer}. */
export interface PeerServerOptions {
  /** Serve `wss://` with these; plain `ws://` when absent. */
  readonly tls?: ServerTlsOptions;
  /** ws's `maxPayload`: larger frames close the connection with 1009. */
  readonly maxFrameBytes: number;
  readonly logger: RaftLogger;
  /** A WebSocket upgrade on the peer path succeeded; `remoteAddress` is `host:port`. */
  readonly onConnection: (ws: WebSocket, remoteAddress: string) => void;
}

/** The request path peers connect to (appended to the peer URL's own path). */
export const PEER_PATH = '/raft';

/**
 * The listening side: an HTTP (or HTTPS) server that upgrades requests on
 * {@link PEER_PATH} to WebSockets and hands them over, and answers
 * everything else without crashing.
 *
 * @remarks
 * - A plain HTTP request gets `426 Upgrade Required`; an upgrade on another
 *   path gets `404`; bytes that are not HTTP at all get `400` and the
 *   socket is destroyed (Node's `clientError`). None of them is logged
 *   above debug level.
 * - Compression is off (`perMessageDeflate: false`) and `maxPayload` is
 *   `maxFrameBytes`.
 * - {@link close} destroys every socket still open, upgraded or not, so it
 *   resolves promptly.
 */
export class PeerServer {
  readonly #options: PeerServerOptions;
  readonly #http: HttpServer;
  readonly #wss: WebSocketServer;
  readonly #sockets = new Set<Socket>();
  #closed: Promise<void> | undefined;

  constructor(options: PeerServerOptions) {
    this.#options = options;
    const tls = options.tls;
    this.#http = tls
      ? createHttpsServer({
          cert: tls.cert,
          key: tls.key,
          ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
          requestCert: tls.clientCertAuth ?? false,
          rejectUnauthorized: tls.clientCertAuth ?? false,
        })
      : createHttpServer();
    this.#wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: options.maxFrameBytes,
      clientTracking: false,
    });
    this.#http.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      // Node's server handles errors on sockets it owns; an upgraded socket
      // is ours, and an 'error' without a listener would crash the process.
      socket.on('error', () => {});
      socket.on('close', () => this.#sockets.delete(socket));
    });
    this.#http.on('request', (req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain', connection: 'close', upgrade: 'websocket' });
      res.end('kv peer port: WebSocket only\n');
    });
    this.#http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(req, socket, head));
    this.#http.on('clientError', (err: Error, socket: Duplex) => {
      options.logger.debug(`rejected a malformed request on the peer port: ${err.message}`);
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
      socket.destroy();
    });
    this.#http.on('tlsClientError', (err: Error) => {
      options.logger.debug(`TLS handshake failed on the peer port: ${err.message}`);
    });
  }

  /** Starts listening; resolves with the bound port. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.#http.once('error', onError);
      this.#http.listen({ host, port }, () => {
        this.#http.off('error', onError);
        this.#http.on('error', (err) => this.#options.logger.error(`peer server error: ${err.message}`));
        const addr = this.#http.address();
        resolve(typeof addr === 'object' && addr !== null ? addr.port : port);
      });
    });
  }

  /** Stops listening and destroys every socket still open. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      if (!this.#http.listening) {
        for (const s of this.#sockets) s.destroy();
        resolve();
        return;
      }
      this.#http.close(() => resolve());
      for (const s of this.#sockets) s.destroy();
      this.#wss.close();
    });
    return this.#closed;
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {});
    const path = (req.url ?? '/').split('?')[0];
    if (path !== PEER_PATH && !path.endsWith(PEER_PATH)) {
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\n\r\n');
      socket.destroy();
      return;
    }
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#options.onConnection(ws, remote));
  }
}
