/** `kvctl set <key> <value> [--ttl N] [--swap-with-value v] [--swap-with-index n]`. @packageDocumentation */
import { intFlag, keysCall, parseCommandArgs, printResponseKey, requireArg, type KvctlContext } from '../io.js';

/** Sets a key (create or replace), printing the value. */
export async function setCommand(ctx: KvctlContext, argv: readonly string[]): Promise<number> {
  const args = parseCommandArgs(argv, { ttl: { type: 'string' }, 'swap-with-value': { type: 'string' }, 'swap-with-index': { type: 'string' } });
  const key = requireArg(args, 0, 'key');
  const value = requireArg(args, 1, 'value');
  const params: Record<string, string> = { value };
  const ttl = intFlag(args, 'ttl');
  if (ttl > 0) params.ttl = String(ttl);
  const prevValue = args.values['swap-with-value'];
  if (typeof prevValue === 'string' && prevValue !== '') params.prevValue = prevValue;
  const prevIndex = intFlag(args, 'swap-with-index');
  if (prevIndex > 0) params.prevIndex = String(prevIndex);
  const resp = await keysCall(ctx, () => ctx.client.keys('PUT', key, params));
  printResponseKey(ctx, resp);
  return 0;
}
