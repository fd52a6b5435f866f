import type { ScriptCommand } from '../script/parser.js';
import { describeState } from '../../describe.js';
import { ProgressState, StateType } from '../../types.js';
import { oneId, onlyKeys } from './args.js';
import { compareIds, type InteractionEnv } from './env.js';

const PROGRESS_STATE = ['StateProbe', 'StateReplicate', 'StateSnapshot'];

/**
 * Prints the leader's view of each member's replication, one line per
 * member, e.g. `2: StateReplicate match=11 next=12 inflight=2[full]`.
 *
 * @remarks
 * Flags follow when they apply: `inflight=N` (with `[full]` when the window
 * is full), `paused` (no MsgApp may be sent now), `pendingSnap=N`,
 * `inactive` (not heard from since the last check-quorum round) and
 * `learner`. On a node that is not the leader, says so.
 *
 * @example
 * ```
 * status 1
 * ```
 */
export function status(env: InteractionEnv, cmd: ScriptCommand): void {
  onlyKeys(cmd, []);
  const id = oneId(cmd);
  const r = env.node(id).rawNode.raft;
  if (r.state !== StateType.Leader) {
    env.print(`${id} is not the leader (${describeState(r.state)}): no progress to show`);
    return;
  }
  for (const pid of [...r.trk.progress.keys()].sort(compareIds)) {
    const pr = r.trk.progress.get(pid)!;
    let line = `${pid}: ${PROGRESS_STATE[pr.state]} match=${pr.match} next=${pr.next}`;
    if (pr.inflights.size > 0) line += ` inflight=${pr.inflights.size}${pr.inflights.full() ? '[full]' : ''}`;
    if (pid !== id && pr.isPaused() && pr.state !== ProgressState.Snapshot) line += ' paused';
    if (pr.state === ProgressState.Snapshot) line += ` pendingSnap=${pr.pendingSnapshot}`;
    if (pid !== id && !pr.recentActive) line += ' inactive';
    if (pr.isLearner) line += ' learner';
    env.print(line);
  }
}
