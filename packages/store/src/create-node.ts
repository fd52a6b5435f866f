import { MemoryLogStore, RaftError, RaftNode, realClock, silentLogger, type LogStore, type RaftLogger, type Transport } from '@kv/raft';
import { KvError, KvErrorCode } from './errors.js';
import { IndexRegistry } from './indexes/index-registry.js';
import { KvNode } from './kv-node.js';
import { KvStateMachine, type ApplyResult } from './kv-state-machine.js';
import { JoiningTransport } from './members/joining-transport.js';
import { discoverSrv } from './members/discovery-srv.js';
import { discoverUrl } from './members/discovery-url.js';
import { clusterId as deriveClusterId, memberId, parseInitialCluster } from './members/member-id.js';
import { DEFAULT_LIMITS } from './tree/key.js';
import { KeyTree } from './tree/key-tree.js';
import { WatcherHub } from './watch/watcher-hub.js';
import { NodeDataDir } from './storage/node-data-dir.js';

/**
 * Options of {@link createNode}, named after etcd's flags in camelCase.
 */
export interface CreateNodeOptions {
  /** This member's name (etcd `--name`). @defaultValue `'default'` */
  name?: string;
  /** How members reach each other: `createMemoryNetwork().transport(name)` or `wsTransport(...)`. */
  transport: Transport;
  /**
   * Every member's peer URL(s): `'m1=ws://10.0.0.1:2380,m2=...'` or
   * `{ m1: 'ws://10.0.0.1:2380', ... }` (etcd `--initial-cluster`).
   */
  initialCluster?: string | Readonly<Record<string, string | readonly string[]>>;
  /**
   * `'new'` bootstraps a cluster of exactly `initialCluster`; `'existing'`
   * joins one that already added this member (`members.add`).
   * @defaultValue `'new'`
   */
  initialClusterState?: 'new' | 'existing';
  /** Tells clusters apart; part of every member ID. @defaultValue `'etcd-cluster'` */
  initialClusterToken?: string;
  /**
   * This member's advertised peer URLs (etcd `--initial-advertise-peer-urls`).
   * Checked against its entry in `initialCluster` (etcd refuses a mismatch);
   * required with `discoverySrv`.
   */
  initialAdvertisePeerUrls?: readonly string[];
  /**
   * Bootstrap from DNS SRV records under this domain instead of
   * `initialCluster` (etcd `--discovery-srv`): `_kv-server._tcp`,
   * `_etcd-server._tcp` and their `-ssl` variants.
   */
  discoverySrv?: string;
  /**
   * Bootstrap through etcd's discovery protocol at this URL (etcd
   * `--discovery`): a directory of any cluster serving the v2 keys API whose
   * `_config/size` holds the cluster size. Needs `initialAdvertisePeerUrls`.
   * The URL is then the cluster token, unless `initialClusterToken` is set.
   */
  discovery?: string;
  /** How long `discovery` waits for the other members. @defaultValue 5 minutes */
  discoveryTimeoutMs?: number;
  /** DNS servers for `discoverySrv` (`host` or `host:port`). @defaultValue the system's */
  dnsServers?: readonly string[];
  /** Where clients reach this member, shown by `members.list()`. */
  advertiseClientUrls?: readonly string[];
  /**
   * Durable storage of the Raft log. Without it the log lives in memory
   * (the classic-level store under `dataDir` comes with durable storage).
   */
  logStore?: LogStore;
  /**
   * Directory for durable storage (etcd `--data-dir`), created if missing:
   * the Raft log, hard state, snapshots and this member's identity, in a
   * classic-level database, fsynced with group commit. Restarting on it
   * restores the member. Ignored when `logStore` is given; without either,
   * storage is in memory. One node at a time: a second open, in any
   * process, fails with `StorageError` `STORE_DATA_DIR_LOCKED`.
   */
  dataDir?: string;
  /** @defaultValue 100 */
  heartbeatIntervalMs?: number;
  /** At least 5 × the heartbeat interval. @defaultValue 1000 */
  electionTimeoutMs?: number;
  /**
   * Applied entries between snapshots. A snapshot encodes the whole tree:
   * with 100,000 keys, one every 10,000 writes (etcd v2's default) took
   * 40% of write throughput here, which is why etcd 3.2 moved to 100,000.
   * @defaultValue 100000
   */
  snapshotCount?: number;
  /** How long a write or linearizable read may wait for a quorum. @defaultValue 5000 + 2 × electionTimeoutMs */
  requestTimeoutMs?: number;
  /** Change events kept for watches from a past index. @defaultValue 1000 */
  historySize?: number;
  /** Events buffered per watch before a slow consumer's watch ends. @defaultValue 1024 */
  watchBufferSize?: number;
  /** Longest key in bytes. @defaultValue 4096 */
  maxKeyBytes?: number;
  /** Largest value in msgpack-encoded bytes. @defaultValue 1 MiB */
  maxValueBytes?: number;
  /** Wall clock for TTLs (ms since the epoch). @defaultValue `Date.now` */
  wallClock?: () => number;
  logger?: RaftLogger;
  /**
   * This member's ID, when restarting a member that joined an existing
   * cluster (its ID then includes the time it was added, so it cannot be
   * derived). Durable storage records it, so this is only needed with a
   * `logStore` that does not.
   */
  memberId?: string;
  /**
   * How long a member started with `initialClusterState: 'existing'` waits
   * for the cluster to contact it (it must have been added first).
   * @defaultValue 60000
   */
  joinTimeoutMs?: number;
  /** Bytes of storage on disk, for `status().dbSize`. */
  dbSize?: () => number;
  /** Called after the node closes (to close what the caller opened for it). */
  onClose?: () => Promise<void>;
}

