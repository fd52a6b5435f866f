// The watch checks of a fault run over HTTP (issue 7): every watcher that
// stays connected sees every change of its prefix exactly once, in index
// order; a watcher resuming from an index misses nothing still in the
// history. Pure functions over the records http-watcher.ts keeps, so the
// checks themselves are tested on hand-made records (watch-check.test.ts).
//
// Why comparing watchers is enough to find a gap: every event a watcher
// reports is a committed change, the same on every member at the same
// index, and a watcher that resumes from `last + 1` without a 401 is owed
// every change from there. So within the range a record claims to cover
// ([startIndex, reached]) it must hold every index any other record saw.
// That holds for interrupted records too; "stayed connected" only decides
// which records must also agree exactly with each other. A change no
// watcher saw is caught by the acknowledged writes (each must be an event
// of every record that covered the whole run) and by the final values.
import { stayedConnected, type WatchEvent, type WatchRecord } from './http-watcher.ts';

/** Events the store's history keeps (etcd v2's 1,000): a waitIndex further back may get 401. */
export const HISTORY_EVENTS = 1000;

export interface WatchCheckInput {
  readonly records: readonly WatchRecord[];
  /**
   * The end of the run: every record still watching must have reached
   * `index`, and the last value it saw of each key must be the final
   * quorum read (`null`: no such key).
   */
  readonly final?: { readonly index: number; readonly values: ReadonlyMap<string, string | null> };
  /** Acknowledged writes (write, or compare-and-swap that answered true): each is an event of every record that covered the whole run. */
  readonly acknowledged?: readonly { readonly key: string; readonly value: string }[];
}

/** One line for an event: `412 set /jepsen/r1=3.45`. */
export function describeEvent(e: WatchEvent): string {
  return `${e.index} ${e.action} ${e.key}${e.value === null ? '' : `=${e.value}`}`;
}

const MAX_LINES = 5;

function listed(items: readonly string[]): string {
  return items.length <= MAX_LINES ? items.join('; ') : `${items.slice(0, MAX_LINES).join('; ')}; … ${items.length - MAX_LINES} more`;
}

function interruptionsOf(r: WatchRecord): string {
  const parts = [...r.faults, ...r.interruptions.map((i) => `${i.why} after ${i.reached}`)];
  return parts.length === 0 ? 'never interrupted' : `resumed after: ${listed(parts)}`;
}

/** The events of `r` with an index in [from, to]. */
function inRange(r: WatchRecord, from: number, to: number): WatchEvent[] {
  return r.events.filter((e) => e.index >= from && e.index <= to);
}

