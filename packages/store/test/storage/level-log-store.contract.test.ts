// LevelLogStore against the whole LogStore contract from @kv/raft/testing,
// on real classic-level databases in temporary directories, with reopen
// (close + open the same directory, as a restart does) and storedRange.
import { rm } from 'node:fs/promises';
import { after, describe, test } from 'node:test';

import { logStoreContract } from '@kv/raft/testing';

import { LevelLogStore } from '../../src/storage/level-log-store.ts';
import { tempDir } from './helpers.ts';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

logStoreContract({
  test,
  describe,
  name: 'LevelLogStore meets the LogStore contract',
  factory: async () => {
    const dir = await tempDir('contract');
    dirs.push(dir);
    return new LevelLogStore({ dir });
  },
  reopen: async (store) => {
    await store.close();
    return LevelLogStore.open({ dir: store.dir });
  },
  storedRange: (store) => {
    const { firstIndex, lastIndex } = store.inspect();
    return { firstIndex, lastIndex };
  },
});