/**
 * Creates and starts a member of a replicated key store: Raft + the etcd v2
 * key tree + storage + transport. The one import a host app needs.
 *
 * @example
 * ```ts
 * import { createNode } from '@kv/store';
 * import { createMemoryNetwork } from '@kv/raft/testing';
 *
 * const net = createMemoryNetwork({ seed: 1 });
 * const initialCluster = { m1: 'mem://m1', m2: 'mem://m2', m3: 'mem://m3' };
 * const nodes = await Promise.all(['m1', 'm2', 'm3'].map((name) =>
 *   createNode({ name, initialCluster, transport: net.transport(name) })));
 * await nodes[0].set('/os', 'linux');
 * (await nodes[1].get('/os')).node.value; // 'linux'
 * ```
 *
 * @throws KvError 209 for invalid options (the message says which), e.g. a
 * `name` missing from `initialCluster`.
 * @throws StorageError with `dataDir`: `STORE_DATA_DIR_LOCKED` (in use),
 * `STORE_CORRUPT`, `STORE_CLUSTER_ID_MISMATCH` (another cluster's
 * directory), `STORE_MEMBER_REMOVED` (a removed member's directory).
 */
export async function createNode(options: CreateNodeOptions): Promise<KvNode> {
  // Durable storage under dataDir (storage/node-data-dir.ts): closed with the node, or here if the start fails.
  if (options.dataDir === undefined || options.logStore !== undefined) return startNode(options, undefined);
  const dataDir = await NodeDataDir.open({ dir: options.dataDir, logger: options.logger ?? silentLogger });
  try {
    return await startNode(options, dataDir);
  } catch (e) {
    await dataDir.close();
    throw e;
  }
}

