import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import {
  argInt,
  argValue,
  argValues,
  hasArg,
  parseCommand,
  parseScript,
  type ScriptCommand,
} from '../src/testing/script/parser.ts';
import { runScript, runScriptFile } from '../src/testing/script/runner.ts';

const cmd = (text: string): ScriptCommand => parseCommand(text, 'x.txt', 7);

/** A handler that echoes its command's name and arguments, or follows a few test verbs. */
function echo(c: ScriptCommand): string {
  if (c.name === 'quiet') return '';
  if (c.name === 'fail') throw new Error(argValue(c, 'msg', 'boom'));
  if (c.name === 'print') return argValues(c, 'lines').join('\n') + '\n';
  return [c.name, ...c.args.map((a) => `${a.key}=[${a.values.join('|')}]`)].join(' ');
}

describe('parseCommand', () => {
  test('reads a bare key as an argument with no values', () => {
    assert.deepEqual(cmd('add-nodes 3 check-quorum').args, [
      { key: '3', values: [] },
      { key: 'check-quorum', values: [] },
    ]);
  });

  test('reads key=value as an argument with one value', () => {
    assert.deepEqual(cmd('propose 1 data=hello').args, [
      { key: '1', values: [] },
      { key: 'data', values: ['hello'] },
    ]);
  });

  test('reads key=(a,b,c) as an argument with a list of values, ignoring spaces around elements', () => {
    assert.deepEqual(cmd('add-nodes voters=(1, 2 ,3) learners=()').args, [
      { key: 'voters', values: ['1', '2', '3'] },
      { key: 'learners', values: [] },
    ]);
  });

  test('reads double-quoted values with spaces, commas, parentheses and escapes', () => {
    assert.deepEqual(cmd('propose data="hello, (big) world" note="say \\"hi\\"\\n" tags=("a b",c)').args, [
      { key: 'data', values: ['hello, (big) world'] },
      { key: 'note', values: ['say "hi"\n'] },
      { key: 'tags', values: ['a b', 'c'] },
    ]);
  });

  test('reads a bare list as a positional argument keyed by its canonical text', () => {
    assert.deepEqual(cmd('partition (1) ( 2 , 3 )').args, [
      { key: '(1)', values: ['1'] },
      { key: '(2,3)', values: ['2', '3'] },
    ]);
  });

  test('keeps the name, line number, file and original text', () => {
    const c = parseCommand('  campaign 1  ', 'f.txt', 12);
    assert.equal(c.name, 'campaign');
    assert.equal(c.line, 12);
    assert.equal(c.file, 'f.txt');
    assert.equal(c.text, '  campaign 1  ');
  });

  test('rejects malformed arguments with file:line and column', () => {
    assert.throws(() => cmd('propose data="open'), { message: 'x.txt:7: unterminated quote at column 14: propose data="open' });
    assert.throws(() => cmd('add voters=(1,2'), { message: 'x.txt:7: unterminated list at column 12: add voters=(1,2' });
    assert.throws(() => cmd('add voters=(1 2)'), { message: "x.txt:7: unexpected '2' in list at column 15: add voters=(1 2)" });
    assert.throws(() => cmd('add voters=((1))'), { message: 'x.txt:7: nested list at column 13: add voters=((1))' });
    assert.throws(() => cmd('propose =x'), { message: 'x.txt:7: argument with an empty key at column 9: propose =x' });
    assert.throws(() => cmd('propose data="a"b'), { message: 'x.txt:7: unexpected character after quoted value at column 17: propose data="a"b' });
    assert.throws(() => cmd('a=1 b'), { message: 'x.txt:7: expected a command name at column 1: a=1 b' });
  });
});

describe('argument helpers', () => {
  const c = cmd('propose 1 data=hi n=42 neg=-3 ids=(1,2) flag bad=4x twice=1 twice=2');

  test('hasArg finds keys with or without values', () => {
    assert.equal(hasArg(c, 'flag'), true);
    assert.equal(hasArg(c, 'data'), true);
    assert.equal(hasArg(c, '1'), true);
    assert.equal(hasArg(c, 'nope'), false);
  });

  test('argValue returns the single value or the fallback', () => {
    assert.equal(argValue(c, 'data'), 'hi');
    assert.equal(argValue(c, 'nope', 'dflt'), 'dflt');
  });

  test('argValues returns a copy of the list, a single value as a list, or the fallback', () => {
    assert.deepEqual(argValues(c, 'ids'), ['1', '2']);
    assert.deepEqual(argValues(c, 'data'), ['hi']);
    assert.deepEqual(argValues(c, 'nope', []), []);
    argValues(c, 'ids').push('3');
    assert.deepEqual(argValues(c, 'ids'), ['1', '2']);
  });

  test('argInt parses decimal integers and falls back only when the argument is missing', () => {
    assert.equal(argInt(c, 'n'), 42);
    assert.equal(argInt(c, 'neg'), -3);
    assert.equal(argInt(c, 'nope', 5), 5);
    assert.throws(() => argInt(c, 'bad', 5), { message: 'x.txt:7: propose: argument bad= is not an integer: "4x"' });
  });

  test('the helpers name file, line and command in their errors', () => {
    assert.throws(() => argValue(c, 'nope'), { message: 'x.txt:7: propose: missing argument nope=' });
    assert.throws(() => argValues(c, 'nope'), { message: 'x.txt:7: propose: missing argument nope=' });
    assert.throws(() => argInt(c, 'nope'), { message: 'x.txt:7: propose: missing argument nope=' });
    assert.throws(() => argValue(c, 'flag'), { message: 'x.txt:7: propose: argument flag= takes one value, got 0' });
    assert.throws(() => argValue(c, 'ids'), { message: 'x.txt:7: propose: argument ids= takes one value, got 2' });
    assert.throws(() => argValue(c, 'twice'), { message: 'x.txt:7: propose: argument twice= given 2 times' });
  });
});

