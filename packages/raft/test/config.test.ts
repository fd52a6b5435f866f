// validateConfig (config.ts): every default it fills in, and every
// documented constraint it enforces, each refused with RAFT_INVALID_CONFIG and
// a message that names the field at fault.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { validateConfig, type RaftConfig } from '../src/config.ts';
import { RaftError } from '../src/errors.ts';
import { seededRandom } from '../src/random.ts';
import { RawNode } from '../src/raw-node.ts';
import { MemoryStorage } from '../src/storage.ts';
import { silentLogger } from '../src/logger.ts';
import { EntryType } from '../src/types.ts';

const base = (): RaftConfig => ({ id: '1', storage: new MemoryStorage({ voters: ['1'], learners: [] }) });

function refuses(config: RaftConfig, field: string): void {
  assert.throws(
    () => validateConfig(config),
    (e: unknown) => {
      assert.ok(e instanceof RaftError, `expected RaftError, got ${String(e)}`);
      assert.equal(e.code, 'RAFT_INVALID_CONFIG');
      assert.match(e.message, new RegExp(`\\b${field}\\b`), `message names ${field}: ${e.message}`);
      return true;
    },
  );
}

describe('validateConfig defaults', () => {
  test('fills in every documented default', () => {
    const c = base();
    const r = validateConfig(c);
    assert.equal(r.id, '1');
    assert.equal(r.storage, c.storage);
    assert.equal(r.electionTick, 10);
    assert.equal(r.heartbeatTick, 1);
    assert.equal(r.applied, 0);
    assert.equal(r.maxSizePerMsgBytes, 1024 * 1024);
    assert.equal(r.maxEntriesPerMsg, 4096);
    assert.equal(r.maxInflightMsgs, 256);
    assert.equal(r.maxInflightBytes, 0);
    assert.equal(r.maxCommittedSizePerReadyBytes, 64 * 1024 * 1024);
    assert.equal(r.checkQuorum, true);
    assert.equal(r.preVote, true);
    assert.equal(r.disableProposalForwarding, false);
    assert.equal(r.logger, silentLogger);
    assert.equal(typeof r.random.intn, 'function');
  });

  test('keeps values that are given, including false booleans and 0 for maxInflightBytes', () => {
    const random = seededRandom(3);
    const r = validateConfig({
      ...base(),
      electionTick: 20,
      heartbeatTick: 2,
      applied: 0,
      maxSizePerMsgBytes: 100,
      maxEntriesPerMsg: 5,
      maxInflightMsgs: 7,
      maxInflightBytes: 0,
      maxCommittedSizePerReadyBytes: 9,
      checkQuorum: false,
      preVote: false,
      disableProposalForwarding: true,
      random,
    });
    assert.deepEqual(
      [r.electionTick, r.heartbeatTick, r.maxSizePerMsgBytes, r.maxEntriesPerMsg, r.maxInflightMsgs, r.maxCommittedSizePerReadyBytes],
      [20, 2, 100, 5, 7, 9],
    );
    assert.equal(r.checkQuorum, false);
    assert.equal(r.preVote, false);
    assert.equal(r.disableProposalForwarding, true);
    assert.equal(r.random, random);
  });

  test('derives the default random source from the id, so the same id draws the same jitter', () => {
    const a = validateConfig({ ...base(), id: 'n1' }).random;
    const b = validateConfig({ ...base(), id: 'n1' }).random;
    const seqA = Array.from({ length: 8 }, () => a.intn(1000));
    const seqB = Array.from({ length: 8 }, () => b.intn(1000));
    assert.deepEqual(seqA, seqB);
  });

  test('does not mutate the config it is given', () => {
    const c = base();
    const copy = { ...c };
    validateConfig(c);
    assert.deepEqual(c, copy);
  });

  test('accepts maxInflightBytes equal to maxSizePerMsgBytes', () => {
    assert.equal(validateConfig({ ...base(), maxSizePerMsgBytes: 10, maxInflightBytes: 10 }).maxInflightBytes, 10);
  });
});

