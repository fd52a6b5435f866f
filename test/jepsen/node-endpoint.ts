// The workload's view of an in-process member: a KvNode's get/set/
// compareAndSwap, with every error sorted into "definitely not applied" or
// "outcome unknown" by what kv documents for it. The run then checks those
// claims: an operation reported as failed that took effect shows up as a
// value no history explains.
import { RaftError } from '@kv/raft';
import { KvError, type KvNode } from '@kv/store';
import type { Endpoint, Outcome } from './workload.ts';

/** Raft refusals documented as "not taken": the proposal never reached a log. */
const DEFINITE = new Set(['RAFT_NO_LEADER', 'RAFT_NOT_LEADER', 'RAFT_TRANSFER_IN_PROGRESS', 'RAFT_PROPOSAL_DROPPED']);

function classify(e: unknown): Outcome<never> {
  if (e instanceof RaftError) {
    return DEFINITE.has(e.code) ? { type: 'fail', why: e.code } : { type: 'unknown', why: e.code };
  }
  if (e instanceof KvError) return { type: 'fail', why: `etcd ${e.errorCode}` };
  return { type: 'unknown', why: (e as Error)?.message ?? String(e) };
}

/** An endpoint over a KvNode. */
export function nodeEndpoint(node: KvNode): Endpoint {
  return {
    name: node.name,
    async read(key) {
      try {
        const ev = await node.get(key);
        return { type: 'ok', value: ev.node.value as string };
      } catch (e) {
        if (e instanceof KvError && e.errorCode === 100) return { type: 'ok', value: null };
        return classify(e);
      }
    },
    async write(key, value) {
      try {
        await node.set(key, value);
        return { type: 'ok', value: undefined };
      } catch (e) {
        return classify(e);
      }
    },
    async cas(key, from, to) {
      try {
        await node.compareAndSwap(key, to, { prevValue: from });
        return { type: 'ok', value: true };
      } catch (e) {
        // 101: compare failed; 100: no such key — both observe "not `from`".
        if (e instanceof KvError && (e.errorCode === 101 || e.errorCode === 100)) return { type: 'ok', value: false };
        return classify(e);
      }
    },
  };
}
