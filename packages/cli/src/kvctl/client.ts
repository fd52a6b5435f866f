/**
 * kvctl's HTTP client for etcd's v2 API: tries each endpoint in turn on
 * connection errors, as etcd's v2 Go client does; basic auth and TLS
 * (CA, client certificate) as etcdctl's global flags set them.
 *
 * @packageDocumentation
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';

/** An etcd v2 keys API error (`{errorCode, message, cause, index}`). */
export class EtcdApiError extends Error {
  constructor(
    readonly errorCode: number,
    readonly etcdMessage: string,
    readonly etcdCause: string,
    readonly index: number,
  ) {
    super(`${errorCode}: ${etcdMessage} (${etcdCause}) [${index}]`);
    this.name = 'EtcdApiError';
  }
}

/** Every endpoint failed to connect (etcd's `client.ClusterError`). */
export class ClusterUnavailableError extends Error {
  constructor(readonly errors: readonly string[]) {
    super('client: etcd cluster is unavailable or misconfigured' + errors.map((e, i) => `; error #${i}: ${e}\n`).join(''));
    this.name = 'ClusterUnavailableError';
  }
  /** One `error #i: …` line per endpoint, as etcdctl prints after the error. */
  detail(): string {
    return this.errors.map((e, i) => `error #${i}: ${e}\n`).join('');
  }
}

/** A raw HTTP answer. */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The endpoint that answered. */
  readonly endpoint: string;
}

/** A streamed HTTP answer: the body is read by the caller. */
export interface HttpStreamAnswer {
  readonly status: number;
  readonly headers: Headers;
  /** The response body (a Readable of Buffers). */
  readonly body: IncomingMessage;
  /** The endpoint that answered. */
  readonly endpoint: string;
}

const UNKNOWN_AUTHORITY = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
]);

