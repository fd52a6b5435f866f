// Helpers of the examples that start members as processes on this machine.
import { createServer } from 'node:net';

/**
 * Resolves with a TCP port on 127.0.0.1 that nothing listened on a moment
 * ago (the OS picks it; another process could still take it before the
 * member binds it, which is unlikely).
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * On Ctrl-C (SIGINT) or SIGTERM in the middle of an example, runs `cleanup`
 * (kill the processes it started, remove their data dirs) and exits with
 * 130, so that nothing the example started outlives it.
 */
export function onInterrupt(cleanup: () => Promise<void>): void {
  const interrupted = (): void => void cleanup().finally(() => process.exit(130));
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
}
