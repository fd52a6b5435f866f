// Helpers of the examples that start members as processes on this machine.
import { createServer } from 'node:net';

/**
 * Resolves with a TCP port on 127.0.0.1 that nothing listens on now, for a
 * member to bind a moment later. It is drawn below the kernel's ephemeral
 * range (32768–60999 on Linux): a port the OS handed out for listen(0) and
 * took back can go to the next outgoing connection of any process — under
 * parallel tests that happened often enough to fail runs with EADDRINUSE.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await canListen(port)) return port;
  }
  throw new Error('no free TCP port found in 20000–31999 on 127.0.0.1');
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
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