describe('validateConfig errors', () => {
  const cases: { name: string; config: () => RaftConfig; field: string }[] = [
    { name: 'an empty id', config: () => ({ ...base(), id: '' }), field: 'id' },
    { name: 'a non-string id', config: () => ({ ...base(), id: 1 as unknown as string }), field: 'id' },
    { name: 'a missing storage', config: () => ({ ...base(), storage: undefined as unknown as MemoryStorage }), field: 'storage' },
    { name: 'a zero heartbeatTick', config: () => ({ ...base(), heartbeatTick: 0 }), field: 'heartbeatTick' },
    { name: 'a fractional heartbeatTick', config: () => ({ ...base(), heartbeatTick: 1.5 }), field: 'heartbeatTick' },
    { name: 'a negative electionTick', config: () => ({ ...base(), electionTick: -1 }), field: 'electionTick' },
    { name: 'a NaN electionTick', config: () => ({ ...base(), electionTick: Number.NaN }), field: 'electionTick' },
    { name: 'an electionTick equal to heartbeatTick', config: () => ({ ...base(), electionTick: 3, heartbeatTick: 3 }), field: 'electionTick' },
    { name: 'an electionTick below heartbeatTick', config: () => ({ ...base(), electionTick: 2, heartbeatTick: 3 }), field: 'heartbeatTick' },
    { name: 'a zero maxSizePerMsgBytes', config: () => ({ ...base(), maxSizePerMsgBytes: 0 }), field: 'maxSizePerMsgBytes' },
    { name: 'an infinite maxSizePerMsgBytes', config: () => ({ ...base(), maxSizePerMsgBytes: Infinity }), field: 'maxSizePerMsgBytes' },
    { name: 'a zero maxEntriesPerMsg', config: () => ({ ...base(), maxEntriesPerMsg: 0 }), field: 'maxEntriesPerMsg' },
    { name: 'a zero maxInflightMsgs', config: () => ({ ...base(), maxInflightMsgs: 0 }), field: 'maxInflightMsgs' },
    { name: 'a fractional maxInflightMsgs', config: () => ({ ...base(), maxInflightMsgs: 2.5 }), field: 'maxInflightMsgs' },
    { name: 'a zero maxCommittedSizePerReadyBytes', config: () => ({ ...base(), maxCommittedSizePerReadyBytes: 0 }), field: 'maxCommittedSizePerReadyBytes' },
    { name: 'a negative maxInflightBytes', config: () => ({ ...base(), maxInflightBytes: -1 }), field: 'maxInflightBytes' },
    { name: 'a fractional maxInflightBytes', config: () => ({ ...base(), maxInflightBytes: 0.5 }), field: 'maxInflightBytes' },
    { name: 'a maxInflightBytes below maxSizePerMsgBytes', config: () => ({ ...base(), maxSizePerMsgBytes: 100, maxInflightBytes: 99 }), field: 'maxInflightBytes' },
    { name: 'a negative applied', config: () => ({ ...base(), applied: -1 }), field: 'applied' },
    { name: 'a fractional applied', config: () => ({ ...base(), applied: 0.5 }), field: 'applied' },
  ];
  for (const c of cases) {
    test(`refuses ${c.name} with RAFT_INVALID_CONFIG naming ${c.field}`, () => {
      refuses(c.config(), c.field);
    });
  }

  test('RawNode refuses an invalid config the same way', () => {
    assert.throws(
      () => new RawNode({ ...base(), electionTick: 1, heartbeatTick: 1 }),
      (e: unknown) => e instanceof RaftError && e.code === 'RAFT_INVALID_CONFIG',
    );
  });

  test('RawNode refuses an applied index past the stored commit index with RAFT_INVALID_CONFIG naming applied', () => {
    const storage = new MemoryStorage({ voters: ['1'], learners: [] });
    storage.append([{ index: 1, term: 1, type: EntryType.Normal, data: new Uint8Array() }]);
    storage.setHardState({ term: 1, vote: '1', commit: 1 });
    assert.throws(
      () => new RawNode({ id: '1', storage, applied: 5 }),
      (e: unknown) => e instanceof RaftError && e.code === 'RAFT_INVALID_CONFIG' && /\bapplied\b/.test(e.message),
    );
    assert.equal(new RawNode({ id: '1', storage, applied: 1 }).status().applied, 1, 'applied equal to commit is fine');
  });

  test('RawNode refuses a stored commit index past the end of the stored log', () => {
    const storage = new MemoryStorage({ voters: ['1'], learners: [] });
    storage.setHardState({ term: 1, vote: '1', commit: 5 });
    assert.throws(
      () => new RawNode({ id: '1', storage }),
      (e: unknown) => e instanceof RaftError && e.code === 'RAFT_INVALID_CONFIG' && /commit/.test(e.message),
    );
  });
});
