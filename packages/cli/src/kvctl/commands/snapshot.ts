/**
 * `kvctl snapshot save <file>`, `snapshot restore <file> --data-dir <dir>
 * [--name --initial-cluster --initial-cluster-token
 * --initial-advertise-peer-urls]` and `snapshot status <file>`, as etcdctl
 * v3's (kv's snapshot format; see `@kv/store`'s `takeStoreSnapshot`).
 *
 * @packageDocumentation
 */
import { createReadStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { KvError, StorageError, StoreSnapshotDecoder, StoreSnapshotFormatError, restoreDataDir, type StoreSnapshotInfo } from '@kv/store';
import { ClusterUnavailableError } from '../client.js';
import { KVCTL_EXIT, KvctlExit, errorExit, parseCommandArgs, requireArg, type KvctlContext } from '../io.js';
import { ProgressBar } from '../progress.js';
import { humanBytes, renderTable } from '../table.js';

/** The route `snapshot save` fetches (served by `serveHttp`). */
export const SNAPSHOT_PATH = '/kv/v1/snapshot';

function fail(msg: string, code: number = KVCTL_EXIT.badArgs): KvctlExit {
  return new KvctlExit(code, `Error:  ${msg}\n`);
}

/** A snapshot-reading failure as the one line kvctl prints. */
function readFailure(file: string, e: unknown): KvctlExit {
  if (e instanceof KvctlExit) return e;
  if (e instanceof StoreSnapshotFormatError) return fail(`snapshot file ${file}: ${e.message}`);
  if (e instanceof KvError) return fail(e.cause || e.message);
  if (e instanceof StorageError) return fail(e.message);
  return fail((e as Error)?.message ?? String(e));
}

/**
 * `snapshot save <file>`: streams a snapshot from the (one) endpoint into
 * `<file>.part`, verifying it as it arrives, then fsyncs it and renames it
 * to `<file>`. A damaged or cut stream leaves no file behind.
 */
async function save(ctx: KvctlContext, argv: readonly string[]): Promise<number> {
  const args = parseCommandArgs(argv, {});
  const file = requireArg(args, 0, 'snapshot file path');
  if (args.positionals.length > 1) throw fail('snapshot save expects one argument');
  if (ctx.endpoints.length !== 1) throw fail(`snapshot must be requested from one selected endpoint, not ${ctx.endpoints.length}`);
  let answer;
  try {
    answer = await ctx.client.stream(SNAPSHOT_PATH);
  } catch (e) {
    throw errorExit(ctx, e instanceof ClusterUnavailableError ? KVCTL_EXIT.badConnection : KVCTL_EXIT.serverError, e);
  }
  const { body, endpoint } = answer;
  if (answer.status !== 200) {
    let text = '';
    for await (const c of body as AsyncIterable<Buffer>) text += c.toString();
    let message = `unexpected HTTP status ${answer.status}`;
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? message;
    } catch {
      /* not JSON */
    }
    const code = answer.status === 401 ? KVCTL_EXIT.badAuth : answer.status === 404 ? KVCTL_EXIT.badArgs : KVCTL_EXIT.serverError;
    throw fail(`${endpoint} refused the snapshot: ${message}${answer.status === 404 ? ' (is it a kvd?)' : ''}`, code);
  }
  const totalHeader = answer.headers.get('x-kv-snapshot-nodes');
  const total = totalHeader !== null && /^\d+$/.test(totalHeader) ? Number(totalHeader) : undefined;
  const part = `${file}.part`;
  let fh;
  try {
    fh = await open(part, 'w');
  } catch (e) {
    body.destroy();
    throw fail(`cannot create ${part}: ${(e as Error).message}`);
  }
  const bar = new ProgressBar(ctx.io.stderr, { label: 'Saving snapshot', unit: 'keys' });
  const decoder = new StoreSnapshotDecoder();
  try {
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        decoder.push(chunk);
        await fh.write(chunk);
        bar.update(decoder.nodesRead, total, decoder.bytesRead);
      }
    } catch (e) {
      if (e instanceof StoreSnapshotFormatError) throw e;
      throw new StoreSnapshotFormatError('STORE_SNAPSHOT_TRUNCATED', `the connection to ${endpoint} failed after ${decoder.bytesRead} bytes: ${(e as Error).message}`, decoder.bytesRead);
    }
    decoder.end();
    await fh.sync();
    await fh.close();
    await rename(part, file);
  } catch (e) {
    bar.abandon();
    body.destroy();
    await fh.close().catch(() => undefined);
    await rm(part, { force: true });
    if (e instanceof StoreSnapshotFormatError) throw fail(`snapshot from ${endpoint} is not usable (nothing saved): ${e.message}`, KVCTL_EXIT.serverError);
    throw fail(`saving ${file}: ${(e as Error).message}`);
  }
  const info = decoder.info!;
  bar.finish(decoder.nodesRead, total, decoder.bytesRead, `saved ${info.nodes} keys (${humanBytes(decoder.bytesRead)}, store index ${info.storeIndex})`);
  ctx.out(`Snapshot saved at ${file}`);
  return 0;
}

