/**
 * One owner per data directory.
 *
 * Why it is built this way: LevelDB already takes an exclusive, non-blocking
 * `fcntl` lock on its `LOCK` file when a database opens, and the kernel drops
 * that lock when the holder dies, even by SIGKILL, so it never goes stale.
 * That is the lock. Two problems remain, and this module fixes them:
 * - Inside one process LevelDB refuses a second open with "already held by
 *   process", but the refused attempt closes its descriptor on `LOCK`, and
 *   closing any descriptor drops the process's `fcntl` lock, so a second
 *   process could then open the database under the first. A second open in
 *   the same process must therefore never reach LevelDB; an in-process
 *   registry (by real path) refuses it first.
 * - LevelDB's error does not say who holds the lock. The holder writes its
 *   PID to `kv.pid` in the data directory, and a refused opener names it.
 *
 * A `kv.pid` left by a process that died is harmless: it is only read to
 * word the message, and the next owner overwrites it. (An O_EXCL lock file
 * would need stale-lock detection, which PID reuse makes unreliable.)
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto';
import { readFile, realpath, rename, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

import { StorageError } from './errors.js';

/** The file in a data directory that names the process holding it. */
export const PID_FILE = 'kv.pid';

/** What `kv.pid` records about the holder of a data directory. */
export interface DirLockHolder {
  readonly pid: number;
  readonly hostname: string;
  /** ISO time the holder took the lock. */
  readonly since: string;
}

/** Data directories (real paths) held by a {@link DirLock} in this process. */
const held = new Set<string>();

/**
 * The claim of one handle on a data directory. Take it with
 * {@link DirLock.acquire}, give it back with {@link DirLock.release}.
 *
 * @remarks
 * Refusals are immediate (no waiting for the holder) and are
 * `StorageError` `STORE_DATA_DIR_LOCKED` naming the directory and, when
 * known, the holder's PID.
 */
export class DirLock {
  private released = false;

  private constructor(
    /** The data directory as given. */
    readonly dir: string,
    private readonly realDir: string,
    private readonly token: string,
  ) {}

  /**
   * Claims `dir` (an existing directory) and opens what it guards.
   *
   * @param openExclusive Opens the database in `dir`. It must reject with an
   * error whose `code` or `cause.code` is `LEVEL_LOCKED` when another process
   * holds it (classic-level does); any other rejection is passed on.
   * @throws StorageError `STORE_DATA_DIR_LOCKED` when this process or another
   * one holds `dir`; whatever `openExclusive` throws otherwise.
   */
  static async acquire(dir: string, openExclusive: () => Promise<void>): Promise<DirLock> {
    const realDir = await realpath(dir);
    if (held.has(realDir)) {
      throw new StorageError(
        'STORE_DATA_DIR_LOCKED',
        `data dir ${dir} is already open in this process (pid ${process.pid}); close the node or store using it first`,
        { dir, pid: process.pid },
      );
    }
    // Claimed before the first await below, so a concurrent acquire in this
    // process is refused at once rather than reaching LevelDB.
    held.add(realDir);
    try {
      try {
        await openExclusive();
      } catch (e) {
        if (!isLevelLocked(e)) throw e;
        const holder = await readHolder(dir);
        const alive = holder !== undefined && holder.hostname === hostname() && isAlive(holder.pid);
        throw new StorageError(
          'STORE_DATA_DIR_LOCKED',
          `data dir ${dir} is in use by another process` +
            (alive ? ` (pid ${holder.pid}, since ${holder.since})` : '') +
            `; a data dir belongs to one member at a time: stop that process or choose another dataDir`,
          { dir, cause: e, ...(alive ? { pid: holder.pid } : {}) },
        );
      }
      const lock = new DirLock(dir, realDir, randomBytes(8).toString('hex'));
      await lock.writeHolder();
      return lock;
    } catch (e) {
      held.delete(realDir);
      throw e;
    }
  }

  /** Who holds `dir`, from its `kv.pid`; undefined when it has none or it does not parse. */
  static holder(dir: string): Promise<DirLockHolder | undefined> {
    return readHolder(dir);
  }

  /**
   * Removes `kv.pid` (if it is still this handle's) and drops the claim. Call
   * it after closing what {@link DirLock.acquire} opened. Idempotent.
   */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    try {
      const text = await readFile(join(this.dir, PID_FILE), 'utf8');
      if ((JSON.parse(text) as { token?: unknown }).token === this.token) await unlink(join(this.dir, PID_FILE));
    } catch {
      // Gone or unreadable: nothing of ours to remove.
    } finally {
      held.delete(this.realDir);
    }
  }

  /** Writes `kv.pid` whole (a temporary file renamed over it), so a reader never sees half of it. */
  private async writeHolder(): Promise<void> {
    const record = { pid: process.pid, hostname: hostname(), since: new Date().toISOString(), token: this.token };
    const tmp = join(this.dir, `${PID_FILE}.${process.pid}.${this.token}.tmp`);
    await writeFile(tmp, JSON.stringify(record) + '\n');
    await rename(tmp, join(this.dir, PID_FILE));
  }
}

async function readHolder(dir: string): Promise<DirLockHolder | undefined> {
  try {
    const v = JSON.parse(await readFile(join(dir, PID_FILE), 'utf8')) as Partial<DirLockHolder>;
    if (typeof v.pid !== 'number' || typeof v.hostname !== 'string' || typeof v.since !== 'string') return undefined;
    return { pid: v.pid, hostname: v.hostname, since: v.since };
  } catch {
    return undefined;
  }
}

/** Whether process `pid` exists (signal 0 probes without sending anything). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isLevelLocked(e: unknown): boolean {
  const code = (x: unknown): unknown => (typeof x === 'object' && x !== null ? (x as { code?: unknown }).code : undefined);
  return code(e) === 'LEVEL_LOCKED' || code((e as { cause?: unknown } | null)?.cause) === 'LEVEL_LOCKED';
}
