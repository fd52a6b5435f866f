/** `kvctl update <key> <value> [--ttl N]`. @packageDocumentation */
import { intFlag, keysCall, parseCommandArgs, printResponseKey, requireArg, type KvctlContext } from '../io.js';

/** Updates a key that must exist, printing the value. */
export async function updateCommand(ctx: KvctlContext, argv: readonly string[]): Promise<number> {
  const args = parseCommandArgs(argv, { ttl: { type: 'string' } });
  const key = requireArg(args, 0, 'key');
  const value = requireArg(args, 1, 'value');
  const params: Record<string, string> = { value, prevExist: 'true' };
  const ttl = intFlag(args, 'ttl');
  if (ttl > 0) params.ttl = String(ttl);
  const resp = await keysCall(ctx, () => ctx.client.keys('PUT', key, params));
  printResponseKey(ctx, resp);
  return 0;
}
