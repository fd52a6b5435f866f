/** `kvctl mkdir <key> [--ttl N]`. @packageDocumentation */
import { intFlag, keysCall, parseCommandArgs, requireArg, type KvctlContext } from '../io.js';

/** Creates a directory that must not exist yet; prints nothing, as etcdctl. */
export async function mkdirCommand(ctx: KvctlContext, argv: readonly string[]): Promise<number> {
  const args = parseCommandArgs(argv, { ttl: { type: 'string' } });
  const key = requireArg(args, 0, 'key');
  const params: Record<string, string> = { dir: 'true', prevExist: 'false' };
  const ttl = intFlag(args, 'ttl');
  if (ttl > 0) params.ttl = String(ttl);
  await keysCall(ctx, () => ctx.client.keys('PUT', key, params));
  return 0;
}
