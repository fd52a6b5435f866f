import { commandError, type ScriptCommand } from '../script/parser.js';
import { ConfChangeType, type ConfChange } from '../../types.js';
import { bytes, oneId, onlyKeys } from './args.js';
import type { InteractionEnv } from './env.js';

/** The script key of each kind of change. */
const KINDS: Readonly<Record<string, ConfChangeType>> = {
  add: ConfChangeType.AddNode,
  'add-learner': ConfChangeType.AddLearnerNode,
  remove: ConfChangeType.RemoveNode,
  update: ConfChangeType.UpdateNode,
};

/**
 * Proposes one membership change on a node: `add=ID` (a voter, or promote a
 * learner), `add-learner=ID`, `remove=ID` or `update=ID`, with optional
 * `context=text` for the host.
 *
 * @remarks
 * The change takes effect on each node when `process-ready` applies the
 * committed entry. A refusal prints the core's log line and
 * `error: RAFT_CONF_CHANGE_PENDING: …` (a change is already pending),
 * `error: RAFT_CONF_CHANGE_INVALID: …` (it cannot apply to the leader's
 * configuration), or the codes `propose` refuses with.
 *
 * @example
 * ```
 * propose-conf-change 1 add-learner=4
 * propose-conf-change 1 update=2 context=10.0.0.2
 * ```
 */
export function proposeConfChange(env: InteractionEnv, cmd: ScriptCommand): void {
  onlyKeys(cmd, [...Object.keys(KINDS), 'context']);
  const id = oneId(cmd);
  const given = cmd.args.filter((a) => Object.hasOwn(KINDS, a.key));
  if (given.length !== 1 || given[0].values.length !== 1) {
    throw commandError(cmd, `expected exactly one of ${Object.keys(KINDS).map((k) => `${k}=ID`).join(', ')}`);
  }
  const context = cmd.args.find((a) => a.key === 'context');
  if (context && context.values.length !== 1) throw commandError(cmd, 'context= takes one value');
  const cc: ConfChange = {
    type: KINDS[given[0].key],
    nodeId: given[0].values[0],
    ...(context ? { context: bytes(context.values[0]) } : {}),
  };
  env.node(id).rawNode.proposeConfChange(cc);
}
