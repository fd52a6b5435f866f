#!/usr/bin/env node
// Runs every *.test.ts under packages/*/test and test/ with Node's test runner.
// Node 20's `--test` takes no globs and passes with zero files, so the files are
// listed here and an empty list is an error. `--long` adds *.long.test.ts and
// sets KV_TEST_LONG=1 so seed-driven suites run their long configuration.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const long = process.argv.includes('--long');
const filters = process.argv.slice(2).filter((a) => !a.startsWith('--'));

function walk(dir, out) {
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    if (name === 'node_modules' || name === 'dist') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

const dirs = [join(root, 'test'), join(root, 'examples')];
for (const pkg of readdirSync(join(root, 'packages'))) dirs.push(join(root, 'packages', pkg, 'test'));
let files = dirs.flatMap((d) => walk(d, [])).sort();
if (!long) files = files.filter((f) => !f.endsWith('.long.test.ts'));
if (filters.length > 0) files = files.filter((f) => filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('run-tests: no test files found' + (filters.length ? ` matching ${filters.join(' ')}` : ''));
  process.exit(1);
}
console.error(`run-tests: ${files.length} file(s)${long ? ' (long)' : ''}`);
for (const f of files) console.error('  ' + relative(root, f));

const env = { ...process.env };
if (long) env.KV_TEST_LONG = '1';
const r = spawnSync(
  process.execPath,
  ['--conditions=kv-source', '--import', 'tsx', '--test', ...files],
  { stdio: 'inherit', cwd: root, env },
);
process.exit(r.status ?? 1);
