/**
 * `restoreDataDir`: a new member data directory from a store snapshot, as
 * `etcdctl snapshot restore` makes one — the snapshot's keys, and a new
 * membership from the initial-cluster settings.
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, rename, rm } from 'node:fs/promises';
import { NONE, silentLogger, type ConfState, type MemberInfo, type RaftLogger } from '@kv/raft';
import { Packr } from 'msgpackr';
import { KvError, KvErrorCode } from '../errors.js';
import { clusterId as deriveClusterId, memberId, parseInitialCluster } from '../members/member-id.js';
import { StorageError } from '../storage/errors.js';
import { LevelLogStore } from '../storage/level-log-store.js';
import { KeyTree } from '../tree/key-tree.js';
import { StoreSnapshotFormatError, readStoreSnapshot, type StoreSnapshotInfo } from './store-snapshot.js';

/** Options of {@link restoreDataDir}, named after `etcdctl snapshot restore`'s flags. */
export interface RestoreDataDirOptions {
  /** The snapshot: a file's path, or its bytes (a stream). */
  readonly snapshot: string | AsyncIterable<Uint8Array>;
  /** The data directory to create (`--data-dir`); it must not exist yet. */
  readonly dataDir: string;
  /** The member this data directory is for (`--name`). @defaultValue `'default'` */
  readonly name?: string;
  /**
   * The new cluster's members, `name=url,...` or an object, as `createNode`'s
   * `initialCluster` (`--initial-cluster`). Must name `name`.
   * @defaultValue `<name>=http://localhost:2380`
   */
  readonly initialCluster?: string | Readonly<Record<string, string | readonly string[]>>;
  /** The new cluster's token (`--initial-cluster-token`). @defaultValue `'etcd-cluster'` */
  readonly initialClusterToken?: string;
  /**
   * This member's peer URLs (`--initial-advertise-peer-urls`); when given,
   * they must be its URLs in `initialCluster`.
   */
  readonly initialAdvertisePeerUrls?: readonly string[];
  /** Called as the snapshot is read, with the bytes and nodes read so far. */
  readonly onProgress?: (bytesRead: number, nodesRead: number, info: StoreSnapshotInfo | undefined) => void;
  /** @defaultValue silent */
  readonly logger?: RaftLogger;
}

/** What {@link restoreDataDir} made. */
export interface RestoredDataDir {
  readonly dataDir: string;
  readonly name: string;
  /** This member's ID in the new cluster. */
  readonly memberId: string;
  /** The new cluster's ID (what `initialCluster` and the token give, as when bootstrapping). */
  readonly clusterId: string;
  /** Every member of the new cluster. */
  readonly members: readonly { readonly name: string; readonly id: string; readonly peerURLs: readonly string[] }[];
  /** The Raft index the new log starts after (the snapshot's). */
  readonly raftIndex: number;
  /** The snapshot's header. */
  readonly snapshot: StoreSnapshotInfo;
}

/**
 * Creates a member's data directory holding a store snapshot's keys, for a
 * new cluster whose membership comes from `initialCluster` and
 * `initialClusterToken` (not from the snapshot), as `etcdctl snapshot
 * restore` does. Run it once per member with the same snapshot and cluster
 * settings, then start each member on its directory with those settings
 * (`kvd --data-dir <dir> --initial-cluster ... --initial-cluster-token ...`,
 * or `createNode`).
 *
 * @remarks
 * The snapshot is read and verified whole (checksum, frames, tree order)
 * before anything is written. The directory is written under a temporary
 * name beside `dataDir` and renamed into place, so a failure leaves no
 * `dataDir` behind. The new log starts after the snapshot's Raft index, so
 * the store index and every key's `createdIndex`/`modifiedIndex` carry on;
 * member IDs and the cluster ID are those a bootstrap with the same settings
 * gives.
 *
 * @throws StoreSnapshotFormatError for a damaged, cut short or foreign
 * snapshot (`STORE_SNAPSHOT_CORRUPT`, `STORE_SNAPSHOT_TRUNCATED`,
 * `STORE_SNAPSHOT_UNSUPPORTED`).
 * @throws KvError 209 for invalid options, or a `dataDir` that exists.
 * @throws StorageError `STORE_IO` when the snapshot file or the directory
 * cannot be read or written.
 *
 * @example
 * ```ts
 * await restoreDataDir({
 *   snapshot: 'backup.kvsnap', dataDir: './m1.kv', name: 'm1',
 *   initialCluster: 'm1=http://10.0.0.1:2380,m2=http://10.0.0.2:2380,m3=http://10.0.0.3:2380',
 *   initialClusterToken: 'restored-1',
 * });
 * ```
 */
