// Single-member nodes on a real-clock memory network with short timeouts, for
// the tests of createNode({ dataDir }).
import { createMemoryNetwork } from '@kv/raft/testing';

import { createNode, type CreateNodeOptions, type KvNode } from '../../src/index.ts';

/** Fast timeouts: a single member elects itself within ~200 ms. */
export const FAST = { heartbeatIntervalMs: 10, electionTimeoutMs: 100 } as const;

/** Starts member m1 of a one-member cluster (a new memory network each time) and waits until it leads. */
export async function startSingle(extra: Partial<CreateNodeOptions>): Promise<KvNode> {
  const net = createMemoryNetwork({ seed: 1 });
  const node = await createNode({ name: 'm1', initialCluster: { m1: 'mem://m1' }, transport: net.transport('m1'), ...FAST, ...extra });
  await leading(node);
  return node;
}

/** Resolves once `node` knows a leader (itself, for a single member). */
export function leading(node: KvNode): Promise<void> {
  if (node.status().leader !== undefined) return Promise.resolve();
  return new Promise((resolve) => {
    const on = (): void => {
      if (node.status().leader === undefined) return;
      node.off('leader', on);
      resolve();
    };
    node.on('leader', on);
  });
}
