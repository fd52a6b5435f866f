/** Shared helpers for benchmarks: percentiles, memory, and the output line. */

/** One measurement, printed as one JSON line on stdout (DESIGN.md's format). */
export interface Measurement {
  name: string;
  ops_per_s?: number;
  p50_ms?: number;
  p99_ms?: number;
  rss_mb?: number;
  [extra: string]: unknown;
}

/** The p-th percentile (0–100) of `xs`, by nearest rank; NaN when empty. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[rank];
}

export function rssMb(): number {
  return round(process.memoryUsage().rss / (1024 * 1024), 1);
}

export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Prints a measurement to stdout. Progress and notes go to stderr. */
export function emit(m: Measurement): void {
  process.stdout.write(JSON.stringify(m) + '\n');
}

export function progress(msg: string): void {
  process.stderr.write(msg + '\n');
}

/**
 * Runs `op` from `concurrency` loops for `seconds`; returns ops/s and
 * latencies (every op's with one loop, every eighth's with more). `op` gets
 * a sequence number and its loop's number; a throw counts as a failure and
 * the first one's message is kept.
 */
export async function load(
  seconds: number,
  concurrency: number,
  op: (i: number, worker: number) => Promise<unknown>,
): Promise<{ ops: number; elapsed: number; lat: number[]; failed: number; firstError?: string }> {
  const lat: number[] = [];
  let ops = 0;
  let failed = 0;
  let seq = 0;
  let firstError: string | undefined;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  const worker = async (_: unknown, w: number): Promise<void> => {
    while (performance.now() < deadline) {
      const start = performance.now();
      try {
        await op(seq++, w);
        ops++;
        if (concurrency === 1 || (ops & 7) === 0) lat.push(performance.now() - start);
      } catch (e) {
        failed++;
        firstError ??= (e as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { ops, elapsed: (performance.now() - t0) / 1000, lat, failed, ...(firstError !== undefined ? { firstError } : {}) };
}