export async function restoreDataDir(options: RestoreDataDirOptions): Promise<RestoredDataDir> {
  const name = options.name ?? 'default';
  const token = options.initialClusterToken ?? 'etcd-cluster';
  const dataDir = options.dataDir;
  if (typeof dataDir !== 'string' || dataDir === '') throw invalid('dataDir must be a non-empty path');
  let cluster: Map<string, string[]>;
  try {
    cluster = parseInitialCluster(options.initialCluster ?? `${name}=${options.initialAdvertisePeerUrls?.[0] ?? 'http://localhost:2380'}`);
  } catch (e) {
    throw invalid((e as Error).message);
  }
  const own = cluster.get(name);
  if (own === undefined) {
    throw invalid(`couldn't find local name "${name}" in the initial cluster configuration (${[...cluster.keys()].join(', ')})`);
  }
  const advertised = options.initialAdvertisePeerUrls;
  if (advertised !== undefined && advertised.length > 0 && !sameUrls(advertised, own)) {
    throw invalid(`--initial-advertise-peer-urls=${advertised.join(',')} differs from ${name}'s URLs in --initial-cluster (${own.join(',')})`);
  }
  if (await exists(dataDir)) {
    throw invalid(`data dir ${dataDir} exists; a restore makes a new data dir (remove it or choose another)`);
  }

  const source = typeof options.snapshot === 'string' ? readFile(options.snapshot, dataDir) : options.snapshot;
  const { info: header, tree } = await readStoreSnapshot(source, options.onProgress);
  try {
    new KeyTree().restore(tree);
  } catch (e) {
    throw new StoreSnapshotFormatError('STORE_SNAPSHOT_CORRUPT', `snapshot is corrupt: its tree does not load (${(e as Error).message})`, 0);
  }

  const ids = new Map([...cluster].map(([n, urls]) => [n, memberId(urls, token)]));
  const clusterId = deriveClusterId([...ids.values()]);
  const members: MemberInfo[] = [...cluster]
    .map(([n, urls]) => ({ id: ids.get(n)!, peerUrls: [...urls], isLearner: false, meta: { name: n, clientURLs: [], clusterId } }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const confState: ConfState = { voters: members.map((m) => m.id), learners: [] };
  const index = Math.max(1, header.raftIndex, header.storeIndex);
  // A packer of its own, as KvStateMachine.snapshot does: the tree may be large.
  const app = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true, int64AsType: 'number' }).pack(tree);
  const data = wrapForRaft({ members, removed: [], removedUrls: {} }, app);

  const tmp = `${dataDir}.restoring-${randomBytes(4).toString('hex')}`;
  const store = new LevelLogStore({ dir: tmp, logger: options.logger ?? silentLogger });
  try {
    await store.open();
    await store.save({ hardState: { term: 1, vote: NONE, commit: index }, entries: [], snapshot: { data, metadata: { index, term: 1, confState } } }, { sync: true });
    await store.writeMeta({ memberId: ids.get(name)!, clusterId, name });
    await store.close();
    await rename(tmp, dataDir);
  } catch (e) {
    await store.close().catch(() => undefined);
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    if (e instanceof StorageError) throw e;
    throw new StorageError('STORE_IO', `cannot write data dir ${dataDir}: ${(e as Error).message}`, { dir: dataDir, cause: e });
  }
  return {
    dataDir,
    name,
    memberId: ids.get(name)!,
    clusterId,
    members: [...cluster].map(([n, urls]) => ({ name: n, id: ids.get(n)!, peerURLs: urls })),
    raftIndex: index,
    snapshot: header,
  };
}

/**
 * @kv/raft's snapshot envelope (`node/snapshot-envelope.ts`, which the
 * package does not export): `'S'` 0x01 | header length u32 BE | the member
 * registry as JSON | the state machine's bytes. A restored member starts
 * from it exactly as from a snapshot it took itself.
 */
function wrapForRaft(registry: { members: MemberInfo[]; removed: string[]; removedUrls: Record<string, string[]> }, app: Uint8Array): Uint8Array {
  const header = Buffer.from(JSON.stringify(registry), 'utf8');
  const out = Buffer.allocUnsafe(6 + header.byteLength + app.byteLength);
  out[0] = 0x53;
  out[1] = 1;
  out.writeUInt32BE(header.byteLength, 2);
  out.set(header, 6);
  out.set(app, 6 + header.byteLength);
  return out;
}

async function* readFile(path: string, dataDir: string): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) yield chunk as Buffer;
  } catch (e) {
    throw new StorageError('STORE_IO', `cannot read snapshot file ${path}: ${(e as Error).message}`, { dir: dataDir, cause: e });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new StorageError('STORE_IO', `cannot check data dir ${path}: ${(e as Error).message}`, { dir: path, cause: e });
  }
}

function sameUrls(a: readonly string[], b: readonly string[]): boolean {
  const norm = (u: string): string => {
    try {
      return new URL(u).href.replace(/\/$/, '');
    } catch {
      return u;
    }
  };
  const x = new Set(a.map(norm));
  const y = new Set(b.map(norm));
  return x.size === y.size && [...x].every((u) => y.has(u));
}

function invalid(msg: string): KvError {
  return new KvError(KvErrorCode.InvalidField, msg, 0, `invalid option: ${msg}`);
}
