// Every error code a package can raise has a section in its README: a code
// added without documentation fails here (undici's errors test does the same).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';

test('every RaftErrorCode and RAFT_INVARIANT has a section in packages/raft/README.md', () => {
  const src = readFileSync(new URL('../packages/raft/src/errors.ts', import.meta.url), 'utf8');
  const union = src.slice(src.indexOf('export type RaftErrorCode'), src.indexOf(';', src.indexOf('export type RaftErrorCode')));
  const codes = [...union.matchAll(/'(RAFT_[A-Z_]+)'/g)].map((m) => m[1]);
  codes.push('RAFT_INVARIANT');
  assert.ok(codes.length >= 10, `found only ${codes.length} codes in errors.ts`);
  const readme = readFileSync(new URL('../packages/raft/README.md', import.meta.url), 'utf8');
  const missing = codes.filter((c) => !readme.includes(`### ${c}\n`));
  assert.deepEqual(missing, [], `undocumented error codes: ${missing.join(', ')}`);
});

test('every exported error class of @kv/store has a section in packages/store/README.md', () => {
  const dir = new URL('../packages/store/src/', import.meta.url);
  const files = (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
  // Error classes exported from the package (internal ones are turned into these).
  const index = readFileSync(new URL('index.ts', dir), 'utf8');
  const classes = files
    .flatMap((f) => [...readFileSync(new URL(f, dir), 'utf8').matchAll(/export class (\w+) extends Error/g)].map((m) => m[1]))
    .filter((c) => new RegExp(`\\b${c}\\b`).test(index));
  assert.ok(classes.length >= 3, `found only ${classes.length} error classes in packages/store/src`);
  const readme = readFileSync(new URL('../packages/store/README.md', import.meta.url), 'utf8');
  const missing = classes.filter((c) => !readme.includes(`### ${c}\n`));
  assert.deepEqual(missing, [], `undocumented error classes: ${missing.join(', ')}`);
});
