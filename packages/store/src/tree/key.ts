import { KvError, KvErrorCode } from '../errors.js';

/** Limits on keys and values, checked before anything is proposed. */
export interface KeyLimits {
  /** Longest key, in UTF-8 bytes after normalisation. @defaultValue 4096 */
  readonly maxKeyBytes: number;
  /** Largest value, in msgpack-encoded bytes. @defaultValue 1 MiB */
  readonly maxValueBytes: number;
}

export const DEFAULT_LIMITS: KeyLimits = Object.freeze({ maxKeyBytes: 4096, maxValueBytes: 1024 * 1024 });

const encoder = new TextEncoder();

/**
 * Normalises a key the way etcd v2 does (Go's `path.Clean("/" + key)`):
 * duplicate slashes collapse, `.` segments go, `..` climbs (never above the
 * root), a trailing slash is dropped. `foo//bar/` → `/foo/bar`.
 *
 * @throws KvError 209 (invalid field) for a key that is not a string,
 * contains a NUL byte, or exceeds `maxKeyBytes`.
 */
// Already-normal keys (the common case, and every key inside a command) skip
// the split/join: a leading slash, no empty, `.` or `..` segment, no trailing
// slash, no NUL.
const NORMAL_KEY = /^(?:\/(?!\.\.?(?:\/|$))[^/\0]+)+$/;

export function normalizeKey(key: unknown, limits: KeyLimits = DEFAULT_LIMITS): string {
  if (typeof key !== 'string') throw new KvError(KvErrorCode.InvalidField, `key must be a string, got ${typeof key}`, 0);
  if (key.length <= limits.maxKeyBytes / 3 && NORMAL_KEY.test(key)) return key;
  if (key.includes('\0')) throw new KvError(KvErrorCode.InvalidField, 'key must not contain NUL bytes', 0);
  const out: string[] = [];
  for (const seg of key.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  const clean = '/' + out.join('/');
  const bytes = encoder.encode(clean).byteLength;
  if (bytes > limits.maxKeyBytes) {
    throw new KvError(KvErrorCode.InvalidField, `key is ${bytes} bytes, maxKeyBytes is ${limits.maxKeyBytes}`, 0);
  }
  return clean;
}

/** The segments of a normalised key (`/a/b` → `['a', 'b']`; root → `[]`). */
export function segments(key: string): string[] {
  return key === '/' ? [] : key.slice(1).split('/');
}

/** Whether `key` is `prefix` itself or below it. */
export function isUnder(key: string, prefix: string): boolean {
  if (prefix === '/') return true;
  return key === prefix || key.startsWith(prefix + '/');
}

/**
 * Whether `key`, seen from a watcher or listing at `base`, is hidden: some
 * segment below `base` starts with `_` (etcd hides such keys from listings
 * and recursive watches, but not from direct reads).
 */
export function isHiddenBelow(base: string, key: string): boolean {
  const rest = base === '/' ? key.slice(1) : key.slice(base.length + 1);
  if (rest === '') return false;
  for (const seg of rest.split('/')) if (seg.startsWith('_')) return true;
  return false;
}
