import { KvError, KvErrorCode } from '../errors.js';

/** Options of {@link discoverUrl}. */
export interface UrlDiscoveryOptions {
  /**
   * The discovery URL: a directory of any cluster that serves the etcd v2
   * keys API, e.g. `http://10.0.0.5:2379/v2/keys/discovery/6c007a14875d53d9`
   * (etcd `--discovery`). Its `_config/size` key holds the cluster size.
   */
  readonly url: string;
  /** This member's name. */
  readonly name: string;
  /** This member's ID (the key it registers under). */
  readonly memberId: string;
  /** This member's advertised peer URLs. */
  readonly peerUrls: readonly string[];
  /** Give up waiting for the other members after this long. @defaultValue 5 minutes */
  readonly timeoutMs?: number;
  readonly logger?: { info(msg: string): void; warn(msg: string): void };
}

interface V2Node {
  key: string;
  value?: string;
  createdIndex: number;
  modifiedIndex: number;
  nodes?: V2Node[];
}

// etcd's discovery errors, in its words.
function discoveryError(msg: string): KvError {
  return new KvError(KvErrorCode.InvalidField, msg, 0, `discovery: ${msg}`);
}

/**
 * Bootstraps through etcd's discovery protocol: reads the expected cluster
 * size from `<url>/_config/size`, registers this member under
 * `<url>/<memberId>` with `prevExist=false` (value `name=peerURL,...`), then
 * waits (`wait=true&waitIndex=`) until `size` members have registered. The
 * first `size` registrations (by creation index) form the cluster; a later
 * one is refused: "cluster is full".
 *
 * @returns the initial cluster as `name=url,...`.
 * @throws KvError 209 with etcd's messages: `discovery: size key not found`,
 * `discovery: size key is bad`, `discovery: found duplicate id`,
 * `discovery: cluster is full`, `discovery: invalid URL`, or a timeout.
 */
export async function discoverUrl(opts: UrlDiscoveryOptions): Promise<string> {
  let base: URL;
  try {
    base = new URL(opts.url.replace(/\/+$/, ''));
  } catch {
    throw discoveryError('invalid URL');
  }
  const deadline = Date.now() + (opts.timeoutMs ?? 5 * 60_000);
  const at = (suffix: string, query = ''): string => `${base.href}${suffix}${query}`;

  // 1. The size.
  const sizeRes = await request(at('/_config/size'), { method: 'GET' }, deadline);
  if (sizeRes.status === 404) throw discoveryError('size key not found');
  const sizeBody = (await sizeRes.json()) as { node?: V2Node };
  const size = Number(sizeBody.node?.value);
  if (!Number.isInteger(size) || size <= 0) throw discoveryError('size key is bad');

  // 2. Register (or find our own earlier registration, after a restart).
  const value = opts.peerUrls.map((u) => `${opts.name}=${u}`).join(',');
  const reg = await request(
    at(`/${opts.memberId}`, '?prevExist=false'),
    { method: 'PUT', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `value=${encodeURIComponent(value)}` },
    deadline,
  );
  if (reg.status === 412) {
    const mine = (await (await request(at(`/${opts.memberId}`), { method: 'GET' }, deadline)).json()) as { node?: V2Node };
    if (mine.node?.value !== value) throw discoveryError('found duplicate id');
    opts.logger?.info(`discovery: ${opts.memberId} was already registered at ${opts.url}`);
  } else if (!reg.ok) {
    throw discoveryError(`registering at ${opts.url} failed with HTTP ${reg.status}`);
  } else {
    opts.logger?.info(`discovery: registered ${opts.name} (${opts.memberId}) at ${opts.url}`);
  }

  // 3. Wait until `size` members are there.
  for (;;) {
    const res = await request(at('', '?recursive=true'), { method: 'GET' }, deadline);
    if (res.status === 404) throw discoveryError('token not found');
    const body = (await res.json()) as { node?: V2Node };
    const index = Number(res.headers.get('x-etcd-index') ?? 0);
    const members = (body.node?.nodes ?? [])
      .filter((n) => !n.key.endsWith('/_config') && n.value !== undefined)
      .sort((a, b) => a.createdIndex - b.createdIndex);
    const firstN = members.slice(0, size);
    if (members.length >= size) {
      if (!firstN.some((n) => n.key.endsWith(`/${opts.memberId}`))) throw discoveryError('cluster is full');
      return firstN.map((n) => n.value!).join(',');
    }
    opts.logger?.info(`discovery: found ${members.length} peer(s), waiting for ${size - members.length} more`);
    // Long-poll for the next change under the directory.
    await request(at('', `?wait=true&recursive=true&waitIndex=${index + 1}`), { method: 'GET' }, deadline).then(
      (r) => r.arrayBuffer(),
      () => undefined,
    );
  }
}

async function request(url: string, init: RequestInit, deadline: number): Promise<Response> {
  const left = deadline - Date.now();
  if (left <= 0) throw discoveryError('timed out waiting for the other members to register');
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(left) });
  } catch (e) {
    if ((e as Error).name === 'TimeoutError') throw discoveryError('timed out waiting for the other members to register');
    throw discoveryError(`cannot reach ${url}: ${(e as Error).message}`);
  }
}
