/** `kvctl watch <key> [--recursive] [--forever] [--after-index n]`. @packageDocumentation */
import { intFlag, keysCall, parseCommandArgs, printResponseKey, requireArg, type KvctlContext } from '../io.js';

/** Long-polls for the next change (or every change with `--forever`) and prints it. */
export async function watchCommand(ctx: KvctlContext, argv: readonly string[]): Promise<number> {
  const args = parseCommandArgs(argv, { recursive: { type: 'boolean' }, forever: { type: 'boolean' }, 'after-index': { type: 'string' } });
  const key = requireArg(args, 0, 'key');
  const recursive = args.values.recursive === true;
  const forever = args.values.forever === true;
  let waitIndex = intFlag(args, 'after-index') > 0 ? intFlag(args, 'after-index') + 1 : 0;
  const signal = ctx.io.signal;
  for (;;) {
    const params: Record<string, string> = { wait: 'true' };
    if (recursive) params.recursive = 'true';
    if (waitIndex > 0) params.waitIndex = String(waitIndex);
    const next = keysCall(ctx, () => ctx.client.keys('GET', key, params, { noTimeout: true }));
    const resp = signal
      ? await Promise.race([next, new Promise<undefined>((r) => (signal.aborted ? r(undefined) : signal.addEventListener('abort', () => r(undefined), { once: true })))])
      : await next;
    if (resp === undefined) {
      next.catch(() => undefined);
      return 0;
    }
    waitIndex = (resp.node.modifiedIndex ?? 0) + 1;
    if (resp.node.dir) continue;
    if (recursive) ctx.out(`[${resp.action}] ${resp.node.key ?? ''}`);
    printResponseKey(ctx, resp);
    if (!forever) return 0;
  }
}
