/** `kvctl watch <key> [--recursive] [--forever] [--after-index n]`. @packageDocumentation */
import type { KeysResponse } from '../client.js';
import { intFlag, keysCall, parseCommandArgs, printResponseKey, requireArg, type KvctlContext } from '../io.js';

/**
 * Yields every change to `key` (with `recursive`, below it too) in index
 * order, from after `afterIndex` (0: from now), long-polling etcd's
 * `wait=true`; ends when `ctx.io.signal` aborts. Errors end it with
 * etcdctl's exit 4.
 */
export async function* watchChanges(ctx: KvctlContext, key: string, opts: { recursive: boolean; afterIndex: number }): AsyncGenerator<KeysResponse> {
  let waitIndex = opts.afterIndex > 0 ? opts.afterIndex + 1 : 0;
  const signal = ctx.io.signal;
  const aborted = signal
    ? new Promise<undefined>((r) => (signal.aborted ? r(undefined) : signal.addEventListener('abort', () => r(undefined), { once: true })))
    : undefined;
  for (;;) {
    const params: Record<string, string> = { wait: 'true' };
    if (opts.recursive) params.recursive = 'true';
    if (waitIndex > 0) params.waitIndex = String(waitIndex);
    const next = keysCall(ctx, () => ctx.client.keys('GET', key, params, { noTimeout: true }));
    const resp = aborted ? await Promise.race([next, aborted]) : await next;
    if (resp === undefined) {
      next.catch(() => undefined);
      return;
    }
    waitIndex = (resp.node.modifiedIndex ?? 0) + 1;
    yield resp;
  }
}

/** Long-polls for the next change (or every change with `--forever`) and prints it. */
export async function watchCommand(ctx: KvctlContext, argv: readonly string[]): Promise<number> {
  const args = parseCommandArgs(argv, { recursive: { type: 'boolean' }, forever: { type: 'boolean' }, 'after-index': { type: 'string' } });
  const key = requireArg(args, 0, 'key');
  const recursive = args.values.recursive === true;
  for await (const resp of watchChanges(ctx, key, { recursive, afterIndex: intFlag(args, 'after-index') })) {
    if (resp.node.dir) continue;
    if (recursive) ctx.out(`[${resp.action}] ${resp.node.key ?? ''}`);
    printResponseKey(ctx, resp);
    if (args.values.forever !== true) return 0;
  }
  return 0;
}
