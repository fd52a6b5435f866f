/** `kvctl rm <key> [--dir] [--recursive] [--with-value v] [--with-index n]`. @packageDocumentation */
import { intFlag, keysCall, parseCommandArgs, printResponseKey, requireArg, type KvctlContext } from '../io.js';

/** Removes a key (or a directory), printing `PrevNode.Value: …` for a key. */
export async function rmCommand(ctx: KvctlContext, argv: readonly string[]): Promise<number> {
  const args = parseCommandArgs(argv, {
    dir: { type: 'boolean' },
    recursive: { type: 'boolean' },
    'with-value': { type: 'string' },
    'with-index': { type: 'string' },
  });
  const key = requireArg(args, 0, 'key');
  const params: Record<string, string> = {};
  if (args.values.dir) params.dir = 'true';
  if (args.values.recursive) params.recursive = 'true';
  const prevValue = args.values['with-value'];
  if (typeof prevValue === 'string' && prevValue !== '') params.prevValue = prevValue;
  const prevIndex = intFlag(args, 'with-index');
  if (prevIndex > 0) params.prevIndex = String(prevIndex);
  const resp = await keysCall(ctx, () => ctx.client.keys('DELETE', key, params));
  if (!resp.node.dir || ctx.output !== 'simple') printResponseKey(ctx, resp);
  return 0;
}
