import type { ScriptCommand } from '../script/parser.js';
import { StateType } from '../../types.js';
import { oneId, onlyKeys } from './args.js';
import type { InteractionEnv } from './env.js';

/**
 * Ticks a node until its election timeout passes.
 *
 * @remarks
 * A leader is ticked until its next check-quorum round (`electionTick`
 * ticks after the last one); anyone else until its randomized election
 * timeout (in `[electionTick, 2 × electionTick)`, drawn from the node's
 * seeded source) is reached, so it campaigns on the last tick if it may. Either
 * way at least one tick. Ticking by the node's own counters, rather than a
 * fixed count, keeps scripts independent of the jitter's values.
 *
 * @example
 * ```
 * tick-election 1
 * ```
 */
export function tickElection(env: InteractionEnv, cmd: ScriptCommand): void {
  onlyKeys(cmd, []);
  const { rawNode } = env.node(oneId(cmd));
  const r = rawNode.raft;
  const timeout = r.state === StateType.Leader ? r.electionTimeout : r.randomizedElectionTimeout;
  const n = Math.max(1, timeout - r.electionElapsed);
  for (let i = 0; i < n; i++) rawNode.tick();
}
