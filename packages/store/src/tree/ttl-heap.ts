/**
 * A min-heap of (expireTime, key), ordered by both, with lazy deletion: entries whose key was
 * removed or given a new TTL are skipped when they surface (the caller checks
 * against the tree), which keeps updates O(log n) without an index into the
 * heap.
 */
export class TtlHeap {
  private readonly times: number[] = [];
  private readonly keys: string[] = [];

  get size(): number {
    return this.times.length;
  }

  push(expireTime: number, key: string): void {
    this.times.push(expireTime);
    this.keys.push(key);
    let i = this.times.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  /** The earliest entry, without removing it. */
  peek(): { expireTime: number; key: string } | undefined {
    return this.times.length === 0 ? undefined : { expireTime: this.times[0], key: this.keys[0] };
  }

  pop(): { expireTime: number; key: string } | undefined {
    const n = this.times.length;
    if (n === 0) return undefined;
    const top = { expireTime: this.times[0], key: this.keys[0] };
    this.swap(0, n - 1);
    this.times.pop();
    this.keys.pop();
    let i = 0;
    const m = this.times.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let s = i;
      if (l < m && this.less(l, s)) s = l;
      if (r < m && this.less(r, s)) s = r;
      if (s === i) break;
      this.swap(i, s);
      i = s;
    }
    return top;
  }

  /**
   * Visits the entries due at or before `time`, in no particular order,
   * until `visit` returns false: a walk that skips every subtree whose root
   * is later (a heap's children are never earlier than their parent).
   */
  visitDue(time: number, visit: (expireTime: number, key: string) => boolean): void {
    const stack = this.times.length > 0 ? [0] : [];
    while (stack.length > 0) {
      const i = stack.pop()!;
      if (this.times[i] > time) continue;
      if (!visit(this.times[i], this.keys[i])) return;
      const l = 2 * i + 1;
      if (l < this.times.length) stack.push(l);
      if (l + 1 < this.times.length) stack.push(l + 1);
    }
  }

  clear(): void {
    this.times.length = 0;
    this.keys.length = 0;
  }

  /**
   * A total order, (expireTime, key): keys expiring at the same moment come
   * out in the same order on every replica, whatever the heap's layout
   * (which differs after a snapshot restore or lazy deletions).
   */
  private less(a: number, b: number): boolean {
    const ta = this.times[a];
    const tb = this.times[b];
    return ta < tb || (ta === tb && this.keys[a] < this.keys[b]);
  }

  private swap(a: number, b: number): void {
    const t = this.times[a];
    this.times[a] = this.times[b];
    this.times[b] = t;
    const k = this.keys[a];
    this.keys[a] = this.keys[b];
    this.keys[b] = k;
  }
}
