/**
 * `kvd --version`: the lines etcd prints for `etcd --version`, with Node in
 * place of Go.
 *
 * @module
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What `kvd --version` reports. */
export interface KvdVersionInfo {
  /** `@kv/cli`'s version (package.json). */
  readonly version: string;
  /** The commit of the kv checkout kvd runs from, or etcd's "Not provided" wording. */
  readonly gitSha: string;
  /** `process.version`. */
  readonly nodeVersion: string;
  /** `<platform>/<arch>`, e.g. `linux/x64`. */
  readonly osArch: string;
}

const NOT_PROVIDED = 'Not provided (not run from a git checkout of kv)';

/** The version, the commit (when run from a git checkout of kv), and Node's version and platform. */
export function kvdVersion(): KvdVersionInfo {
  // src/kvd/ and dist/kvd/ are both two levels below the package.
  const pkgDir = fileURLToPath(new URL('../../', import.meta.url));
  let version = 'unknown';
  try {
    version = String((JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version?: unknown }).version ?? 'unknown');
  } catch {
    // keep 'unknown'
  }
  return { version, gitSha: gitSha(join(pkgDir, '..', '..')) ?? NOT_PROVIDED, nodeVersion: process.version, osArch: `${process.platform}/${process.arch}` };
}

/**
 * `kvd --version`'s text, as etcd's:
 *
 * ```
 * kvd Version: 0.1.0
 * Git SHA: 1a2b3c4
 * Node Version: v20.11.0
 * Node OS/Arch: linux/x64
 * ```
 */
export function versionText(info: KvdVersionInfo = kvdVersion()): string {
  return `kvd Version: ${info.version}\nGit SHA: ${info.gitSha}\nNode Version: ${info.nodeVersion}\nNode OS/Arch: ${info.osArch}\n`;
}

/**
 * The short commit of the kv checkout at `root`, read from `.git` without
 * running git; undefined when `root` is not one (an installed package must
 * not report its host application's commit).
 */
function gitSha(root: string): string | undefined {
  if (!existsSync(join(root, 'packages', 'cli', 'package.json'))) return undefined;
  const dotGit = join(root, '.git');
  try {
    if (statSync(dotGit).isDirectory()) return shaIn(dotGit, dotGit);
    // A worktree: `.git` is a file naming the git dir, whose `commondir` holds the refs.
    const m = /^gitdir:\s*(.+)$/m.exec(readFileSync(dotGit, 'utf8'));
    if (m === null) return undefined;
    const gitDir = resolve(root, m[1]!.trim());
    const common = existsSync(join(gitDir, 'commondir')) ? resolve(gitDir, readFileSync(join(gitDir, 'commondir'), 'utf8').trim()) : gitDir;
    return shaIn(gitDir, common);
  } catch {
    return undefined;
  }
}

function shaIn(gitDir: string, commonDir: string): string | undefined {
  try {
    const head = readFileSync(join(gitDir, 'HEAD'), 'utf8').trim();
    const ref = /^ref:\s*(.+)$/.exec(head)?.[1];
    if (ref === undefined) return /^[0-9a-f]{40}$/.test(head) ? head.slice(0, 7) : undefined;
    const loose = join(commonDir, ref);
    if (existsSync(loose)) return readFileSync(loose, 'utf8').trim().slice(0, 7);
    const packed = readFileSync(join(commonDir, 'packed-refs'), 'utf8');
    const line = packed.split('\n').find((l) => l.endsWith(` ${ref}`));
    return line?.slice(0, 7);
  } catch {
    return undefined;
  }
}
