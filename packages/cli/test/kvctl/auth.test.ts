// kvctl --username user[:password] against serveHttp with basic auth over
// real HTTP: the password from the flag, from KVCTL_PASSWORD (in a kvctl
// process) or from --password; refusals with etcd's 110 error (exit 4) and
// usage errors (exit 1) that send nothing.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { runKvctl } from '../../src/index.ts';
import { serveOne, type Served } from '../http/helpers.ts';
import { Processes, onPath } from '../kvd/processes.ts';

const P = new Processes();
after(() => P.cleanup());

async function kvctl(env: Record<string, string>, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runKvctl(args, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env });
  return { code, stdout, stderr };
}

const DENIED = 'Error:  110: The request requires user authentication (Insufficient credentials) [0]\n';

describe('kvctl --username against a member with basic auth', () => {
  let s: Served;
  before(async () => {
    s = await serveOne({ auth: { username: 'root', password: 'pa:ss word' } });
  });
  after(() => s.close());

  test('user:password in the flag (the password may hold colons and spaces)', async () => {
    assert.deepEqual(await kvctl({}, '--endpoints', s.url, '--username', 'root:pa:ss word', 'set', '/a', '1'), { code: 0, stdout: '1\n', stderr: '' });
    assert.deepEqual(await kvctl({}, '--endpoints', s.url, '-u', 'root:pa:ss word', 'get', '/a'), { code: 0, stdout: '1\n', stderr: '' });
    assert.deepEqual(await kvctl({}, '--endpoints', s.url, '--user', 'root', '--password', 'pa:ss word', 'get', '/a'), { code: 0, stdout: '1\n', stderr: '' });
    const members = await kvctl({}, '--endpoints', s.url, '-u', 'root:pa:ss word', 'member', 'list');
    assert.equal(members.code, 0, members.stderr);
    assert.match(members.stdout, /isLeader=true/);
  });

  test('the password from KVCTL_PASSWORD, in a kvctl process', async () => {
    assert.deepEqual(await P.kvctl(['--endpoints', s.url, '--username', 'root', 'get', '/a'], { KVCTL_PASSWORD: 'pa:ss word' }), { code: 0, stdout: '1\n', stderr: '' });
    assert.deepEqual(await P.kvctl(['--endpoints', s.url, '--username', 'root:pa:ss word', 'get', '/a'], { KVCTL_PASSWORD: 'wrong' }), { code: 0, stdout: '1\n', stderr: '' }, 'the flag wins');
  });

  test('no or wrong credentials: etcd\'s 110 error and exit 4; a user without a password: exit 1', async () => {
    assert.deepEqual(await kvctl({}, '--endpoints', s.url, 'get', '/a'), { code: 4, stdout: '', stderr: DENIED });
    assert.deepEqual(await kvctl({}, '--endpoints', s.url, '-u', 'root:nope', 'get', '/a'), { code: 4, stdout: '', stderr: DENIED });
    assert.deepEqual(await kvctl({}, '--endpoints', s.url, '-u', 'root', 'get', '/a'), {
      code: 1,
      stdout: '',
      stderr: 'Error:  no password for user root: give --username root:<password>, or set KVCTL_PASSWORD\n',
    });
    assert.deepEqual(await kvctl({}, '--endpoints', s.url, '-u', ':x', 'get', '/a'), { code: 1, stdout: '', stderr: 'Error:  --username: empty user name\n' });
    assert.deepEqual(await kvctl({}, '--endpoints', s.url, '--password', 'x', 'get', '/a'), { code: 1, stdout: '', stderr: 'Error:  --password needs --username\n' });
    const list = await kvctl({}, '--endpoints', s.url, 'member', 'list');
    assert.equal(list.code, 1);
    assert.match(list.stderr, /The request requires user authentication/);
  });
});


describe('the same flag as ETCDCTL_API=2 etcdctl', { skip: (await onPath('etcdctl')) ? false : 'etcdctl not installed' }, () => {
  test('etcdctl --username user:password reads what kvctl wrote', async () => {
    const s = await serveOne({ auth: { username: 'root', password: 'pw' } });
    try {
      assert.equal((await kvctl({}, '--endpoints', s.url, '--username', 'root:pw', 'set', '/shared', 'v')).code, 0);
      const r = await promisify(execFile)('etcdctl', ['--endpoints', s.url, '--username', 'root:pw', 'get', '/shared'], { env: { ...process.env, ETCDCTL_API: '2' } });
      assert.equal(r.stdout, 'v\n');
    } finally {
      await s.close();
    }
  });
});
