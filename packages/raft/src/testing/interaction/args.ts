/**
 * Argument helpers shared by the interaction commands, on top of the
 * script parser's `argValue` / `argValues` / `argInt`.
 */
import { commandError, type ScriptCommand } from '../script/parser.js';
import { MessageType, type NodeId } from '../../types.js';

/** The bare words of a command (`campaign 1` → `['1']`), leaving out `key=value` and `(lists)`. */
export function positional(cmd: ScriptCommand): string[] {
  return cmd.args.filter((a) => a.values.length === 0 && !a.key.startsWith('(')).map((a) => a.key);
}

/** Throws on any `key=` argument not in `allowed`, so a typo fails loudly instead of being ignored. */
export function onlyKeys(cmd: ScriptCommand, allowed: readonly string[]): void {
  for (const a of cmd.args) {
    if (a.values.length > 0 && !a.key.startsWith('(') && !allowed.includes(a.key)) {
      throw commandError(cmd, `unknown argument ${a.key}= (known: ${allowed.join(', ') || 'none'})`);
    }
  }
}

/** The single node ID a command acts on (`campaign 1`). */
export function oneId(cmd: ScriptCommand): NodeId {
  const ids = positional(cmd);
  if (ids.length !== 1) throw commandError(cmd, `expected one node ID, got ${ids.length}`);
  return ids[0];
}

/**
 * A boolean option: absent → `fallback`; a bare `key` → true;
 * `key=true` / `key=false` as written.
 */
export function boolArg(cmd: ScriptCommand, key: string, fallback: boolean): boolean {
  const a = cmd.args.find((x) => x.key === key);
  if (!a) return fallback;
  if (a.values.length === 0) return true;
  if (a.values.length === 1 && (a.values[0] === 'true' || a.values[0] === 'false')) return a.values[0] === 'true';
  throw commandError(cmd, `argument ${key}= must be true or false`);
}

/** A message type by its name (`MsgApp`). */
export function messageType(cmd: ScriptCommand, name: string): MessageType {
  const t = (MessageType as unknown as Record<string, MessageType | undefined>)[name];
  if (typeof t !== 'number') throw commandError(cmd, `unknown message type ${name}`);
  return t;
}

const encoder = new TextEncoder();

/** Script text as entry data or a read context. */
export function bytes(s: string): Uint8Array {
  return encoder.encode(s);
}
