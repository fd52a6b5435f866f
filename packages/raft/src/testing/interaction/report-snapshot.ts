import { argValue, type ScriptCommand } from '../script/parser.js';
import { boolArg, oneId, onlyKeys } from './args.js';
import type { InteractionEnv } from './env.js';

/**
 * Tells the leader how sending its snapshot to `to` went, as a transport
 * does after a MsgSnap: `ok=true` (delivered) or `ok=false` (lost, so the
 * leader goes back to probing and may send it again).
 *
 * @example
 * ```
 * report-snapshot 1 to=3 ok=false
 * ```
 */
export function reportSnapshot(env: InteractionEnv, cmd: ScriptCommand): void {
  onlyKeys(cmd, ['to', 'ok']);
  const leader = env.node(oneId(cmd));
  const to = argValue(cmd, 'to');
  env.node(to);
  leader.rawNode.reportSnapshot(to, boolArg(cmd, 'ok', true));
}