async function startNode(options: CreateNodeOptions, dataDir: NodeDataDir | undefined): Promise<KvNode> {
  const name = options.name ?? 'default';
  const token = options.initialClusterToken ?? options.discovery ?? 'etcd-cluster';
  const state = options.initialClusterState ?? 'new';
  if (!options.transport) throw invalid('transport is required');
  if (state !== 'new' && state !== 'existing') throw invalid(`initialClusterState must be 'new' or 'existing', got ${String(state)}`);
  let spec = options.initialCluster;
  if (options.discoverySrv !== undefined) {
    if (!options.initialAdvertisePeerUrls || options.initialAdvertisePeerUrls.length === 0) {
      throw invalid('discoverySrv needs initialAdvertisePeerUrls (how this member finds itself among the SRV records)');
    }
    spec = await discoverSrv({
      domain: options.discoverySrv,
      name,
      advertisePeerUrls: options.initialAdvertisePeerUrls,
      ...(options.dnsServers ? { dnsServers: options.dnsServers } : {}),
    });
  }
  if (options.discovery !== undefined) {
    if (!options.initialAdvertisePeerUrls || options.initialAdvertisePeerUrls.length === 0) {
      throw invalid('discovery needs initialAdvertisePeerUrls (what this member registers)');
    }
    spec = await discoverUrl({
      url: options.discovery,
      name,
      memberId: memberId(options.initialAdvertisePeerUrls, token),
      peerUrls: options.initialAdvertisePeerUrls,
      ...(options.discoveryTimeoutMs !== undefined ? { timeoutMs: options.discoveryTimeoutMs } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
    });
  }
  if (spec === undefined) throw invalid('initialCluster (or discovery, or discoverySrv) is required');
  let cluster: Map<string, string[]>;
  try {
    cluster = parseInitialCluster(spec);
  } catch (e) {
    throw invalid((e as Error).message);
  }
  const ownUrls = cluster.get(name);
  if (!ownUrls) {
    throw invalid(`couldn't find local name "${name}" in the initial cluster configuration (${[...cluster.keys()].join(', ')})`);
  }
  checkAdvertised(name, ownUrls, options.initialAdvertisePeerUrls);
  const logger = options.logger ?? silentLogger;
  const limits = {
    maxKeyBytes: options.maxKeyBytes ?? DEFAULT_LIMITS.maxKeyBytes,
    maxValueBytes: options.maxValueBytes ?? DEFAULT_LIMITS.maxValueBytes,
  };
  const clientURLs = [...(options.advertiseClientUrls ?? [])];

  // IDs as etcd derives them for the initial members; a joining member learns
  // its own (time-salted) ID from the first message the cluster sends it.
  const initialIds = new Map<string, string>([...cluster].map(([n, urls]) => [n, memberId(urls, token)]));
  const initialClusterId = deriveClusterId([...initialIds.values()]);
  let id: string;
  let transport: Transport = options.transport;
  const logStore = options.logStore ?? dataDir?.store ?? new MemoryLogStore();
  const recorded = dataDir?.check({ name, state, clusterId: initialClusterId, ...(options.memberId !== undefined ? { memberId: options.memberId } : {}) });
  const persisted = await logStore.load();
  const hasState = persisted.hardState.term > 0 || persisted.entries.length > 0 || persisted.snapshot !== undefined;
  if (options.memberId !== undefined) {
    id = options.memberId;
  } else if (recorded !== undefined) {
    id = recorded.memberId;
  } else if (state === 'new') {
    id = initialIds.get(name)!;
  } else if (hasState) {
    throw invalid(
      `member ${name} restarts with state from an existing cluster it joined; pass memberId (its ID from members.list()) to restart it`,
    );
  } else {
    const joining = new JoiningTransport(options.transport);
    transport = joining;
    logger.info(`${name} is waiting for the cluster to contact it at ${ownUrls.join(',')}`);
    const joinTimeoutMs = options.joinTimeoutMs ?? 60_000;
    const clock = options.transport.clock ?? realClock;
    let timer: ReturnType<typeof clock.setTimeout> | undefined;
    try {
      id = await Promise.race([
        joining.whoAmI(),
        new Promise<never>((_, reject) => {
          timer = clock.setTimeout(
            () =>
              reject(
                new RaftError(
                  'RAFT_TIMEOUT',
                  `no member of the cluster contacted ${name} at ${ownUrls.join(',')} within ${joinTimeoutMs} ms; ` +
                    `add it first (members.add / etcdctl member add) and check that the peer URL is reachable`,
                ),
              ),
            joinTimeoutMs,
          );
        }),
      ]);
    } catch (e) {
      await joining.stop();
      throw e;
    } finally {
      if (timer !== undefined) clock.clearTimeout(timer);
    }
    logger.info(`${name} joined the cluster as member ${id}`);
  }
  await dataDir?.record({ memberId: id, name, clusterId: state === 'new' ? initialClusterId : '' });

  let node: KvNode | undefined;
  const indexes = new IndexRegistry();
  let hub: WatcherHub;
  const tree = new KeyTree({
    historySize: options.historySize ?? 1000,
    observer: {
      valueWritten: (key, value) => indexes.valueWritten(key, value),
      valueRemoved: (key) => indexes.valueRemoved(key),
      event: (e) => {
        hub.notify(e);
        node?.emit('change', e);
      },
    },
  });
  hub = new WatcherHub(tree.history, () => tree.index);
  const sm = new KvStateMachine(tree, indexes, hub);

  const raft = new RaftNode<ApplyResult>({
    id,
    logStore,
    transport,
    stateMachine: sm,
    logger,
    ...(state === 'new' && !hasState
      ? {
          initialMembers: Object.fromEntries([...cluster].map(([n, urls]) => [initialIds.get(n)!, urls[0]])),
          initialMemberMeta: Object.fromEntries(
            [...cluster].map(([n]) => [
              initialIds.get(n)!,
              // Identical on every member: these are the log's first entries,
              // and replicas must agree on them byte for byte. Client URLs
              // are published through the log once the member runs.
              { name: n, clientURLs: [], clusterId: initialClusterId },
            ]),
          ),
        }
      : {}),
    ...(options.heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs: options.heartbeatIntervalMs } : {}),
    ...(options.electionTimeoutMs !== undefined ? { electionTimeoutMs: options.electionTimeoutMs } : {}),
    snapshotCount: options.snapshotCount ?? 100_000,
    ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
  });
  // Peer handshakes refuse members of another cluster (the joining member
  // learns the cluster ID when it replays the membership, and sets it then).
  if (state === 'new' || recorded?.clusterId) transport.setIdentity?.({ clusterId: recorded?.clusterId || initialClusterId });
  await raft.start();

  const clock = transport.clock ?? realClock;
  node = new KvNode({
    name,
    clusterToken: token,
    clusterId: () => {
      for (const m of raft.memberList()) {
        const c = (m.meta as { clusterId?: unknown } | undefined)?.clusterId;
        if (typeof c === 'string') return c;
      }
      return initialClusterId;
    },
    raft,
    tree,
    hub,
    indexes,
    limits,
    clock,
    wallClock: options.wallClock ?? Date.now,
    watchBufferSize: options.watchBufferSize ?? 1024,
    dbSize: options.dbSize ?? (dataDir ? () => dataDir.size() : () => 0),
    onClose: async () => {
      await dataDir?.close();
      await options.onClose?.();
    },
  });
  publishAttributes(node, raft, { name, clientURLs, peerURLs: ownUrls }, clock, logger);
  dataDir?.attach(node, raft);
  return node;
}

