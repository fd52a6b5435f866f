// Shared by the storage tests: temporary data dirs, a recording logger, entries.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { EntryType, type Entry, type RaftLogger } from '@kv/raft';

/** A new, empty directory under the OS temp dir; the caller removes it. */
export function tempDir(label: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `kv-storage-${label}-`));
}

/** A logger that keeps its lines, prefixed with the level. */
export function recordingLogger(): RaftLogger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    debug: (m) => void lines.push(`debug ${m}`),
    info: (m) => void lines.push(`info ${m}`),
    warn: (m) => void lines.push(`warn ${m}`),
    error: (m) => void lines.push(`error ${m}`),
  };
}

/** Entries `from, from+1, ...` with the given terms; each one's data says its index. */
export function ents(from: number, terms: readonly number[]): Entry[] {
  return terms.map((term, k) => ({
    index: from + k,
    term,
    type: EntryType.Normal,
    data: new TextEncoder().encode(`entry ${from + k}`),
  }));
}
