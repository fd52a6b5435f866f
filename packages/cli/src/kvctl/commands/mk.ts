/** `kvctl mk <key> <value> [--ttl N]`. @packageDocumentation */
import { intFlag, keysCall, parseCommandArgs, printResponseKey, requireArg, type KvctlContext } from '../io.js';

/** Creates a key that must not exist yet, printing the value. */
export async function mkCommand(ctx: KvctlContext, argv: readonly string[]): Promise<number> {
  const args = parseCommandArgs(argv, { ttl: { type: 'string' }, 'in-order': { type: 'boolean' } });
  const key = requireArg(args, 0, 'key');
  const value = requireArg(args, 1, 'value');
  const params: Record<string, string> = { value };
  const ttl = intFlag(args, 'ttl');
  if (ttl > 0) params.ttl = String(ttl);
  const resp = args.values['in-order']
    ? await keysCall(ctx, () => ctx.client.keys('POST', key, params))
    : await keysCall(ctx, () => ctx.client.keys('PUT', key, { ...params, prevExist: 'false' }));
  printResponseKey(ctx, resp);
  return 0;
}