/**
 * Like etcd's publish: once a leader is known, record this member's name
 * and client URLs in the membership (through the log), so every member's
 * `members.list()` shows them. Retried until it lands or the node closes.
 */
function publishAttributes(
  node: KvNode,
  raft: RaftNode<ApplyResult>,
  attrs: { name: string; clientURLs: readonly string[]; peerURLs: readonly string[] },
  clock: NonNullable<Transport['clock']>,
  logger: RaftLogger,
): void {
  let closed = false;
  node.once('removed', () => (closed = true));
  const attempt = (): void => {
    if (closed) return;
    const me = raft.memberList().find((m) => m.id === raft.id);
    const meta = (me?.meta ?? {}) as { name?: string; clientURLs?: string[]; clusterId?: string };
    const same = me && meta.name === attrs.name && JSON.stringify(meta.clientURLs ?? []) === JSON.stringify(attrs.clientURLs);
    if (same) return;
    if (!me || raft.status().leader === undefined) {
      clock.setTimeout(attempt, 200);
      return;
    }
    raft
      .updateMember(raft.id, me.peerUrls.length > 0 ? me.peerUrls : attrs.peerURLs, { ...meta, name: attrs.name, clientURLs: [...attrs.clientURLs] })
      .then(
        () => logger.info(`${attrs.name} published its name and client URLs to the cluster`),
        (e: unknown) => {
          if (e instanceof RaftError && (e.code === 'RAFT_STOPPED' || e.code === 'RAFT_REMOVED')) return;
          clock.setTimeout(attempt, 500);
        },
      );
  };
  attempt();
}

/**
 * etcd refuses a member whose advertised peer URLs differ from its entry in
 * the initial cluster, in these words.
 */
function checkAdvertised(name: string, inCluster: readonly string[], advertised: readonly string[] | undefined): void {
  if (!advertised || advertised.length === 0) return;
  const norm = (u: string): string => new URL(u).href.replace(/\/$/, '');
  const a = advertised.map(norm);
  const c = inCluster.map(norm);
  const missingFromAdvertised = c.filter((u) => !a.includes(u));
  if (missingFromAdvertised.length > 0) {
    throw invalid(
      `--initial-cluster has ${missingFromAdvertised.map((u) => `${name}=${u}`).join(',')} but missing from --initial-advertise-peer-urls=${a.join(',')}`,
    );
  }
  if (a.some((u) => !c.includes(u))) {
    throw invalid(`--initial-advertise-peer-urls=${a.join(',')} but missing from --initial-cluster=${c.map((u) => `${name}=${u}`).join(',')}`);
  }
}

function invalid(msg: string): KvError {
  return new KvError(KvErrorCode.InvalidField, msg, 0, `invalid option: ${msg}`);
}