describe('parseScript', () => {
  test('splits blocks on blank lines, skips comments and records line numbers', () => {
    const blocks = parseScript(
      ['# What this file proves.', '', 'first a=1', '# between commands', 'second', '----', 'out 1', 'out 2', '', '', 'third', '----', 'ok', ''].join(
        '\n',
      ),
      'f.txt',
    );
    assert.equal(blocks.length, 2);
    assert.deepEqual(
      blocks[0].commands.map((c) => [c.name, c.line]),
      [
        ['first', 3],
        ['second', 5],
      ],
    );
    assert.equal(blocks[0].expected, 'out 1\nout 2');
    assert.equal(blocks[0].line, 3);
    assert.equal(blocks[0].separatorLine, 6);
    assert.equal(blocks[0].endLine, 9);
    assert.equal(blocks[1].expected, 'ok');
    assert.equal(blocks[1].line, 11);
  });

  test('treats # lines inside expected output as output', () => {
    const [block] = parseScript('cmd\n----\n# not a comment\nmore\n');
    assert.equal(block.expected, '# not a comment\nmore');
  });

  test('reads a final block that ends at end of file without a newline', () => {
    const [block] = parseScript('cmd\n----\nlast line');
    assert.equal(block.expected, 'last line');
    assert.equal(block.endLine, 4);
  });

  test('reads the double-separator form, whose output may hold blank lines', () => {
    const blocks = parseScript('cmd\n----\n----\none\n\nthree\n----\n----\n\nnext\n----\nok\n');
    assert.equal(blocks.length, 2);
    assert.equal(blocks[0].expected, 'one\n\nthree');
    assert.equal(blocks[0].endLine, 9);
    assert.equal(blocks[1].commands[0].name, 'next');
  });

  test('accepts CRLF line endings', () => {
    const [block] = parseScript('cmd a=1\r\n----\r\nok\r\n');
    assert.deepEqual(block.commands[0].args, [{ key: 'a', values: ['1'] }]);
    assert.equal(block.expected, 'ok');
  });

  test('rejects malformed blocks with file:line', () => {
    assert.throws(() => parseScript('cmd\n\n----\nok\n', 'f.txt'), {
      message: 'f.txt:2: blank line before ----: block at line 1 has no expected output',
    });
    assert.throws(() => parseScript('ok\n\ncmd\nmore', 'f.txt'), { message: 'f.txt:2: blank line before ----: block at line 1 has no expected output' });
    assert.throws(() => parseScript('a\n----\nok\n\ncmd\nmore', 'f.txt'), { message: 'f.txt:5: block has no ---- line before end of file' });
    assert.throws(() => parseScript('# c\n----\nok\n', 'f.txt'), { message: 'f.txt:2: ---- without a command before it' });
    assert.throws(() => parseScript('a\n----\n----\nx\n\n', 'f.txt'), { message: 'f.txt:2: output opened with ---- ---- is never closed' });
    assert.throws(() => parseScript('a\n----\n----\nx\n----\n----\ny\n', 'f.txt'), {
      message: 'f.txt:7: expected a blank line after the closing ---- ----',
    });
    assert.throws(() => parseScript('\n\npropose data="x\n----\nok\n', 'f.txt'), {
      message: 'f.txt:3: unterminated quote at column 14: propose data="x',
    });
  });

  test('names the default file <script> when none is given', () => {
    assert.throws(() => parseScript('cmd\n'), { message: '<script>:1: block has no ---- line before end of file' });
  });
});

