import { commandError, type ScriptCommand } from '../script/parser.js';
import { oneId, onlyKeys } from './args.js';
import { LogLevel, type InteractionEnv } from './env.js';

const LEVELS: Record<string, LogLevel> = {
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warn,
  error: LogLevel.Error,
  none: LogLevel.None,
};

/**
 * Sets how much of the nodes' logging reaches the transcript: `debug`,
 * `info` (the default), `warn`, `error` or `none`.
 *
 * @example
 * ```
 * log-level debug
 * ```
 */
export function logLevel(env: InteractionEnv, cmd: ScriptCommand): void {
  onlyKeys(cmd, []);
  const name = oneId(cmd);
  const level = LEVELS[name.toLowerCase()];
  if (level === undefined) throw commandError(cmd, `unknown level ${name} (known: ${Object.keys(LEVELS).join(', ')})`);
  env.logLevel = level;
}
