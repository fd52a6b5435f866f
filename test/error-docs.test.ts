// Every error code a package can raise has a section in its README: a code
// added without documentation fails here (undici's errors test does the same).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
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
  const src = readFileSync(new URL('../packages/store/src/errors.ts', import.meta.url), 'utf8');
  const classes = [...src.matchAll(/export class (\w+) extends Error/g)].map((m) => m[1]);
  assert.ok(classes.length >= 2, `found only ${classes.length} error classes in errors.ts`);
  const readme = readFileSync(new URL('../packages/store/README.md', import.meta.url), 'utf8');
  const missing = classes.filter((c) => !readme.includes(`### ${c}\n`));
  assert.deepEqual(missing, [], `undocumented error classes: ${missing.join(', ')}`);
});
