// The slice of etcd's v2 keys HTTP API that the discovery protocol uses
// (GET with recursive/wait/waitIndex, PUT with prevExist), served from a
// single-member kv node. The discovery tests run against a real etcd when
// one is installed, and against this otherwise (and always, as a second
// target). @kv/cli's serveHttp will be the full API.
import { createServer, type Server } from 'node:http';
import { createMemoryNetwork } from '@kv/raft/testing';
import { createNode, KvError, type KvNode } from '@kv/store';

export interface V2Shim {
  url: string;
  node: KvNode;
  close(): Promise<void>;
}

export async function startV2Shim(): Promise<V2Shim> {
  const net = createMemoryNetwork({ seed: 9 });
  const node = await createNode({ name: 'disc', initialCluster: { disc: 'mem://disc' }, transport: net.transport('disc') });
  const server: Server = createServer((req, res) => {
    void (async () => {
      const u = new URL(req.url ?? '/', 'http://x');
      const key = decodeURIComponent(u.pathname.replace(/^\/v2\/keys/, '')) || '/';
      const send = (status: number, body: unknown, index: number): void => {
        res.writeHead(status, { 'content-type': 'application/json', 'x-etcd-index': String(index) });
        res.end(JSON.stringify(body));
      };
      try {
        if (req.method === 'PUT') {
          let raw = '';
          for await (const chunk of req) raw += chunk;
          const value = new URLSearchParams(raw).get('value') ?? '';
          const prevExist = u.searchParams.get('prevExist');
          const ev = await node.set(key, value, prevExist === 'false' ? { prevExist: false } : {});
          return send(prevExist === 'false' ? 201 : 200, ev, ev.index);
        }
        if (u.searchParams.get('wait') === 'true') {
          const waitIndex = Number(u.searchParams.get('waitIndex') ?? 0);
          const ac = new AbortController();
          req.on('close', () => ac.abort());
          for await (const ev of node.watch(key, { recursive: u.searchParams.get('recursive') === 'true', waitIndex, signal: ac.signal })) {
            ac.abort();
            return send(200, ev, node.status().storeIndex);
          }
          return;
        }
        const ev = await node.get(key, { recursive: u.searchParams.get('recursive') === 'true' });
        return send(200, ev, node.status().storeIndex);
      } catch (e) {
        if (e instanceof KvError) {
          const status = e.errorCode === 100 ? 404 : e.errorCode === 105 || e.errorCode === 101 ? 412 : 400;
          return send(status, e.toJSON(), node.status().storeIndex);
        }
        send(500, { message: (e as Error).message }, 0);
      }
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    node,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await node.close();
    },
  };
}
