import type { ScriptCommand } from '../script/parser.js';
import { changeConfig } from '../../confchange/changer.js';
import { decodeConfChange } from '../../confchange/codec.js';
import { describeMessage, describeReady } from '../../describe.js';
import { ConfChangeType, EntryType, type ConfChange, type Entry } from '../../types.js';
import { onlyKeys, positional } from './args.js';
import { describeConfState, describeError, type InteractionEnv, type InteractionNode } from './env.js';

/**
 * Handles one Ready of each listed node (default: all), the way a host must:
 *
 * 1. persist the HardState, then the snapshot, then the entries to the
 *    node's MemoryStorage;
 * 2. move the messages to their recipients' inboxes; a message to a node
 *    that does not exist is dropped and printed, and messages across a
 *    partition are dropped and summed up per sender and recipient
 *    (`dropped (partition): 1->2 x3, 1->3 x3`), as the Ready already lists
 *    them;
 * 3. record the committed entries as applied (the state machine); for an
 *    EntryConfChange, decode it and hand it to `applyConfChange`, printing
 *    the membership now in force:
 *    `applied conf change AddLearnerNode 4 -> voters=(1 2 3) learners=(4)`
 *    (or `-> refused: …; config stays …` for a change that cannot apply,
 *    which is a no-op on every member alike);
 * 4. advance.
 *
 * A snapshot in the Ready is installed in the storage (step 1) and its
 * membership recorded as the state machine's, for later `compact`s.
 *
 * @remarks
 * Prints `Ready MustSync=…:` and the Ready as `describeReady` shows it; with
 * several nodes, each under a `> ID handling Ready` header. A node with
 * nothing to do prints `<empty Ready>` when named alone, and nothing when
 * not named.
 *
 * @example
 * ```
 * process-ready 1 2
 * ```
 */
export function processReady(env: InteractionEnv, cmd: ScriptCommand): void {
  onlyKeys(cmd, []);
  const named = positional(cmd);
  const ids = named.length > 0 ? named : env.ids();
  const nodes = ids.map((id) => env.node(id));
  if (nodes.length === 1) {
    if (!handleReady(env, nodes[0])) env.print('<empty Ready>');
    return;
  }
  for (const node of nodes) {
    let handled = false;
    const lines = env.capture(() => (handled = handleReady(env, node)));
    if (!handled && named.length === 0) continue;
    env.print(`> ${node.id} handling Ready`, ...(handled ? lines : ['<empty Ready>']).map((l) => `  ${l}`));
  }
}

/**
 * Handles the node's Ready if it has one; returns whether it did. Shared
 * with `stabilize`.
 */
export function handleReady(env: InteractionEnv, node: InteractionNode): boolean {
  const { rawNode, storage } = node;
  if (!rawNode.hasReady()) return false;
  const rd = rawNode.ready();
  env.print(`Ready MustSync=${rd.mustSync}:`, describeReady(rd));

  // 1. Durable state first: votes and acknowledgements among the messages
  //    promise it is on disk.
  if (rd.hardState) storage.setHardState(rd.hardState);
  if (rd.snapshot) {
    storage.applySnapshot(rd.snapshot);
    node.confStates.push({ index: rd.snapshot.metadata.index, confState: rd.snapshot.metadata.confState });
  }
  storage.append(rd.entries);

  // 2. Then send. Frozen, so a core that mutates a message it handed out
  //    fails loudly in the transcript.
  const cut = new Map<string, number>(); // "from->to" → messages dropped by the partition
  for (const m of rd.messages) {
    const to = env.nodes.get(m.to);
    if (!to) {
      env.print(`dropped (no node ${m.to || 'None'}): ${describeMessage(m)}`);
    } else if (!env.connected(m.from, m.to)) {
      const pair = `${m.from}->${m.to}`;
      cut.set(pair, (cut.get(pair) ?? 0) + 1);
    } else {
      for (const e of m.entries) Object.freeze(e);
      Object.freeze(m.entries);
      to.inbox.push(Object.freeze(m));
    }
  }
  if (cut.size > 0) {
    // The Ready above lists each message; say which never left, per pair.
    const pairs = [...cut].map(([pair, n]) => (n === 1 ? pair : `${pair} x${n}`));
    env.print(`dropped (partition): ${pairs.join(', ')}`);
  }

  // 3. Apply.
  for (const e of rd.committedEntries) {
    node.applied.push(e);
    if (e.type === EntryType.ConfChange) applyConfChangeEntry(env, node, e);
  }

  rawNode.advance();
  return true;
}

/**
 * Applies a committed EntryConfChange as a host does: decode it, hand it to
 * the core, record the membership it returns. Prints one line.
 */
function applyConfChangeEntry(env: InteractionEnv, node: InteractionNode, e: Entry): void {
  let cc: ConfChange;
  try {
    cc = decodeConfChange(e.data);
  } catch (err) {
    env.print(`error: entry ${e.index} is not a conf change: ${describeError(err)}`);
    return;
  }
  // Judged against the configuration before the change, as the core does,
  // only to say why a change left the configuration as it was.
  const verdict = changeConfig(node.rawNode.confState(), cc);
  const cs = node.rawNode.applyConfChange(cc);
  node.confStates.push({ index: e.index, confState: cs });
  const ctx = cc.context ? ` context=${JSON.stringify(new TextDecoder().decode(cc.context))}` : '';
  const what = `applied conf change ${ConfChangeType[cc.type]} ${cc.nodeId}${ctx}`;
  env.print(
    'refused' in verdict
      ? `${what} -> refused: ${verdict.refused}; config stays ${describeConfState(cs)}`
      : `${what} -> ${describeConfState(cs)}`,
  );
}
