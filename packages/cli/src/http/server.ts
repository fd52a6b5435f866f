/**
 * `serveHttp`: etcd v2's client HTTP API for a KvNode, on node:http.
 *
 * @packageDocumentation
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import type { KvNode } from '@kv/store';
import type { PeerFaults } from '@kv/transport-ws';
import { handleKeys, type KeysContext } from './keys.js';
import { handleMembers, type MembersContext } from './members.js';
import { handleSnapshot } from './snapshot.js';
import { HttpError } from './etcd-errors.js';
import { readBody } from './form.js';
import { HttpMetrics } from './metrics.js';
import { handleHealth, handleStatsLeader, handleStatsSelf, handleStatsStore, handleVersion } from './stats.js';

/** Options of {@link serveHttp}. */
export interface ServeHttpOptions {
  /** URLs to listen on (`http://host:port`; port 0 picks a free one). */
  readonly listen: string | readonly string[];
  /**
   * Client auth: with `token`, `Authorization: Bearer <token>`; with
   * `username`/`password`, basic auth (either is accepted when both are
   * set). Without valid credentials a request gets 401 (etcd code 110);
   * `/health` and `/version` stay open.
   */
  readonly auth?: { readonly token?: string; readonly username?: string; readonly password?: string };
  /** Largest request body. @defaultValue 1.5 MiB */
  readonly maxBodyBytes?: number;
  /** Time a client has to send the request headers. @defaultValue 10 000 */
  readonly headersTimeoutMs?: number;
  /** Time a client has to send the whole request. @defaultValue 30 000 */
  readonly requestTimeoutMs?: number;
  /**
   * TLS for the `https://` listen URLs (required when there is one; `http://`
   * URLs stay plain), as etcd's `--cert-file`, `--key-file`,
   * `--trusted-ca-file` and `--client-cert-auth`.
   */
  readonly tls?: ServeHttpTlsOptions;
  /**
   * A fault-injection hook to serve at `/debug/faults` (kvd's
   * `--experimental-fault-injection`), for fault tests: `GET` answers
   * `{"block": [ids]}`; `PUT` with the JSON `{"block": ["<memberId>", ...]}`
   * makes those peers (and only those) unreachable from this member in
   * both directions (it replaces the set), and `{"block": []}` heals.
   * Without it the path is 404. Behind `auth` like every other path.
   */
  readonly faults?: PeerFaults;
}

/** The `tls` option of {@link serveHttp}: PEM certificate and key, and optional client certificate checks. */
export interface ServeHttpTlsOptions {
  /** The server's certificate chain (PEM). */
  readonly cert: string | Buffer;
  /** The server's private key (PEM). */
  readonly key: string | Buffer;
  /** CA certificates that client certificates must chain to (PEM); needed by `clientCertAuth`. */
  readonly ca?: string | Buffer;
  /** Refuse clients without a certificate signed by `ca` (the TLS handshake fails). @defaultValue false */
  readonly clientCertAuth?: boolean;
}

/** A running HTTP API. */
export interface HttpServerHandle {
  /** The URLs served, with the ports actually bound. */
  readonly urls: string[];
  /** Stops listening and drops open connections (long polls end). */
  close(): Promise<void>;
}

/** The default body limit: 1.5 MiB, as etcd's. */
export const DEFAULT_MAX_BODY_BYTES = 1.5 * 1024 * 1024;

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function authorized(auth: NonNullable<ServeHttpOptions['auth']>, header: string | undefined): boolean {
  if (header === undefined) return false;
  const [scheme, ...rest] = header.trim().split(/\s+/);
  const cred = rest.join(' ');
  if (auth.token !== undefined && scheme?.toLowerCase() === 'bearer' && sameSecret(cred, auth.token)) return true;
  if (auth.username !== undefined && scheme?.toLowerCase() === 'basic') {
    const decoded = Buffer.from(cred, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i < 0) return false;
    return sameSecret(decoded.slice(0, i), auth.username) && sameSecret(decoded.slice(i + 1), auth.password ?? '');
  }
  return false;
}

/**
 * Serves etcd v2's client API (`/v2/keys`, `/v2/members`, `/v2/stats/*`,
 * `/health`, `/version`, `/metrics`) for `node`, so etcd v2 clients and
 * `ETCDCTL_API=2 etcdctl` work against it; and kv's own
 * `GET /kv/v1/snapshot` (a consistent store snapshot, streamed) and
 * `POST /v2/members/<id>/promote` (a learner becomes a voter).
 *
 * @example
 * ```ts
 * const http = await serveHttp(node, { listen: 'http://127.0.0.1:2379' });
 * // curl http://127.0.0.1:2379/v2/keys/a -XPUT -d value=1
 * await http.close();
 * ```
 */
