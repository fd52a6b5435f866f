import type { ScriptCommand } from '../script/parser.js';
import { oneId, onlyKeys } from './args.js';
import type { InteractionEnv } from './env.js';

/**
 * Ticks a node `heartbeatTick` times: a leader sends one round of heartbeats.
 *
 * @example
 * ```
 * tick-heartbeat 1
 * ```
 */
export function tickHeartbeat(env: InteractionEnv, cmd: ScriptCommand): void {
  onlyKeys(cmd, []);
  const { rawNode } = env.node(oneId(cmd));
  for (let i = 0; i < rawNode.raft.heartbeatTimeout; i++) rawNode.tick();
}
