import { EntryType, MessageType, StateType, type Entry, type HardState, type Message, type Ready, type Snapshot } from './types.js';

const STATE_NAMES: Record<StateType, string> = {
  [StateType.Follower]: 'StateFollower',
  [StateType.Candidate]: 'StateCandidate',
  [StateType.Leader]: 'StateLeader',
  [StateType.PreCandidate]: 'StatePreCandidate',
};

const textDecoder = new TextDecoder('utf-8', { fatal: true });

/** Entry data shown as a quoted string when it is printable UTF-8, else as hex. */
function describeData(data: Uint8Array): string {
  if (data.byteLength === 0) return '';
  try {
    const s = textDecoder.decode(data);
    // Printable ASCII only, so transcripts stay stable and readable.
    if (/^[\x20-\x7e]*$/.test(s)) return JSON.stringify(s);
  } catch {
    // Not UTF-8: fall through to hex.
  }
  let hex = '';
  for (let i = 0; i < data.byteLength; i++) hex += data[i].toString(16).padStart(2, '0');
  return `0x${hex}`;
}

/** One entry as `term/index Type "data"`, e.g. `2/12 EntryNormal "foo"`. */
export function describeEntry(e: Entry): string {
  const type = e.type === EntryType.ConfChange ? 'EntryConfChange' : 'EntryNormal';
  const data = describeData(e.data);
  return `${e.term}/${e.index} ${type}${data ? ` ${data}` : ''}`;
}

/** Entries as `[a, b, c]`. */
export function describeEntries(es: readonly Entry[]): string {
  return `[${es.map(describeEntry).join(', ')}]`;
}

/** A snapshot's position, e.g. `Index:10 Term:2 ConfState:Voters:[1 2 3]`. */
export function describeSnapshot(s: Snapshot): string {
  const cs = s.metadata.confState;
  const learners = cs.learners.length > 0 ? ` Learners:[${cs.learners.join(' ')}]` : '';
  return `Index:${s.metadata.index} Term:${s.metadata.term} ConfState:Voters:[${cs.voters.join(' ')}]${learners}`;
}

/**
 * One message on one line, with only the fields that matter for its type,
 * e.g. `1->2 MsgApp Term:2 Log:1/11 Commit:11 Entries:[2/12 EntryNormal "foo"]`.
 */
export function describeMessage(m: Message): string {
  let s = `${m.from || 'None'}->${m.to || 'None'} ${MessageType[m.type]} Term:${m.term} Log:${m.logTerm}/${m.index}`;
  if (m.reject) s += ` Rejected (Hint: ${m.rejectHint})`;
  if (m.commit !== 0) s += ` Commit:${m.commit}`;
  if (m.entries.length > 0) s += ` Entries:${describeEntries(m.entries)}`;
  if (m.context && m.context.byteLength > 0) s += ` Context:${describeData(m.context)}`;
  if (m.snapshot) s += ` Snapshot: ${describeSnapshot(m.snapshot)}`;
  return s;
}

/** A hard state as `Term:2 Vote:1 Commit:11`. */
export function describeHardState(hs: HardState): string {
  return `Term:${hs.term} Vote:${hs.vote || 0} Commit:${hs.commit}`;
}

/** The name of a role, e.g. `StateLeader`. */
export function describeState(s: StateType): string {
  return STATE_NAMES[s];
}

/**
 * A Ready as indented lines, in the order a host acts on it; empty parts
 * are left out, and an empty Ready prints `<empty Ready>`.
 */
export function describeReady(rd: Ready): string {
  const lines: string[] = [];
  if (rd.softState) lines.push(`Lead:${rd.softState.lead || 0} State:${describeState(rd.softState.raftState)}`);
  if (rd.hardState) lines.push(`HardState ${describeHardState(rd.hardState)}`);
  if (rd.entries.length > 0) {
    lines.push('Entries:');
    for (const e of rd.entries) lines.push(describeEntry(e));
  }
  if (rd.snapshot) lines.push(`Snapshot ${describeSnapshot(rd.snapshot)}`);
  if (rd.committedEntries.length > 0) {
    lines.push('CommittedEntries:');
    for (const e of rd.committedEntries) lines.push(describeEntry(e));
  }
  if (rd.messages.length > 0) {
    lines.push('Messages:');
    for (const m of rd.messages) lines.push(describeMessage(m));
  }
  if (rd.readStates.length > 0) {
    lines.push('ReadStates:');
    for (const rs of rd.readStates) lines.push(`Index:${rs.index} Context:${describeData(rs.requestCtx)}`);
  }
  return lines.length > 0 ? lines.join('\n') : '<empty Ready>';
}
