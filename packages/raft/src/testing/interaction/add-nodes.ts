import { argInt, argValues, commandError, type ScriptCommand } from '../script/parser.js';
import type { RaftConfig } from '../../config.js';
import { hashString, seededRandom } from '../../random.js';
import { RawNode } from '../../raw-node.js';
import { MemoryStorage } from '../../storage.js';
import { encodeConfChange } from '../../confchange/codec.js';
import { ConfChangeType, EntryType, NONE, type ConfState, type Entry } from '../../types.js';
import { boolArg, onlyKeys, positional } from './args.js';
import type { InteractionEnv } from './env.js';

const KEYS = [
  'voters',
  'learners',
  'check-quorum',
  'pre-vote',
  'election-tick',
  'heartbeat-tick',
  'max-entries-per-msg',
  'max-size-per-msg',
  'max-inflight',
  'max-inflight-bytes',
  'index',
  'bootstrap',
];

/**
 * Adds N nodes, numbered after the existing ones, each a RawNode over its own
 * MemoryStorage.
 *
 * @remarks
 * `voters` defaults to every node of the environment (existing and new) that
 * is not a learner. `voters=()` (with no `learners`) adds a node that is
 * joining an existing cluster: it starts with an empty configuration, does
 * not campaign, and learns the membership from a snapshot or from the log
 * (the conf change entries it applies, which name every member only if the
 * cluster was started with `bootstrap`), once the leader adds it with
 * `propose-conf-change`. The existing nodes' configurations are not touched.
 *
 * `bootstrap` starts the nodes as `RaftNode` starts a new cluster: the
 * storage holds no membership, and the log opens with one committed
 * EntryConfChange per member (AddNode for each voter, then AddLearnerNode
 * for each learner; term 1, indexes 1, 2, …), which the first
 * `process-ready` applies. A node that joins later learns the membership by
 * replaying them. Without it, the membership lives only in each storage's
 * initial state, which no message carries: a joining node that replays the
 * log from index 1 never learns it (only a snapshot would tell it).
 * `bootstrap` cannot be combined with `index` or `set-log`.
 *
 * `index=N` starts each node from a snapshot at index N, term 1 (so the
 * first new entry is N+1). A log recorded with `set-log` for
 * one of the new IDs is written into its storage, after that snapshot, before
 * the RawNode is created. `check-quorum` and `pre-vote` take `=false`, or
 * stand alone for true; both default to the core's default (on).
 * The election jitter of node `id` comes from `seededRandom(hashString(id))`,
 * a fixed seed per node (the same the core would pick by default).
 *
 * @example
 * ```
 * add-nodes 3 voters=(1,2,3) check-quorum=false max-entries-per-msg=2
 * add-nodes 3 voters=(1,2,3) bootstrap
 * add-nodes 1 voters=()
 * ```
 */
export function addNodes(env: InteractionEnv, cmd: ScriptCommand): void {
  onlyKeys(cmd, KEYS);
  const pos = positional(cmd).filter((p) => !KEYS.includes(p));
  if (pos.length !== 1 || !/^\d+$/.test(pos[0]) || Number(pos[0]) < 1) {
    throw commandError(cmd, 'expected the number of nodes to add');
  }
  const n = Number(pos[0]);
  const first = env.nodes.size + 1;
  const newIds = Array.from({ length: n }, (_, i) => String(first + i));
  const learners = argValues(cmd, 'learners', []);
  const allIds = [...env.ids(), ...newIds];
  const voters = argValues(cmd, 'voters', allIds.filter((id) => !learners.includes(id)));
  const confState: ConfState = { voters, learners };
  const index = argInt(cmd, 'index', 0);
  const bootstrap = boolArg(cmd, 'bootstrap', false);
  if (bootstrap && index > 0) throw commandError(cmd, 'bootstrap cannot be combined with index=');
  if (bootstrap && newIds.some((id) => env.presetLogs.has(id))) throw commandError(cmd, 'bootstrap cannot be combined with set-log');
  const startConf: ConfState = bootstrap ? { voters: [], learners: [] } : confState;

  for (const id of newIds) {
    const storage = new MemoryStorage(startConf);
    if (bootstrap) {
      const changes = [
        ...voters.map((nodeId) => ({ type: ConfChangeType.AddNode, nodeId })),
        ...learners.map((nodeId) => ({ type: ConfChangeType.AddLearnerNode, nodeId })),
      ];
      storage.append(changes.map((cc, i) => ({ term: 1, index: i + 1, type: EntryType.ConfChange, data: encodeConfChange(cc) })));
      storage.setHardState({ term: 1, vote: NONE, commit: changes.length });
    }
    if (index > 0) {
      storage.applySnapshot({ data: new Uint8Array(0), metadata: { index, term: 1, confState } });
      storage.setHardState({ term: 1, vote: NONE, commit: index });
    }
    const preset = env.presetLogs.get(id);
    if (preset) {
      const start = storage.lastIndex() + 1;
      const ents: Entry[] = preset.terms.map((term, i) => ({ term, index: start + i, type: EntryType.Normal, data: new Uint8Array(0) }));
      storage.append(ents);
      storage.setHardState({ term: preset.term, vote: preset.vote, commit: Math.max(preset.commit, index) });
      env.presetLogs.delete(id);
    }
    const config: RaftConfig = {
      id,
      storage,
      checkQuorum: boolArg(cmd, 'check-quorum', true),
      preVote: boolArg(cmd, 'pre-vote', true),
      electionTick: argInt(cmd, 'election-tick', 10),
      heartbeatTick: argInt(cmd, 'heartbeat-tick', 1),
      random: seededRandom(hashString(id)),
      logger: env.loggerFor(),
    };
    if (index > 0) config.applied = index;
    const opt = (key: string, set: (v: number) => void) => {
      if (cmd.args.some((a) => a.key === key)) set(argInt(cmd, key));
    };
    opt('max-entries-per-msg', (v) => (config.maxEntriesPerMsg = v));
    opt('max-size-per-msg', (v) => (config.maxSizePerMsgBytes = v));
    opt('max-inflight', (v) => (config.maxInflightMsgs = v));
    opt('max-inflight-bytes', (v) => (config.maxInflightBytes = v));
    const rawNode = new RawNode(config);
    env.nodes.set(id, { id, rawNode, storage, inbox: [], applied: [], confStates: [{ index, confState: startConf }] });
  }
}
