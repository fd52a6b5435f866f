// kvctl member add --learner and member promote (etcd v3's learners) on
// real kvd processes: a learner joins a running one-member cluster, catches
// up, is listed as a learner, and after promote votes (the cluster then
// needs both members for a quorum). Refusals exit 1 with etcd's messages.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Processes, call, kvdArgs, memberPorts, waitHealthy, waitUntil } from '../kvd/processes.ts';

const P = new Processes();
after(() => P.cleanup());

test('a learner added with member add --learner joins, catches up, and member promote makes it a voter', { timeout: 120_000 }, async () => {
  const dir = P.tempDir('kv-promote-');
  const [m1, m2] = await memberPorts(['m1', 'm2']);
  const first = P.kvd(kvdArgs(m1!, [m1!], { dataDir: join(dir, 'm1.kv'), token: 'promote-test' }));
  const url1 = `http://127.0.0.1:${m1!.client}`;
  await waitHealthy(url1, `m1: ${first.log()}`);
  await call(`${url1}/v2/keys/before`, 'PUT', { value: 'written before the learner joined' });

  const add = await P.kvctl(['--endpoints', url1, 'member', 'add', '--learner', 'm2', `http://127.0.0.1:${m2!.peer}`]);
  assert.equal(add.code, 0, add.stderr);
  const id = /^Added learner named m2 with ID ([0-9a-f]+) to cluster\n/.exec(add.stdout)?.[1];
  assert.ok(id, add.stdout);
  assert.match(add.stdout, new RegExp(`ETCD_INITIAL_CLUSTER="m1=http://127.0.0.1:${m1!.peer},m2=http://127.0.0.1:${m2!.peer}"|ETCD_INITIAL_CLUSTER="m2=http://127.0.0.1:${m2!.peer},m1=http://127.0.0.1:${m1!.peer}"`));

  const second = P.kvd(kvdArgs(m2!, [m1!, m2!], { dataDir: join(dir, 'm2.kv'), token: 'promote-test', state: 'existing' }));
  const url2 = `http://127.0.0.1:${m2!.client}`;
  await waitUntil(async () => (await call(`${url2}/v2/keys/before`)).status === 200, `the learner to catch up: ${second.log()}`);
  const listed = await P.kvctl(['--endpoints', url1, 'member', 'list']);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, new RegExp(`^${id}: name=m2 peerURLs=http://127.0.0.1:${m2!.peer} clientURLs=${url2} isLeader=false isLearner=true$`, 'm'));
  assert.doesNotMatch(listed.stdout, new RegExp(`name=m1 .*isLearner`));

  // A learner does not count for the quorum: m1 alone still takes writes.
  assert.equal((await call(`${url1}/v2/keys/as-learner`, 'PUT', { value: '1' })).status, 201);

  const promoted = await P.kvctl(['--endpoints', url1, 'member', 'promote', id]);
  assert.equal(promoted.code, 0, promoted.stderr);
  const clusterId = (await call(`${url1}/v2/keys/`)).headers.get('x-etcd-cluster-id');
  assert.equal(promoted.stdout, `Member ${id} promoted in cluster ${clusterId}\n`);
  const after2 = await P.kvctl(['--endpoints', url2, 'member', 'list']);
  assert.doesNotMatch(after2.stdout, /isLearner/);
  assert.equal((await call(`${url2}/v2/members`)).body.members instanceof Array, true);

  const again = await P.kvctl(['--endpoints', url1, 'member', 'promote', id]);
  assert.deepEqual(again, { code: 1, stdout: '', stderr: 'Error:  etcdserver: can only promote a learner member\n' });
  const unknown = await P.kvctl(['--endpoints', url1, 'member', 'promote', 'abcdef']);
  assert.deepEqual(unknown, { code: 1, stdout: '', stderr: 'Error:  etcdserver: member not found\n' });
  const bad = await P.kvctl(['--endpoints', url1, 'member', 'promote', 'not-hex']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /expecting ID in Hex/);
  assert.deepEqual(await P.kvctl(['--endpoints', url1, 'member', 'promote']), { code: 1, stdout: '', stderr: 'Error:  member ID is not provided\n' });
  assert.deepEqual(await P.kvctl(['--endpoints', url1, 'member', 'list', '--learner']), { code: 1, stdout: '', stderr: 'Error:  --learner goes with member add\n' });
  const get = await fetch(`${url1}/v2/members/${id}/promote`);
  assert.equal(get.status, 405);

  // Now a voter: with m2 stopped, m1 has no quorum (a write times out).
  second.child.kill('SIGTERM');
  assert.equal(await second.exited, 0);
  await waitUntil(async () => (await call(`${url1}/health`)).body.health !== 'true', 'm1 to lose its quorum');
});
