// A single kv member (memory network, real clock) served by serveHttp, and a
// small fetch wrapper for the HTTP tests.
import { createMemoryNetwork } from '@kv/raft/testing';
import { createNode, type KvNode } from '@kv/store';
import { serveHttp, type ServeHttpOptions } from '../../src/index.ts';

export interface Served {
  readonly node: KvNode;
  readonly url: string;
  close(): Promise<void>;
}

let seed = 100;

export async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** One member (its own single-member cluster), served over HTTP once it leads. */
export async function serveOne(opts: Partial<ServeHttpOptions> = {}): Promise<Served> {
  const net = createMemoryNetwork({ seed: seed++ });
  const node = await createNode({ name: 'm1', initialCluster: { m1: 'mem://m1' }, transport: net.transport('m1') });
  await waitFor(() => node.status().isLeader, 'a leader');
  const http = await serveHttp(node, { listen: 'http://127.0.0.1:0', ...opts });
  return {
    node,
    url: http.urls[0]!,
    async close() {
      await http.close();
      await node.close();
    },
  };
}

/** Three members on one memory network; the leader is served over HTTP. */
export async function serveLeaderOfThree(): Promise<Served & { nodes: KvNode[] }> {
  const net = createMemoryNetwork({ seed: seed++ });
  const initialCluster = { m1: 'mem://m1', m2: 'mem://m2', m3: 'mem://m3' };
  const nodes = await Promise.all(['m1', 'm2', 'm3'].map((name) => createNode({ name, initialCluster, transport: net.transport(name) })));
  await waitFor(() => nodes.some((n) => n.status().isLeader), 'a leader');
  const node = nodes.find((n) => n.status().isLeader)!;
  const http = await serveHttp(node, { listen: 'http://127.0.0.1:0' });
  return {
    node,
    nodes,
    url: http.urls[0]!,
    async close() {
      await http.close();
      await Promise.all(nodes.map((n) => n.close()));
    },
  };
}

export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly json: any;
}

export async function call(
  base: string,
  method: string,
  path: string,
  body?: string | Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : new URLSearchParams(body).toString();
    if (typeof body !== 'string') (init.headers as Record<string, string>)['content-type'] = 'application/x-www-form-urlencoded';
  }
  const r = await fetch(base + path, init);
  const text = await r.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.status, headers: r.headers, text, json };
}
