// kvctl's entry point: runs runKvctl with the process streams and exits with its code.
import { runKvctl } from './run.js';

const ac = new AbortController();
process.once('SIGINT', () => ac.abort());
const code = await runKvctl(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: ac.signal });
process.exitCode = code;
process.exit(code);