export async function serveHttp(node: KvNode, opts: ServeHttpOptions): Promise<HttpServerHandle> {
  const listen = typeof opts.listen === 'string' ? [opts.listen] : [...opts.listen];
  if (listen.length === 0) throw new TypeError('serveHttp: listen needs at least one URL');
  const targets = listen.map((u) => {
    const url = new URL(u);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`serveHttp: listen URLs must be http:// or https://, got ${u}`);
    if (url.protocol === 'https:' && opts.tls === undefined) throw new TypeError(`serveHttp: ${u} needs the tls option (a certificate and key)`);
    if (opts.tls?.clientCertAuth && opts.tls.ca === undefined) throw new TypeError('serveHttp: tls.clientCertAuth needs tls.ca (the CA client certificates must chain to)');
    const host = url.hostname.replace(/^\[|\]$/g, '');
    return { url, host, port: url.port === '' ? 80 : Number(url.port) };
  });
  const maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const headersTimeout = opts.headersTimeoutMs ?? 10_000;
  const requestTimeout = Math.max(opts.requestTimeoutMs ?? 30_000, headersTimeout);
  const metrics = new HttpMetrics(node);
  const urls: string[] = [];
  const keysCtx: KeysContext = { node, maxBodyBytes, metrics };
  const membersCtx: MembersContext = { node, maxBodyBytes, clientUrls: () => urls, onWrite: () => void metrics.proposals++ };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://kv.invalid');
    } catch {
      return json(res, 400, { message: 'bad request URL' });
    }
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (path === '/version') return handleVersion(res);
    if (path === '/health') return handleHealth(node, res);
    if (opts.auth && !authorized(opts.auth, req.headers.authorization)) {
      req.resume();
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': opts.auth.token !== undefined ? 'Bearer realm="kv"' : 'Basic realm="kv"' });
      res.end(JSON.stringify({ errorCode: 110, message: 'The request requires user authentication', cause: 'Insufficient credentials', index: 0 }) + '\n');
      return;
    }
    if (path === '/v2/keys' || path.startsWith('/v2/keys/')) return handleKeys(keysCtx, req, res, url);
    if (path === '/v2/members' || path.startsWith('/v2/members/')) return handleMembers(membersCtx, req, res, url);
    if (path === '/kv/v1/snapshot') return handleSnapshot(node, req, res);
    if (path === '/debug/faults' && opts.faults !== undefined) return handleFaults(opts.faults, req, res, maxBodyBytes);
    if (method !== 'GET' && method !== 'HEAD') {
      if (['/metrics', '/v2/stats/self', '/v2/stats/leader', '/v2/stats/store'].includes(path)) return json(res, 405, { message: 'Method Not Allowed' });
    }
    switch (path) {
      case '/metrics':
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        return void res.end(metrics.render());
      case '/v2/stats/self':
        return handleStatsSelf(node, metrics, res);
      case '/v2/stats/leader':
        return handleStatsLeader(node, res);
      case '/v2/stats/store':
        return handleStatsStore(node, metrics, res);
      default:
        req.resume();
        return json(res, 404, { message: 'Not Found' });
    }
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    res.on('finish', () => metrics.request(req.method ?? 'GET', res.statusCode));
    route(req, res).catch((e: unknown) => {
      if (res.headersSent) res.destroy();
      else json(res, 500, { message: (e as Error)?.message ?? 'internal error' });
    });
  };

  const servers: (Server | HttpsServer)[] = [];
  try {
    for (const t of targets) {
      const httpOptions = { headersTimeout, requestTimeout, connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeout / 2))) };
      const tls = opts.tls;
      const server =
        t.url.protocol === 'https:' && tls !== undefined
          ? createHttpsServer(
              {
                ...httpOptions,
                cert: tls.cert,
                key: tls.key,
                ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
                requestCert: tls.clientCertAuth === true,
                rejectUnauthorized: tls.clientCertAuth === true,
              },
              onRequest,
            )
          : createServer(httpOptions, onRequest);
      server.keepAliveTimeout = 30_000;
      server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
        const status =
          err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout'
          : err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large'
          : '400 Bad Request';
        if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
        else socket.destroy();
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(t.port, t.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      servers.push(server);
      const port = (server.address() as AddressInfo).port;
      const u = new URL(t.url.href);
      u.port = String(port);
      urls.push(u.origin);
    }
  } catch (e) {
    await Promise.all(servers.map((s) => closeServer(s)));
    metrics.detach();
    throw e;
  }

  let closing: Promise<void> | undefined;
  return {
    urls,
    close() {
      closing ??= (async () => {
        metrics.detach();
        await Promise.all(servers.map((s) => closeServer(s)));
      })();
      return closing;
    },
  };
}

/** `/debug/faults`: read or replace the set of peers this member cannot reach. */
async function handleFaults(faults: PeerFaults, req: IncomingMessage, res: ServerResponse, maxBodyBytes: number): Promise<void> {
  const method = req.method ?? 'GET';
  if (method === 'GET') return json(res, 200, { block: [...faults.blocked] });
  if (method !== 'PUT') {
    req.resume();
    res.writeHead(405, { 'content-type': 'application/json', allow: 'GET, PUT' });
    return void res.end(JSON.stringify({ message: 'Method Not Allowed' }) + '\n');
  }
  let body: unknown;
  try {
    body = JSON.parse(await readBody(req, maxBodyBytes));
  } catch (e) {
    if (e instanceof HttpError) return json(res, e.status, e.body);
    return json(res, 400, { message: `body is not JSON: ${(e as Error).message}` });
  }
  const ids = (body as { block?: unknown } | null)?.block;
  if (!Array.isArray(ids) || !ids.every((x) => typeof x === 'string' && x !== '')) {
    return json(res, 400, { message: 'expected {"block": ["<memberId>", ...]} (an empty list heals)' });
  }
  faults.heal();
  faults.block(ids as string[]);
  json(res, 200, { block: [...faults.blocked] });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body) + '\n');
}

function closeServer(s: Server | HttpsServer): Promise<void> {
  return new Promise((resolve) => {
    s.close(() => resolve());
    s.closeAllConnections();
  });
}