async function fileSize(file: string): Promise<number> {
  try {
    const s = await stat(file);
    if (!s.isFile()) throw fail(`snapshot file ${file} is not a file`);
    return s.size;
  } catch (e) {
    if (e instanceof KvctlExit) throw e;
    throw fail(`cannot read snapshot file ${file}: ${(e as Error).message}`);
  }
}

/** `snapshot restore <file> ...`: a new data dir for one member of a new cluster holding the snapshot's keys. */
async function restore(ctx: KvctlContext, argv: readonly string[]): Promise<number> {
  const args = parseCommandArgs(argv, {
    'data-dir': { type: 'string' },
    name: { type: 'string' },
    'initial-cluster': { type: 'string' },
    'initial-cluster-token': { type: 'string' },
    'initial-advertise-peer-urls': { type: 'string' },
  });
  const file = requireArg(args, 0, 'snapshot file path');
  if (args.positionals.length > 1) throw fail('snapshot restore expects one snapshot file');
  const str = (n: string): string | undefined => {
    const v = args.values[n];
    return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
  };
  const name = str('name') ?? 'default';
  const dataDir = str('data-dir') ?? `${name}.kv`;
  const advertise = str('initial-advertise-peer-urls')?.split(',').map((u) => u.trim()).filter((u) => u !== '');
  const size = await fileSize(file);
  const bar = new ProgressBar(ctx.io.stderr, { label: 'Restoring snapshot', unit: 'bytes' });
  let restored;
  try {
    restored = await restoreDataDir({
      snapshot: file,
      dataDir,
      name,
      ...(str('initial-cluster') !== undefined ? { initialCluster: str('initial-cluster')! } : {}),
      ...(str('initial-cluster-token') !== undefined ? { initialClusterToken: str('initial-cluster-token')! } : {}),
      ...(advertise !== undefined ? { initialAdvertisePeerUrls: advertise } : {}),
      onProgress: (bytes) => bar.update(bytes, size),
    });
  } catch (e) {
    bar.abandon();
    throw readFailure(file, e);
  }
  bar.finish(size, size, undefined, `restored ${restored.snapshot.nodes} keys (${humanBytes(size)})`);
  ctx.out(
    `Restored snapshot ${file} to data dir ${restored.dataDir}: member ${restored.memberId} (${restored.name}) of new cluster ${restored.clusterId}, ` +
      `${restored.snapshot.nodes} keys, store index ${restored.snapshot.storeIndex}`,
  );
  return 0;
}

/** `snapshot status <file> [-w simple|table|json]`: verifies a snapshot file and shows what it holds (etcdctl's columns). */
async function status(ctx: KvctlContext, argv: readonly string[], writeOut: string): Promise<number> {
  const args = parseCommandArgs(argv, { 'write-out': { type: 'string', short: 'w' } });
  const file = requireArg(args, 0, 'snapshot file path');
  const format = typeof args.values['write-out'] === 'string' ? args.values['write-out'] : writeOut;
  if (!['simple', 'table', 'json'].includes(format)) throw fail(`unsupported output format ${JSON.stringify(format)}`);
  const size = await fileSize(file);
  const decoder = new StoreSnapshotDecoder();
  let sha = '';
  try {
    for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
      for (const f of decoder.push(chunk)) if (f.kind === 'end') sha = f.sha256;
    }
    decoder.end();
  } catch (e) {
    throw readFailure(file, e);
  }
  const info: StoreSnapshotInfo = decoder.info!;
  const hash = sha.slice(0, 8);
  if (format === 'json') {
    ctx.out(JSON.stringify({ hash, revision: info.storeIndex, raftIndex: info.raftIndex, totalKey: info.nodes, totalSize: size, member: info.memberId, cluster: info.clusterId, createdAt: info.createdAt }));
  } else if (format === 'table') {
    ctx.io.stdout.write(renderTable(['HASH', 'REVISION', 'TOTAL KEYS', 'TOTAL SIZE'], [[hash, String(info.storeIndex), String(info.nodes), humanBytes(size)]]));
  } else {
    ctx.out(`${hash}, ${info.storeIndex}, ${info.nodes}, ${humanBytes(size)}`);
  }
  return 0;
}

/** Runs `snapshot save|restore|status`. */
export async function snapshotCommand(ctx: KvctlContext, argv: readonly string[], writeOut: string): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'save':
      return save(ctx, rest);
    case 'restore':
      return restore(ctx, rest);
    case 'status':
      return status(ctx, rest, writeOut);
    default:
      throw fail(`snapshot: unknown subcommand ${JSON.stringify(sub ?? '')} (want save, restore or status)`);
  }
}
