// Child processes for the storage tests: fixtures run under tsx with the
// kv-source condition, as the test runner runs the tests themselves.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../../', import.meta.url));

/** Starts `packages/store/test/fixtures/<name>` with `args`; stdout is piped, stderr inherited. */
export function startFixture(name: string, args: readonly string[]): ChildProcess {
  const script = fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
  return spawn(process.execPath, ['--conditions=kv-source', '--import', 'tsx', script, ...args], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
}

/** Calls `onLine` for each complete stdout line of `child` (a line cut short by a kill is not one). */
export function onLines(child: ChildProcess, onLine: (line: string) => void): void {
  createInterface({ input: child.stdout! }).on('line', onLine);
}

/** The first stdout line of `child`; rejects if it exits first. */
export function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', (line) => {
      rl.close();
      resolve(line);
    });
    child.once('exit', (code, signal) => reject(new Error(`child exited (${code ?? signal}) before printing a line`)));
  });
}

/** Resolves when `child` has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}
