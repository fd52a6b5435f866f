import { KvError, KvErrorCode } from '../errors.js';
import { isUnder, normalizeKey } from '../tree/key.js';

/** A value an index files a key under. */
export type IndexValue = string | number | boolean;

/**
 * A secondary index over the values under `prefix`: `key(value, key)` gives
 * the index value(s) a key is found by (or `undefined` to leave it out).
 *
 * @remarks
 * Define the same indexes, with the same functions, on every replica: they
 * are maintained as entries apply, not replicated. The function must be
 * deterministic and must not throw (a throw leaves the key out).
 */
export interface IndexDefinition {
  readonly prefix: string;
  readonly key: (value: unknown, key: string) => IndexValue | readonly IndexValue[] | undefined;
}

interface Index {
  readonly prefix: string;
  readonly fn: IndexDefinition['key'];
  /** index value → keys */
  readonly byValue: Map<IndexValue, Set<string>>;
  /** key → the index values it is filed under (to unfile it on change) */
  readonly byKey: Map<string, readonly IndexValue[]>;
}

/**
 * The node's secondary indexes, kept in step with the tree by observing
 * every value written and removed (including by snapshot restore).
 */
export class IndexRegistry {
  private readonly indexes = new Map<string, Index>();

  /**
   * Defines an index and builds it from the values already stored.
   *
   * @throws KvError 209 when the name is taken or the definition is malformed.
   */
  define(name: string, def: IndexDefinition, existing: (prefix: string, fn: (key: string, value: unknown) => void) => void): void {
    if (typeof name !== 'string' || name === '') throw new KvError(KvErrorCode.InvalidField, 'index name must be a non-empty string', 0);
    if (this.indexes.has(name)) throw new KvError(KvErrorCode.InvalidField, `index ${name} is already defined`, 0);
    if (typeof def?.key !== 'function') throw new KvError(KvErrorCode.InvalidField, `index ${name} needs a key function`, 0);
    const idx: Index = { prefix: normalizeKey(def.prefix), fn: def.key, byValue: new Map(), byKey: new Map() };
    this.indexes.set(name, idx);
    existing(idx.prefix, (key, value) => this.file(idx, key, value));
  }

  /**
   * Keys filed under `value` in index `name`, sorted.
   *
   * @throws KvError 209 for an unknown index.
   */
  query(name: string, value: IndexValue): string[] {
    const idx = this.indexes.get(name);
    if (!idx) throw new KvError(KvErrorCode.InvalidField, `no index named ${name}`, 0);
    const keys = idx.byValue.get(value);
    return keys ? [...keys].sort() : [];
  }

  has(name: string): boolean {
    return this.indexes.has(name);
  }

  valueWritten(key: string, value: unknown): void {
    for (const idx of this.indexes.values()) {
      if (!isUnder(key, idx.prefix)) continue;
      this.unfile(idx, key);
      this.file(idx, key, value);
    }
  }

  valueRemoved(key: string): void {
    for (const idx of this.indexes.values()) if (isUnder(key, idx.prefix)) this.unfile(idx, key);
  }

  /** Forgets every filed key (before a snapshot restore refiles them). */
  clear(): void {
    for (const idx of this.indexes.values()) {
      idx.byValue.clear();
      idx.byKey.clear();
    }
  }

  private file(idx: Index, key: string, value: unknown): void {
    let out: IndexValue | readonly IndexValue[] | undefined;
    try {
      out = idx.fn(value, key);
    } catch {
      return;
    }
    if (out === undefined) return;
    const values = (Array.isArray(out) ? out : [out]).filter(isIndexValue);
    if (values.length === 0) return;
    idx.byKey.set(key, values);
    for (const v of values) {
      let set = idx.byValue.get(v);
      if (!set) idx.byValue.set(v, (set = new Set()));
      set.add(key);
    }
  }

  private unfile(idx: Index, key: string): void {
    const values = idx.byKey.get(key);
    if (!values) return;
    idx.byKey.delete(key);
    for (const v of values) {
      const set = idx.byValue.get(v);
      if (!set) continue;
      set.delete(key);
      if (set.size === 0) idx.byValue.delete(v);
    }
  }
}

function isIndexValue(v: unknown): v is IndexValue {
  return typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && !Number.isNaN(v));
}
