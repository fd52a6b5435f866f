import type { ScriptCommand } from '../script/parser.js';
import { describeState } from '../../describe.js';
import { StateType } from '../../types.js';
import { boolArg, onlyKeys } from './args.js';
import type { InteractionEnv } from './env.js';

/**
 * Prints one line per node: role, membership, term and leader as the node
 * holds them in memory, e.g. `1: StateLeader (Voter) Term:1 Lead:1`.
 *
 * @remarks
 * With `timeouts`, each line also shows the node's election clock:
 * `elapsed=3 timeout=14` (for a leader, `timeout` is the check-quorum
 * period; for others, the randomized election timeout).
 *
 * @example
 * ```
 * raft-state
 * raft-state timeouts
 * ```
 */
export function raftState(env: InteractionEnv, cmd: ScriptCommand): void {
  onlyKeys(cmd, []);
  const timeouts = boolArg(cmd, 'timeouts', false);
  for (const id of env.ids()) {
    const r = env.node(id).rawNode.raft;
    const pr = r.trk.progress.get(id);
    const membership = pr === undefined ? 'Non-Member' : pr.isLearner ? 'Learner' : 'Voter';
    let line = `${id}: ${describeState(r.state)} (${membership}) Term:${r.term} Lead:${r.lead || 0}`;
    if (timeouts) {
      const timeout = r.state === StateType.Leader ? r.electionTimeout : r.randomizedElectionTimeout;
      line += ` elapsed=${r.electionElapsed} timeout=${timeout}`;
    }
    env.print(line);
  }
}