/** Describes a request failure the way Go's net, crypto/tls and net/http packages would. */
export function describeConnectError(endpoint: string, e: unknown): string {
  const err = e as { code?: string; reason?: string; cause?: { code?: string; message?: string }; message?: string; name?: string };
  let host = endpoint;
  try {
    const u = new URL(endpoint);
    host = u.host;
  } catch {
    /* keep as given */
  }
  const code = err.code ?? err.cause?.code;
  if (code === 'ECONNREFUSED') return `dial tcp ${host}: connect: connection refused`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `dial tcp: lookup ${host}: no such host`;
  if (code === 'ECONNRESET') return `read tcp ${host}: read: connection reset by peer`;
  if (code !== undefined && UNKNOWN_AUTHORITY.has(code)) return 'x509: certificate signed by unknown authority';
  if (code === 'CERT_HAS_EXPIRED') return 'x509: certificate has expired or is not yet valid';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return hostnameError(e as { host?: string; cert?: { subjectaltname?: string } }, host);
  if (code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED') return 'remote error: tls: certificate required';
  if (code === 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE') return 'remote error: tls: bad certificate';
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER') return 'http: server gave HTTP response to HTTPS client';
  if (code === 'HPE_INVALID_CONSTANT') return `${endpoint}: malformed HTTP response (is it an https:// endpoint?)`;
  if (err.name === 'TimeoutError' || err.name === 'AbortError' || code === 'ABORT_ERR') return `client: endpoint ${endpoint} exceeded header timeout`;
  return `${endpoint}: ${err.cause?.message ?? err.message ?? String(e)}`;
}

/** Go's `x509.HostnameError` text for a certificate that does not name the host. */
function hostnameError(err: { host?: string; cert?: { subjectaltname?: string } }, fallback: string): string {
  const host = err.host ?? fallback;
  const sans = (err.cert?.subjectaltname ?? '').split(',').map((x) => x.trim());
  const isIp = isIP(host) !== 0;
  const valid = sans.filter((x) => x.startsWith(isIp ? 'IP Address:' : 'DNS:')).map((x) => x.slice(x.indexOf(':') + 1));
  if (isIp && valid.length === 0) return `x509: cannot validate certificate for ${host} because it doesn't contain any IP SANs`;
  if (valid.length === 0) return `x509: certificate is not valid for any names, but wanted to match ${host}`;
  return `x509: certificate is valid for ${valid.join(', ')}, not ${host}`;
}

/** TLS settings of {@link KvctlClient} (PEM contents, as read from etcdctl's `--ca-file`, `--cert-file`, `--key-file`). */
export interface KvctlTlsOptions {
  /** CA bundle that servers' certificates must chain to (instead of the system's). */
  readonly ca?: string | Buffer;
  /** Client certificate, for servers that ask for one. */
  readonly cert?: string | Buffer;
  /** The client certificate's key. */
  readonly key?: string | Buffer;
  /** Accept any server certificate (etcdctl's `--insecure-skip-tls-verify`; for testing only). @defaultValue false */
  readonly insecureSkipVerify?: boolean;
}

/** Options of {@link KvctlClient}. */
export interface KvctlClientOptions {
  /** Base URLs (`http://host:port`, `https://host:port`); a bare `host:port` gets `http://`. */
  readonly endpoints: readonly string[];
  /** Per-request timeout in ms (none for watches). @defaultValue 5000 */
  readonly timeoutMs?: number;
  /** Basic auth on every request (etcdctl's `--username user:password`). */
  readonly auth?: { readonly username: string; readonly password: string };
  /** For `https://` endpoints. */
  readonly tls?: KvctlTlsOptions;
}

/** Normalises an endpoint: adds `http://` when there is no scheme, drops a trailing `/`. */
export function normaliseEndpoint(e: string): string {
  const t = e.trim().replace(/\/+$/, '');
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(t) ? t : `http://${t}`;
}

/** What one request of {@link KvctlClient} sends. */
export interface KvctlRequestOptions {
  /** A form body (`application/x-www-form-urlencoded`). */
  readonly form?: Record<string, string>;
  /** A JSON body (when there is no `form`). */
  readonly json?: unknown;
  /** No time limit (long polls: watches). */
  readonly noTimeout?: boolean;
}

/** A minimal etcd v2 HTTP client with endpoint failover, basic auth and TLS (node:http and node:https). */
export class KvctlClient {
  readonly endpoints: string[];
  private readonly timeoutMs: number;
  private readonly authorization: string | undefined;
  private readonly httpAgent = new HttpAgent({ keepAlive: true });
  private readonly httpsAgent: HttpsAgent;
  private preferred = 0;
  private readonly options: KvctlClientOptions;

  constructor(opts: KvctlClientOptions) {
    this.options = opts;
    this.endpoints = opts.endpoints.map(normaliseEndpoint);
    this.timeoutMs = opts.timeoutMs ?? 5000;
    if (opts.auth !== undefined) {
      this.authorization = 'Basic ' + Buffer.from(`${opts.auth.username}:${opts.auth.password}`, 'utf8').toString('base64');
    }
    const tls = opts.tls ?? {};
    this.httpsAgent = new HttpsAgent({
      keepAlive: true,
      ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
      ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
      ...(tls.key !== undefined ? { key: tls.key } : {}),
      rejectUnauthorized: tls.insecureSkipVerify !== true,
    });
  }

  /** A client of `endpoint` alone, with this one's timeout, auth and TLS settings. */
  only(endpoint: string): KvctlClient {
    return new KvctlClient({ ...this.options, endpoints: [endpoint] });
  }

  /** Sends one request, trying the endpoints in turn on connection errors. */
  async request(method: string, path: string, opts: KvctlRequestOptions & { endpoint?: string } = {}): Promise<HttpAnswer> {
    return this.failover(opts.endpoint, async (endpoint) => {
      const r = await this.send(endpoint, method, path, opts);
      return { status: r.status, headers: r.headers, text: (await readAll(r.body)).toString('utf8'), endpoint };
    });
  }

  /** Sends one request to one endpoint, without failover; rejects with the network error. */
  async requestOne(endpoint: string, method: string, path: string, opts: KvctlRequestOptions = {}): Promise<HttpAnswer> {
    const r = await this.send(normaliseEndpoint(endpoint), method, path, opts);
    return { status: r.status, headers: r.headers, text: (await readAll(r.body)).toString('utf8'), endpoint: r.endpoint };
  }

  /**
   * A GET whose body the caller streams (no timeout once the headers have
   * arrived), from the first endpoint that answers.
   */
  async stream(path: string, opts: { endpoint?: string } = {}): Promise<HttpStreamAnswer> {
    return this.failover(opts.endpoint, (endpoint) => this.send(endpoint, 'GET', path, { headersOnlyTimeout: true }));
  }

  private async failover<T>(only: string | undefined, attempt: (endpoint: string) => Promise<T>): Promise<T> {
    const order = only !== undefined ? [only] : [...this.endpoints.slice(this.preferred), ...this.endpoints.slice(0, this.preferred)];
    const errors: string[] = [];
    for (const endpoint of order) {
      try {
        const out = await attempt(endpoint);
        const i = this.endpoints.indexOf(endpoint);
        if (i >= 0) this.preferred = i;
        return out;
      } catch (e) {
        errors.push(describeConnectError(endpoint, e));
      }
    }
    throw new ClusterUnavailableError(errors);
  }

  private send(endpoint: string, method: string, path: string, opts: KvctlRequestOptions & { headersOnlyTimeout?: boolean }): Promise<HttpStreamAnswer> {
    const headers: Record<string, string> = {};
    let body: string | undefined;
    if (opts.form !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(opts.form).toString();
    } else if (opts.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.json);
    }
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
    if (this.authorization !== undefined) headers.authorization = this.authorization;
    const url = new URL(endpoint + path);
    const secure = url.protocol === 'https:';
    const request = secure ? httpsRequest : httpRequest;
    return new Promise<HttpStreamAnswer>((resolve, reject) => {
      const req = request(url, { method, headers, agent: secure ? this.httpsAgent : this.httpAgent });
      let timer: NodeJS.Timeout | undefined;
      if (!opts.noTimeout) {
        timer = setTimeout(() => req.destroy(Object.assign(new Error(`request to ${endpoint} timed out`), { name: 'TimeoutError' })), this.timeoutMs);
      }
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      req.on('response', (res) => {
        if (opts.headersOnlyTimeout) clearTimeout(timer);
        else res.once('end', () => clearTimeout(timer)).once('close', () => clearTimeout(timer));
        resolve({ status: res.statusCode ?? 0, headers: toHeaders(res), body: res, endpoint });
      });
      req.end(body);
    });
  }

  /** A keys API call: parses the JSON answer and throws {@link EtcdApiError} on etcd errors. */
  async keys(method: string, key: string, params: Record<string, string> = {}, opts: { noTimeout?: boolean } = {}): Promise<KeysResponse> {
    const path = '/v2/keys' + keyPath(key);
    const q = new URLSearchParams(params).toString();
    const a =
      method === 'PUT' || method === 'POST'
        ? await this.request(method, path, { form: params, ...opts })
        : await this.request(method, path + (q ? `?${q}` : ''), opts);
    let body: unknown;
    try {
      body = JSON.parse(a.text);
    } catch {
      throw new Error(`unexpected response from ${a.endpoint} (HTTP ${a.status}): ${a.text.slice(0, 200)}`);
    }
    const b = body as { errorCode?: number; message?: string; cause?: string; index?: number };
    if (typeof b.errorCode === 'number') throw new EtcdApiError(b.errorCode, b.message ?? '', b.cause ?? '', b.index ?? 0);
    const index = Number(a.headers.get('x-etcd-index') ?? 0);
    return { ...(body as Omit<KeysResponse, 'index'>), index };
  }
}

function toHeaders(res: IncomingMessage): Headers {
  const h = new Headers();
  for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) h.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
  return h;
}

async function readAll(body: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

/** Escapes a key into a `/v2/keys` path, keeping its slashes. */
export function keyPath(key: string): string {
  const k = key.startsWith('/') ? key : `/${key}`;
  return k.split('/').map(encodeURIComponent).join('/');
}

/** A node in etcd's v2 JSON. */
export interface EtcdV2Node {
  readonly key?: string;
  readonly value?: string;
  readonly dir?: boolean;
  readonly nodes?: readonly EtcdV2Node[];
  readonly createdIndex?: number;
  readonly modifiedIndex?: number;
  readonly expiration?: string;
  readonly ttl?: number;
}

/** A keys API answer with its `X-Etcd-Index`. */
export interface KeysResponse {
  readonly action: string;
  readonly node: EtcdV2Node;
  readonly prevNode?: EtcdV2Node;
  readonly index: number;
}
