// The workload's view of a kvd over etcd v2's HTTP API: quorum reads,
// form writes and compare-and-swap (prevValue), with every answer sorted
// into "definitely not applied" or "outcome unknown" by what kv's HTTP
// layer documents (packages/cli/src/http/etcd-errors.ts). The run then
// checks those claims: a write reported as failed that took effect shows
// up as a value no history explains.
//
// What counts as definite:
//   - ECONNREFUSED: no connection, so the request was never sent.
//   - An etcd error body with a KvError code (4xx): the store refused it.
//   - 500 with errorCode 300 and cause "etcdserver: no leader"
//     (RAFT_NO_LEADER: the proposal waited for a leader and never reached
//     a log).
// Everything else — a request timeout, a reset or closed socket, other 5xx
// answers (request timed out, leader changed, server stopped, and the
// RAFT_NOT_LEADER / RAFT_PROPOSAL_DROPPED refusals, whose code the HTTP
// body does not carry) — is unknown.
import { Agent, request } from 'node:http';
import type { Endpoint, Outcome } from './workload.ts';

/** Options of {@link httpEndpoint}. */
export interface HttpEndpointOptions {
  /** The member's name (for the report). */
  name: string;
  /** Its client URL, `http://host:port`. */
  clientUrl: string;
  /** A request with no answer after this long is abandoned as unknown. @defaultValue 8000 */
  timeoutMs?: number;
  /** Read with `quorum=false` (serializable): only to show the checker catches stale reads. */
  serializableReads?: boolean;
}

/** One HTTP answer: status, the X-Etcd-Index header, and the parsed JSON body. */
export interface HttpAnswer {
  status: number;
  etcdIndex: number | undefined;
  body: unknown;
}

/** A request that got no answer: `refused` when no connection was made (it was never sent). */
export class HttpRequestError extends Error {
  constructor(
    readonly refused: boolean,
    readonly why: string,
  ) {
    super(why);
  }
}

/**
 * Sends one request over `agent` and resolves with the answer; rejects
 * with {@link HttpRequestError} when there is none within `timeoutMs`.
 */
export function httpRequest(
  agent: Agent,
  url: string,
  init: { method?: string; form?: Record<string, string>; json?: unknown; timeoutMs: number },
): Promise<HttpAnswer> {
  const body =
    init.form !== undefined ? new URLSearchParams(init.form).toString() : init.json !== undefined ? JSON.stringify(init.json) : undefined;
  const headers: Record<string, string> = {};
  if (body !== undefined) {
    headers['content-type'] = init.form !== undefined ? 'application/x-www-form-urlencoded' : 'application/json';
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (f: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      f();
    };
    const req = request(url, { method: init.method ?? 'GET', agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e) => done(() => reject(new HttpRequestError(false, (e as NodeJS.ErrnoException).code ?? e.message))));
      res.on('end', () =>
        done(() => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // not JSON: keep the text
          }
          const idx = res.headers['x-etcd-index'];
          resolve({ status: res.statusCode ?? 0, etcdIndex: typeof idx === 'string' ? Number(idx) : undefined, body: parsed });
        }),
      );
    });
    const timer = setTimeout(() => {
      done(() => reject(new HttpRequestError(false, 'timeout')));
      req.destroy();
    }, init.timeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => done(() => reject(new HttpRequestError(e.code === 'ECONNREFUSED', e.code ?? e.message))));
    req.end(body);
  });
}

interface EtcdError {
  errorCode?: number;
  cause?: string;
  message?: string;
}

function classifyAnswer(a: HttpAnswer): Outcome<never> {
  const e = (typeof a.body === 'object' && a.body !== null ? a.body : {}) as EtcdError;
  if (a.status >= 400 && a.status < 500 && typeof e.errorCode === 'number') return { type: 'fail', why: `etcd ${e.errorCode}` };
  if (a.status === 500 && e.errorCode === 300 && e.cause === 'etcdserver: no leader') return { type: 'fail', why: 'no leader' };
  const cause = (e.cause ?? e.message ?? '').replace(/\d+/g, 'N').slice(0, 60);
  return { type: 'unknown', why: `${a.status} ${cause}`.trim() };
}

function classifyError(e: unknown): Outcome<never> {
  if (e instanceof HttpRequestError) return e.refused ? { type: 'fail', why: 'ECONNREFUSED' } : { type: 'unknown', why: e.why };
  return { type: 'unknown', why: (e as Error)?.message ?? String(e) };
}

function errorCode(a: HttpAnswer): number | undefined {
  const code = (a.body as EtcdError | null)?.errorCode;
  return typeof code === 'number' ? code : undefined;
}

/**
 * An endpoint over one kvd's client URL, with a keep-alive agent of its own.
 * Call `close()` to drop its sockets.
 */
export function httpEndpoint(opts: HttpEndpointOptions): Endpoint & { close(): void } {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const timeoutMs = opts.timeoutMs ?? 8000;
  const keyUrl = (key: string): string => `${opts.clientUrl}/v2/keys${key}`;
  const send = (url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<HttpAnswer> =>
    httpRequest(agent, url, { ...init, timeoutMs });
  return {
    name: opts.name,
    async read(key) {
      try {
        const a = await send(`${keyUrl(key)}?quorum=${opts.serializableReads ? 'false' : 'true'}`);
        if (a.status === 200) return { type: 'ok', value: (a.body as { node: { value: string } }).node.value };
        if (a.status === 404 && errorCode(a) === 100) return { type: 'ok', value: null };
        return classifyAnswer(a);
      } catch (e) {
        return classifyError(e);
      }
    },
    async write(key, value) {
      try {
        const a = await send(keyUrl(key), { method: 'PUT', form: { value } });
        if (a.status === 200 || a.status === 201) return { type: 'ok', value: undefined };
        return classifyAnswer(a);
      } catch (e) {
        return classifyError(e);
      }
    },
    async cas(key, from, to) {
      try {
        const a = await send(keyUrl(key), { method: 'PUT', form: { value: to, prevValue: from } });
        if (a.status === 200 || a.status === 201) return { type: 'ok', value: true };
        // 101: compare failed; 100: no such key — both observe "not `from`".
        const code = errorCode(a);
        if ((a.status === 412 && code === 101) || (a.status === 404 && code === 100)) return { type: 'ok', value: false };
        return classifyAnswer(a);
      } catch (e) {
        return classifyError(e);
      }
    },
    close() {
      agent.destroy();
    },
  };
}