describe('runScript', () => {
  test('runs each block and leaves a file that matches unchanged', () => {
    const text = '# header\n\ncmd a=1 b\n----\ncmd a=[1] b=[]\n\nquiet\n----\nok\n';
    const run = runScript(text, 'f.txt', echo);
    assert.equal(run.rewritten, text);
    assert.deepEqual(
      run.results.map((r) => r.actual),
      ['cmd a=[1] b=[]', 'ok'],
    );
  });

  test('joins the outputs of several commands in a block with newlines and skips empty ones', () => {
    const run = runScript('one x\nquiet\nprint lines=(a,b)\n----\n?\n', 'f.txt', echo);
    assert.equal(run.results[0].actual, 'one x=[]\na\nb');
  });

  test('prints ok for a block whose commands print nothing', () => {
    const run = runScript('quiet\nquiet\n----\nstale output\n', 'f.txt', echo);
    assert.equal(run.rewritten, 'quiet\nquiet\n----\nok\n');
  });

  test('rewrites expected output while keeping comments, command lines and spacing byte for byte', () => {
    const text = [
      '# What this proves,',
      '#   indented as written.',
      '',
      '',
      'first   a=( 1,2 )   # not a comment: a bare key',
      '# comment between commands',
      'second "q w"',
      '----',
      'old',
      'old too',
      '',
      '# trailing comment',
      'quiet',
      '----',
      'ok',
    ].join('\n');
    const run = runScript(text, 'f.txt', echo);
    assert.equal(
      run.rewritten,
      [
        '# What this proves,',
        '#   indented as written.',
        '',
        '',
        'first   a=( 1,2 )   # not a comment: a bare key',
        '# comment between commands',
        'second "q w"',
        '----',
        'first a=[1|2] #=[] not=[] a=[] comment:=[] a=[] bare=[] key=[]',
        'second q w=[]',
        '',
        '# trailing comment',
        'quiet',
        '----',
        'ok',
      ].join('\n'),
    );
  });

  test('switches to the double-separator form when output has blank lines, and back when it does not', () => {
    const run = runScript('print lines=(a,"",b)\n----\nold\n\nprint lines=(c)\n----\n----\nx\n\ny\n----\n----\n', 'f.txt', echo);
    assert.equal(run.rewritten, 'print lines=(a,"",b)\n----\n----\na\n\nb\n----\n----\n\nprint lines=(c)\n----\nc\n');
    assert.deepEqual(parseScript(run.rewritten).map((b) => b.expected), ['a\n\nb', 'c']);
  });

  test('renders a handler error as that command output and runs the rest of the block', () => {
    const run = runScript('fail msg="no leader"\nsecond\n----\n?\n\nfail\n----\n?\n', 'f.txt', echo);
    assert.equal(run.rewritten, 'fail msg="no leader"\nsecond\n----\nerror: no leader\nsecond\n\nfail\n----\nerror: boom\n');
  });

  test('renders a helper error with the file and line of the command', () => {
    const run = runScript('\nprint\n----\n?\n', 'f.txt', echo);
    assert.equal(run.results[0].actual, 'error: f.txt:2: print: missing argument lines=');
  });

  test('returns a transcript of commands and actual output without comments', () => {
    const run = runScript('# c\na\n# d\nb\n----\n?\n\nquiet\n----\n?\n', 'f.txt', echo);
    assert.equal(run.actual, 'a\nb\n----\na\nb\n\nquiet\n----\nok\n');
  });

  test('throws on a script that does not parse instead of running any of it', () => {
    let ran = 0;
    assert.throws(
      () =>
        runScript('a\n----\nok\n\nb\n', 'f.txt', () => {
          ran++;
          return '';
        }),
      { message: 'f.txt:5: block has no ---- line before end of file' },
    );
    assert.equal(ran, 0);
  });

  test('throws when output cannot be written in either form', () => {
    assert.throws(() => runScript('\nprint lines=(----,----)\n----\n?\n', 'f.txt', echo), {
      message: "f.txt:2: output line 1 is '----' where the script format cannot hold it",
    });
  });
});

describe('runScriptFile', () => {
  test('returns the file and its rewrite, and writes the rewrite only when REWRITE=1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kv-script-'));
    const saved = process.env.REWRITE;
    try {
      const path = join(dir, 'case.txt');
      writeFileSync(path, '# c\nquiet\n----\nstale\n');

      delete process.env.REWRITE;
      const checked = runScriptFile(path, echo);
      assert.equal(checked.expectedText, '# c\nquiet\n----\nstale\n');
      assert.equal(checked.actualText, '# c\nquiet\n----\nok\n');
      assert.equal(readFileSync(path, 'utf8'), '# c\nquiet\n----\nstale\n');

      process.env.REWRITE = '1';
      const rewritten = runScriptFile(path, echo);
      assert.equal(rewritten.actualText, rewritten.expectedText);
      assert.equal(readFileSync(path, 'utf8'), '# c\nquiet\n----\nok\n');
    } finally {
      if (saved === undefined) delete process.env.REWRITE;
      else process.env.REWRITE = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
