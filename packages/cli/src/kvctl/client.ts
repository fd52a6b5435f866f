/**
 * kvctl's HTTP client for etcd's v2 API: tries each endpoint in turn on
 * connection errors, as etcd's v2 Go client does.
 *
 * @packageDocumentation
 */

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

/** Describes a fetch failure the way Go's net package would. */
export function describeConnectError(endpoint: string, e: unknown): string {
  const err = e as { cause?: { code?: string; message?: string }; message?: string; name?: string };
  let host = endpoint;
  try {
    const u = new URL(endpoint);
    host = u.host;
  } catch {
    /* keep as given */
  }
  const code = err.cause?.code;
  if (code === 'ECONNREFUSED') return `dial tcp ${host}: connect: connection refused`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `dial tcp: lookup ${host}: no such host`;
  if (code === 'ECONNRESET') return `read tcp ${host}: read: connection reset by peer`;
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return `client: endpoint ${endpoint} exceeded header timeout`;
  return `${endpoint}: ${err.cause?.message ?? err.message ?? String(e)}`;
}

/** Options of {@link KvctlClient}. */
export interface KvctlClientOptions {
  /** Base URLs (`http://host:port`); a bare `host:port` gets `http://`. */
  readonly endpoints: readonly string[];
  /** Per-request timeout in ms (none for watches). @defaultValue 5000 */
  readonly timeoutMs?: number;
}

/** Normalises an endpoint: adds `http://` when there is no scheme, drops a trailing `/`. */
export function normaliseEndpoint(e: string): string {
  const t = e.trim().replace(/\/+$/, '');
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(t) ? t : `http://${t}`;
}

/** A minimal etcd v2 HTTP client with endpoint failover. */
export class KvctlClient {
  readonly endpoints: string[];
  private readonly timeoutMs: number;
  private preferred = 0;

  constructor(opts: KvctlClientOptions) {
    this.endpoints = opts.endpoints.map(normaliseEndpoint);
    this.timeoutMs = opts.timeoutMs ?? 5000;
  }

  /** Sends one request, trying the endpoints in turn on connection errors. */
  async request(
    method: string,
    path: string,
    opts: { form?: Record<string, string>; json?: unknown; noTimeout?: boolean; endpoint?: string } = {},
  ): Promise<HttpAnswer> {
    const order = opts.endpoint !== undefined ? [opts.endpoint] : [...this.endpoints.slice(this.preferred), ...this.endpoints.slice(0, this.preferred)];
    const errors: string[] = [];
    for (const endpoint of order) {
      const headers: Record<string, string> = {};
      let body: string | undefined;
      if (opts.form !== undefined) {
        headers['content-type'] = 'application/x-www-form-urlencoded';
        body = new URLSearchParams(opts.form).toString();
      } else if (opts.json !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(opts.json);
      }
      const init: RequestInit = { method, headers };
      if (body !== undefined) init.body = body;
      if (!opts.noTimeout) init.signal = AbortSignal.timeout(this.timeoutMs);
      try {
        const r = await fetch(endpoint + path, init);
        const text = await r.text();
        const i = this.endpoints.indexOf(endpoint);
        if (i >= 0) this.preferred = i;
        return { status: r.status, headers: r.headers, text, endpoint };
      } catch (e) {
        errors.push(describeConnectError(endpoint, e));
      }
    }
    throw new ClusterUnavailableError(errors);
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
