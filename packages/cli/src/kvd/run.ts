import { readFileSync } from 'node:fs';
import type { RaftLogger } from '@kv/raft';
import { createNode, type KvNode } from '@kv/store';
import { wsTransport } from '@kv/transport-ws';
import { serveHttp, type HttpServerHandle } from '../http/index.js';
import { loadConfig, type KvdConfig } from './config.js';
import { toNodeOptions } from './to-options.js';

/** A running kvd: the member, its client API, and how to stop both. */
export interface Kvd {
  readonly config: KvdConfig;
  readonly node: KvNode;
  readonly http: HttpServerHandle;
  /** Stops serving clients, then the member (a clean SIGTERM). */
  close(): Promise<void>;
}

function stamp(): string {
  const d = new Date();
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}000`;
}

/** Log lines in etcd's layout: `2016-02-16 17:42:21.321053 I | kvd: ...`. */
export function etcdStyleLogger(write: (line: string) => void = (l) => process.stderr.write(l + '\n')): RaftLogger & { debug(m: string): void } {
  const line = (level: string) => (msg: string) => write(`${stamp()} ${level} | ${msg}`);
  return { debug: () => {}, info: line('I'), warn: line('W'), error: line('E') };
}

/**
 * Starts kvd from command-line arguments and environment, as etcd starts:
 * configuration (flags > env > file), the member (createNode over the
 * WebSocket transport, durable in the data dir) and the etcd v2 client API.
 *
 * @throws KvdConfigError for bad flags; whatever createNode throws (a locked
 * or foreign data dir, a name missing from the initial cluster, ...).
 */
export async function startKvd(argv: readonly string[], env: NodeJS.ProcessEnv, logger = etcdStyleLogger()): Promise<Kvd> {
  const config = loadConfig({ argv: [...argv], env, logger });
  const opts = toNodeOptions(config, (p) => readFileSync(p));
  for (const u of opts.unusedListenPeerUrls) logger.warn(`kvd: listens for peers on ${opts.transport.listen} only; ignoring ${u}`);
  logger.info(`kvd: name = ${config.name}, data dir = ${config.dataDir}`);
  const transport = wsTransport({ ...opts.transport, logger });
  const node = await createNode({ ...opts.node, transport, logger });
  logger.info(`kvd: listening for peers on ${opts.transport.listen}`);
  if (config.experimentalFaultInjection) logger.warn('kvd: --experimental-fault-injection is on: PUT /debug/faults on the client URLs can cut this member off from its peers');
  const http = await serveHttp(node, {
    listen: opts.http.listen,
    ...(opts.http.tls !== undefined ? { tls: opts.http.tls } : {}),
    ...(config.experimentalFaultInjection ? { faults: transport.faults } : {}),
  }).catch(async (e: unknown) => {
    await node.close();
    throw e;
  });
  for (const u of http.urls) logger.info(`kvd: ready to serve client requests on ${u}`);
  node.on('leader', (leader, term) => {
    if (leader) logger.info(`raft: ${node.id} elected leader ${leader} at term ${term}`);
    else logger.info(`raft: ${node.id} lost leader at term ${term}`);
  });
  node.on('removed', () => logger.error('kvd: the member has been permanently removed from the cluster'));
  return {
    config,
    node,
    http,
    async close() {
      await http.close();
      await node.close();
    },
  };
}
