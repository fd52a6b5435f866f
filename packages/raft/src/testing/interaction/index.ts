/**
 * Data-driven interaction tests for the Raft core, in the style of
 * etcd-io/raft's `rafttest`: a script drives a few {@link RawNode}s through
 * an {@link InteractionEnv} and its transcript is compared with the
 * expected one.
 *
 * @example
 * ```ts
 * const env = new InteractionEnv();
 * const { expectedText, actualText } = runScriptFile(path, (cmd) => runCommand(env, cmd));
 * assert.equal(actualText, expectedText);
 * ```
 *
 * @packageDocumentation
 */
export { InteractionEnv, LogLevel, type ConfRecord, type InteractionNode, type PresetLog } from './env.js';
export { HANDLERS, runCommand, type CommandHandler } from './handlers.js';
