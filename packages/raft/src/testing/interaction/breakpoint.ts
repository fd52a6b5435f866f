import type { ScriptCommand } from '../script/parser.js';
import type { InteractionEnv } from './env.js';

/**
 * Does nothing, at a line a debugger can stop on: put `_breakpoint` in a
 * script and run the test under `node --inspect-brk`.
 *
 * @example
 * ```
 * _breakpoint
 * ```
 */
export function breakpoint(_env: InteractionEnv, _cmd: ScriptCommand): void {
  // eslint-disable-next-line no-debugger
  debugger;
}
