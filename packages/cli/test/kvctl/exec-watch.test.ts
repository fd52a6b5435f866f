// kvctl exec-watch as etcdctl v2's: a kvctl process runs a command on every
// change with ETCD_WATCH_ACTION, _KEY, _VALUE and _MODIFIED_INDEX in its
// environment; directory changes are skipped with a note; SIGINT ends it
// with exit 0; bad arguments and commands that cannot start exit 1.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runKvctl } from '../../src/index.ts';
import { serveOne, type Served } from '../http/helpers.ts';
import { Processes, onPath, waitUntil } from '../kvd/processes.ts';

const P = new Processes();
after(() => P.cleanup());

// Appends one line per run: action key value index.
const RECORD = 'printf "%s %s %s %s\\n" "$ETCD_WATCH_ACTION" "$ETCD_WATCH_KEY" "$ETCD_WATCH_VALUE" "$ETCD_WATCH_MODIFIED_INDEX" >> "$OUT"';

function lines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : [];
}

describe('kvctl exec-watch', () => {
  let s: Served;
  before(async () => {
    s = await serveOne();
  });
  after(() => s.close());

  test('runs the command on every change with the ETCD_WATCH_* variables; SIGINT exits 0', { timeout: 60_000 }, async () => {
    const out = join(P.tempDir('kv-exec-watch-'), 'runs');
    const watchers = s.node.status().watchers;
    const w = P.spawn('kvctl', ['--endpoints', s.url, 'exec-watch', '--recursive', '/jobs', '--', 'sh', '-c', RECORD], { OUT: out });
    await waitUntil(() => s.node.status().watchers > watchers, 'exec-watch to start watching');
    const a = await s.node.set('/jobs/a', 'one');
    await waitUntil(() => lines(out).length === 1, 'the first run');
    await s.node.mkdir('/jobs/dir');
    const b = await s.node.set('/jobs/b', 'two words');
    await waitUntil(() => lines(out).length === 2, 'the second run');
    const d = await s.node.delete('/jobs/a');
    await s.node.set('/elsewhere', 'not watched');
    await waitUntil(() => lines(out).length === 3, 'the third run');
    assert.deepEqual(lines(out).sort(), [`set /jobs/a one ${a.index}`, `set /jobs/b two words ${b.index}`, `delete /jobs/a  ${d.index}`].sort());
    assert.equal(w.stderr(), 'Ignored dir /jobs/dir change\n');
    w.child.kill('SIGINT');
    assert.equal(await w.exited, 0);
  });

  test('--after-index replays changes from the history; the form without -- works too', { timeout: 60_000 }, async () => {
    const out = join(P.tempDir('kv-exec-watch-'), 'runs');
    const first = await s.node.set('/replay', 'old');
    await s.node.set('/replay', 'new');
    const w = P.spawn('kvctl', ['--endpoints', s.url, 'exec-watch', '--after-index', String(first.index - 1), '/replay', 'sh', '-c', RECORD], { OUT: out });
    await waitUntil(() => lines(out).length === 2, 'both replayed changes');
    assert.deepEqual(lines(out).map((l) => l.split(' ').slice(0, 3).join(' ')).sort(), ['set /replay new', 'set /replay old']);
    w.child.kill('SIGINT');
    assert.equal(await w.exited, 0);
  });

  test('bad arguments and a command that cannot start exit 1 with etcdctl\'s messages', { timeout: 60_000 }, async () => {
    const run = async (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
      let stdout = '';
      let stderr = '';
      const code = await runKvctl(['--endpoints', s.url, ...args], { stdout: { write: (x: string) => (stdout += x) }, stderr: { write: (x: string) => (stderr += x) }, env: {} });
      return { code, stdout, stderr };
    };
    assert.deepEqual(await run('exec-watch', '/k'), { code: 1, stdout: '', stderr: 'Error:  key and command to exec required\n' });
    assert.deepEqual(await run('exec-watch'), { code: 1, stdout: '', stderr: 'Error:  key and command to exec required\n' });
    assert.deepEqual(await run('exec-watch', '--bogus', '/k', 'true'), { code: 1, stdout: '', stderr: 'Error:  flag provided but not defined: --bogus\n' });
    const missing = run('exec-watch', '/nocmd', '--', 'kv-no-such-command-here');
    const watchers = s.node.status().watchers;
    await waitUntil(() => s.node.status().watchers > watchers, 'the watch');
    await s.node.set('/nocmd', 'x');
    assert.deepEqual(await missing, { code: 1, stdout: '', stderr: 'exec: "kv-no-such-command-here": executable file not found in $PATH\n' });
  });
});


describe('kvctl exec-watch gives the command what ETCDCTL_API=2 etcdctl exec-watch gives it', { skip: (await onPath('etcdctl')) ? false : 'etcdctl not installed' }, () => {
  test('the same ETCD_WATCH_* environment for a set and a delete', { timeout: 60_000 }, async () => {
    const s = await serveOne();
    try {
      const dir = P.tempDir('kv-exec-watch-etcdctl-');
      const env = (tool: string): NodeJS.ProcessEnv => ({ OUT: join(dir, tool), ETCDCTL_API: '2' });
      const dump = 'env | grep ^ETCD_WATCH_ | sort | tr "\\n" " " >> "$OUT"; echo >> "$OUT"';
      const watchers = s.node.status().watchers;
      // With a flag: etcdctl 3.4 takes the last argument as the key when none is given.
      const ours = P.spawn('kvctl', ['--endpoints', s.url, 'exec-watch', '--recursive', '/cmp', '--', 'sh', '-c', dump], env('kvctl'));
      const etcdctl = spawn('etcdctl', ['--endpoints', s.url, 'exec-watch', '--recursive', '/cmp', '--', 'sh', '-c', dump], { env: { ...process.env, ...env('etcdctl') }, stdio: 'ignore' });
      try {
        await waitUntil(() => s.node.status().watchers >= watchers + 2, 'both watches');
        await s.node.set('/cmp', 'v 1');
        await waitUntil(() => lines(join(dir, 'kvctl')).length === 1 && lines(join(dir, 'etcdctl')).length === 1, 'both runs for the set');
        // One change at a time: etcdctl starts its commands concurrently too.
        await s.node.delete('/cmp');
        await waitUntil(() => lines(join(dir, 'kvctl')).length === 2 && lines(join(dir, 'etcdctl')).length === 2, 'both runs for the delete');
        assert.deepEqual(lines(join(dir, 'kvctl')), lines(join(dir, 'etcdctl')));
        assert.match(lines(join(dir, 'kvctl'))[0]!, /^ETCD_WATCH_ACTION=set ETCD_WATCH_KEY=\/cmp ETCD_WATCH_MODIFIED_INDEX=\d+ ETCD_WATCH_VALUE=v 1 $/);
      } finally {
        etcdctl.kill('SIGKILL');
        ours.child.kill('SIGINT');
      }
    } finally {
      await s.close();
    }
  });
});