/** Problems with the watch records of one run; empty when they pass. */
export function checkWatches(input: WatchCheckInput): string[] {
  const problems: string[] = [];
  const { records } = input;

  // Exactly once, in index order: a long poll resuming from last + 1 can only go forward.
  for (const r of records) {
    const bad: string[] = [];
    for (let k = 1; k < r.events.length; k++) {
      const [a, b] = [r.events[k - 1]!, r.events[k]!];
      if (!(b.index > a.index)) bad.push(`${describeEvent(b)} after ${describeEvent(a)}`);
    }
    if (bad.length > 0) problems.push(`watch ${r.name}: events out of index order (${bad.length}): ${listed(bad)}`);
  }

  // The same index is the same change everywhere.
  const union = new Map<number, { e: WatchEvent; text: string; by: string }>();
  const differ: string[] = [];
  for (const r of records) {
    for (const e of r.events) {
      const text = describeEvent(e);
      const seen = union.get(e.index);
      if (seen === undefined) union.set(e.index, { e, text, by: r.name });
      else if (seen.text !== text) differ.push(`${seen.by} saw ${seen.text}, ${r.name} saw ${text}`);
    }
  }
  if (differ.length > 0) problems.push(`watchers disagree on ${differ.length} events: ${listed(differ)}`);
  const indexes = [...union.keys()].sort((a, b) => a - b);

  // No gaps: within what a record covered, every change some record saw.
  for (const r of records) {
    const own = new Set(r.events.map((e) => e.index));
    const missed = indexes.filter((i) => i >= r.startIndex && i <= r.reached && !own.has(i));
    if (missed.length > 0) {
      const first = missed.slice(0, MAX_LINES).map((i) => `${union.get(i)!.text} (seen by ${union.get(i)!.by})`);
      problems.push(
        `watch ${r.name} missed ${missed.length} changes in [${r.startIndex}, ${r.reached}], which it covered (${interruptionsOf(r)}): ${first.join('; ')}`,
      );
    }
  }

  // Watchers that stayed connected agree exactly where they all watched.
  const steady = records.filter(stayedConnected);
  if (steady.length > 1) {
    const from = Math.max(...steady.map((r) => r.startIndex));
    const to = Math.min(...steady.map((r) => r.reached));
    const [ref, ...rest] = steady;
    const want = inRange(ref!, from, to).map(describeEvent);
    for (const r of rest) {
      const got = inRange(r, from, to).map(describeEvent);
      const k = want.findIndex((t, i) => got[i] !== t);
      if (k >= 0 || got.length !== want.length) {
        const at = k >= 0 ? k : Math.min(want.length, got.length);
        problems.push(
          `watches ${ref!.name} and ${r.name}, both connected throughout, differ in [${from}, ${to}]: ` +
            `${want.length} vs ${got.length} events, first difference ${want[at] ?? 'none'} vs ${got[at] ?? 'none'}`,
        );
      }
    }
  }

  const final = input.final;
  if (final !== undefined) {
    for (const r of records) {
      if (r.ended !== undefined) continue;
      if (r.reached < final.index) {
        problems.push(`watch ${r.name} never reached the final index ${final.index}: it saw up to ${r.reached} (${interruptionsOf(r)})`);
        continue;
      }
      for (const [key, value] of final.values) {
        const last = r.events.findLast((e) => e.key === key);
        // A record that started late and saw no change of the key knows nothing of it.
        if (last === undefined && r.startIndex > 1) continue;
        const seen = last === undefined || last.action === 'delete' || last.action === 'expire' ? null : last.value;
        if (seen !== value) {
          problems.push(
            `watch ${r.name} ends with ${key} = ${JSON.stringify(seen)}${last ? ` (at ${last.index})` : ' (no event)'}, but the final quorum read is ${JSON.stringify(value)}`,
          );
        }
      }
    }
    // Every acknowledged write is a change that a watcher of the whole run saw.
    if (input.acknowledged !== undefined) {
      for (const r of records.filter((x) => x.ended === undefined && x.startIndex <= 1 && x.reached >= final.index)) {
        const seen = new Set(r.events.map((e) => `${e.key}=${e.value}`));
        const missing = input.acknowledged.filter((w) => !seen.has(`${w.key}=${w.value}`)).map((w) => `${w.key}=${w.value}`);
        if (missing.length > 0) problems.push(`watch ${r.name} covered the whole run but never saw ${missing.length} acknowledged writes: ${listed(missing)}`);
      }
    }
  }
  return problems;
}

/** A record that covered [from, to]: one that stayed connected if any did. */
export function coveringRecord(records: readonly WatchRecord[], from: number, to: number): WatchRecord | undefined {
  const covering = records.filter((r) => r.startIndex <= from && r.reached >= to);
  return covering.find(stayedConnected) ?? covering[0];
}

/** What a watch resumed from a past index got: its events up to `to`, or the 401 that refused it. */
export interface ResumedWatch {
  readonly member: string;
  readonly from: number;
  readonly to: number;
  readonly events: readonly WatchEvent[];
  /** The 401's cause, if the history was cleared. */
  readonly cleared?: string;
}

/**
 * Problems with a watch resumed from `from`: it must get exactly the
 * events `reference` saw in [from, to], or a 401 only when more than
 * {@link HISTORY_EVENTS} indexes lie between.
 */
export function checkResumedWatch(resumed: ResumedWatch, reference: WatchRecord): string[] {
  const what = `a watch resumed from ${resumed.from} on ${resumed.member}`;
  if (resumed.cleared !== undefined) {
    // Each index is at most one change here (no TTLs), so a range shorter than the history is all in it.
    return resumed.to - resumed.from + 1 > HISTORY_EVENTS ? [] : [`${what} got ${resumed.cleared}, though [${resumed.from}, ${resumed.to}] is ${resumed.to - resumed.from + 1} indexes`];
  }
  const want = inRange(reference, resumed.from, resumed.to).map(describeEvent);
  const got = resumed.events.filter((e) => e.index <= resumed.to).map(describeEvent);
  const k = want.findIndex((t, i) => got[i] !== t);
  if (k < 0 && got.length === want.length) return [];
  const at = k >= 0 ? k : Math.min(want.length, got.length);
  return [`${what} got ${got.length} events up to ${resumed.to}, ${reference.name} saw ${want.length}; first difference: ${got[at] ?? 'none'} vs ${want[at] ?? 'none'}`];
}
