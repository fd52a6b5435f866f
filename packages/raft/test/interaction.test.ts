// Runs every script in testdata/ through the interaction environment, one
// test per file. `REWRITE=1 node scripts/run-tests.mjs interaction`
// regenerates the expected output; commit only diffs you can explain line by
// line against Raft's rules.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { InteractionEnv, runCommand } from '../src/testing/interaction/index.ts';
import { runScriptFile } from '../src/testing/script/runner.ts';

const dir = fileURLToPath(new URL('./testdata/', import.meta.url));
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.txt'))
  .sort();

test('testdata holds interaction scripts', () => {
  assert.ok(files.length > 0, `no *.txt scripts in ${dir}`);
});

for (const file of files) {
  test(file, () => {
    const env = new InteractionEnv();
    const { expectedText, actualText } = runScriptFile(dir + file, (cmd) => runCommand(env, cmd));
    assert.equal(actualText, expectedText);
  });
}
