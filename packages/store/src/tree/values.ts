/**
 * Values are any msgpack-encodable data. These helpers compare them (for
 * compare-and-swap), print them (for etcd's `[a != b]` causes) and freeze
 * them (so a caller cannot change the store by mutating a result).
 */

/** Structural equality of two msgpack-encodable values. */
export function valueEquals(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') {
    // NaN equals NaN for a compare-and-swap's purposes.
    return typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b);
  }
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array && b instanceof Uint8Array) || a.byteLength !== b.byteLength) return false;
    for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    if (a.length !== bb.length) return false;
    for (let i = 0; i < a.length; i++) if (!valueEquals(a[i], bb[i])) return false;
    return true;
  }
  if (a instanceof Map || b instanceof Map) {
    if (!(a instanceof Map && b instanceof Map) || a.size !== b.size) return false;
    for (const [k, v] of a) if (!b.has(k) || !valueEquals(v, b.get(k))) return false;
    return true;
  }
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
    if (!valueEquals((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

/** A value as etcd prints it in a compare-failed cause: strings bare, the rest as JSON. */
export function formatValue(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return `<${v.byteLength} bytes>`;
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/**
 * Freezes plain objects and arrays deeply, so values handed out by the store
 * cannot be changed in place. Byte arrays cannot be frozen: callers must not
 * mutate them (documented on the node's methods).
 */
export function deepFreeze<T>(v: T): T {
  if (typeof v !== 'object' || v === null || v instanceof Uint8Array || Object.isFrozen(v)) return v;
  if (v instanceof Map) {
    for (const x of v.values()) deepFreeze(x);
    return v;
  }
  for (const x of Object.values(v as object)) deepFreeze(x);
  return Object.freeze(v);
}
