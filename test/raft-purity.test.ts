// The Raft core is pure: outside packages/raft/src/node/ and
// packages/raft/src/testing/ no file imports Node or any package, or touches
// clocks, timers, randomness, promises or the process. Time is tick(),
// randomness is a seeded source in the config, and output leaves only through
// Ready. This test scans the source text (with comments, strings and regex
// literals blanked out) and names every file:line that breaks the rule.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative, sep } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const coreDir = join(root, 'packages', 'raft', 'src');
/** Folders of the core allowed to do I/O, relative to `coreDir`. */
const impureDirs = ['node', 'testing'];

/** One rule broken at one line. */
interface Finding {
  line: number;
  message: string;
}

/**
 * Globals the core must not touch. `globalThis` is here because it reaches all
 * the others (`globalThis.Date`). An identifier counts when it is not a property
 * access (`x.process` is fine, `...process` is not); a key or member named like
 * one of these (`{ process: 1 }`) is reported too, on purpose: rename it.
 */
const forbiddenGlobals = [
  'Date',
  'performance',
  'setTimeout',
  'setInterval',
  'setImmediate',
  'queueMicrotask',
  'process',
  'Promise',
  'async',
  'await',
  'globalThis',
];
const notProperty = String.raw`(?<![\w$])(?<!(?:^|[^.])\.)`;
const globalPattern = new RegExp(String.raw`${notProperty}(${forbiddenGlobals.join('|')})(?![\w$])|${notProperty}Math\s*\.\s*random(?![\w$])`, 'g');

/** Keywords after which a `/` starts a regex literal rather than a division. */
const regexAfterWord = new Set(['return', 'typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void', 'throw', 'case', 'do', 'else', 'yield', 'await']);

interface StringLiteral {
  /** Index of the opening quote. */
  start: number;
  value: string;
}

/**
 * Blanks comments, string and template text, and regex bodies with spaces
 * (keeping newlines, so indexes and line numbers still match), and collects
 * the quoted string literals so that import specifiers can be checked.
 */
function strip(source: string): { code: string; strings: StringLiteral[] } {
  const out = source.split('');
  const strings: StringLiteral[] = [];
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  /** Brace depth at each open `${`, innermost last. */
  const templates: number[] = [];
  let depth = 0;
  let last = ''; // last significant token: a punctuation character or a word
  let i = 0;

  // Template text from i (just past a backtick or a closing `}`) up to the
  // closing backtick or the next `${`.
  const templateText = () => {
    const start = i;
    while (i < source.length && source[i] !== '`' && !(source[i] === '$' && source[i + 1] === '{')) i += source[i] === '\\' ? 2 : 1;
    blank(start, i);
    if (source[i] === '`') {
      i++;
      last = 'string';
    } else if (i < source.length) {
      templates.push(depth++);
      i += 2;
      last = '{';
    }
  };

  while (i < source.length) {
    const c = source[i];
    const next = source[i + 1];
    if (c === '/' && next === '/') {
      const end = source.indexOf('\n', i);
      blank(i, end === -1 ? source.length : end);
      i = end === -1 ? source.length : end;
    } else if (c === '/' && next === '*') {
      const end = source.indexOf('*/', i + 2);
      blank(i, end === -1 ? source.length : end + 2);
      i = end === -1 ? source.length : end + 2;
    } else if (c === '"' || c === "'") {
      const start = i++;
      let value = '';
      while (i < source.length && source[i] !== c && source[i] !== '\n') {
        if (source[i] === '\\') value += source[++i] ?? '';
        else value += source[i];
        i++;
      }
      i++;
      blank(start + 1, i - 1);
      strings.push({ start, value });
      last = 'string';
    } else if (c === '`') {
      i++;
      templateText();
    } else if (c === '}' && templates.length > 0 && templates[templates.length - 1] === depth - 1) {
      templates.pop();
      depth--;
      i++;
      templateText();
    } else if (c === '/' && (last === '' || /^[(,=:[!&|?{};+\-*%<>~^}]$/.test(last) || regexAfterWord.has(last))) {
      // A regex literal: its body runs to an unescaped '/' outside a [class].
      let j = i + 1;
      let inClass = false;
      while (j < source.length && source[j] !== '\n' && (inClass || source[j] !== '/')) {
        if (source[j] === '\\') j++;
        else if (source[j] === '[') inClass = true;
        else if (source[j] === ']') inClass = false;
        j++;
      }
      if (source[j] === '/') {
        blank(i + 1, j);
        i = j + 1;
        while (i < source.length && /[a-z]/.test(source[i])) i++;
        last = 'regex';
      } else {
        i++; // not a regex after all: treat as division
        last = '/';
      }
    } else if (/[\w$]/.test(c)) {
      const start = i;
      while (i < source.length && /[\w$]/.test(source[i])) i++;
      last = source.slice(start, i);
    } else {
      if (c === '{') depth++;
      else if (c === '}') depth--;
      if (!/\s/.test(c)) last = c;
      i++;
    }
  }
  return { code: out.join(''), strings };
}

function isBuiltin(specifier: string): boolean {
  return specifier.startsWith('node:') || builtinModules.includes(specifier) || builtinModules.includes(specifier.split('/')[0]);
}

/** Every impurity in one source text, in order of position. */
function findImpurities(source: string): Finding[] {
  const { code, strings } = strip(source);
  const lineAt = (index: number) => {
    let line = 1;
    for (let k = code.indexOf('\n'); k !== -1 && k < index; k = code.indexOf('\n', k + 1)) line++;
    return line;
  };
  const found: Array<Finding & { at: number }> = [];
  for (const s of strings) {
    const before = code.slice(Math.max(0, s.start - 100), s.start).trimEnd();
    const isSpecifier = /(?:^|[^\w$.])(?:from|import)$/.test(before) || /(?:^|[^\w$.])(?:import|require)\s*\($/.test(before);
    if (!isSpecifier || s.value.startsWith('./') || s.value.startsWith('../')) continue;
    const what = isBuiltin(s.value) ? 'Node builtin' : 'package';
    found.push({ at: s.start, line: lineAt(s.start), message: `imports ${what} '${s.value}'` });
  }
  for (const m of code.matchAll(globalPattern)) {
    const name = m[1] ?? 'Math.random';
    found.push({ at: m.index, line: lineAt(m.index), message: `uses ${name}` });
  }
  return found.sort((a, b) => a.at - b.at).map(({ line, message }) => ({ line, message }));
}

/** The core's `.ts` files, skipping the folders allowed to do I/O. */
function coreFiles(dir = coreDir): string[] {
  if (!existsSync(dir)) return [];
  const files: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (dir === coreDir && impureDirs.includes(name)) continue;
      files.push(...coreFiles(path));
    } else if (name.endsWith('.ts')) {
      files.push(path);
    }
  }
  return files;
}

describe('the purity scanner', () => {
  test('finds nothing in clean code that mentions forbidden names only in comments, strings, regexes and properties', () => {
    const source = [
      '// Date.now() in a line comment, and process in a /* nested */ one.',
      '/** Doc comment naming setTimeout, Promise and async work. */',
      "import { x } from './x.ts';",
      "import type { Y } from '../y.ts';",
      "export * from './z.ts';",
      `const s = 'Date.now() and "process"' + "it's await";`,
      'const t = `template text: Math.random() ${x.length + `nested ${"Date"}`} more text`;',
      'const re = /Date|await "x/g, re2 = /[/]Promise/;',
      'const q = a / b / c; // division, not a regex',
      'const dated = updateDate + obj.Date + obj?.process + mySetTimeout + Math.floor(1);',
      'const items = { a: 1 }',
      '/Date/.test(s);',
    ].join('\n');
    assert.deepEqual(findImpurities(source), []);
  });

  test('reports imports of Node builtins and packages with their lines', () => {
    const source = [
      "import { readFileSync } from 'node:fs';",
      'import path from "path";',
      "import EventEmitter from 'eventemitter3';",
      "export { thing } from '@kv/store';",
      "import 'fs/promises';",
      "const later = import('crypto');",
      "import type { Ok } from './ok.ts';",
      "import type { Timer } from 'timers';",
    ].join('\n');
    assert.deepEqual(findImpurities(source), [
      { line: 1, message: "imports Node builtin 'node:fs'" },
      { line: 2, message: "imports Node builtin 'path'" },
      { line: 3, message: "imports package 'eventemitter3'" },
      { line: 4, message: "imports package '@kv/store'" },
      { line: 5, message: "imports Node builtin 'fs/promises'" },
      { line: 6, message: "imports Node builtin 'crypto'" },
      { line: 8, message: "imports Node builtin 'timers'" },
    ]);
  });

  test('reports clocks, timers, randomness, promises, the process and globalThis with their lines', () => {
    const source = [
      'const now = Date.now();',
      'const r = Math . random();',
      'const t0 = performance.now();',
      'setTimeout(f, 1); setInterval(f, 1);',
      'setImmediate(f); queueMicrotask(f);',
      'if (process.env.X) {}',
      'async function f(): Promise<void> { await g(); }',
      'const d = new globalThis.Date();',
      'const e = `at ${Date.now()}`;',
      'const all = [...process.argv];',
    ].join('\n');
    assert.deepEqual(findImpurities(source), [
      { line: 1, message: 'uses Date' },
      { line: 2, message: 'uses Math.random' },
      { line: 3, message: 'uses performance' },
      { line: 4, message: 'uses setTimeout' },
      { line: 4, message: 'uses setInterval' },
      { line: 5, message: 'uses setImmediate' },
      { line: 5, message: 'uses queueMicrotask' },
      { line: 6, message: 'uses process' },
      { line: 7, message: 'uses async' },
      { line: 7, message: 'uses Promise' },
      { line: 7, message: 'uses await' },
      { line: 8, message: 'uses globalThis' },
      { line: 9, message: 'uses Date' },
      { line: 10, message: 'uses process' },
    ]);
  });
});

describe('the raft core', () => {
  test('has packages/raft/src/raft.ts to scan, so the scan below cannot pass vacuously', () => {
    const files = coreFiles();
    assert.ok(files.includes(join(coreDir, 'raft.ts')), `packages/raft/src/raft.ts not found among ${files.length} core file(s)`);
  });

  test('imports nothing but relative modules and touches no clock, timer, randomness, promise or process', () => {
    const problems: string[] = [];
    for (const file of coreFiles()) {
      const name = relative(root, file).split(sep).join('/');
      for (const f of findImpurities(readFileSync(file, 'utf8'))) problems.push(`${name}:${f.line}: ${f.message}`);
    }
    assert.deepEqual(problems, []);
  });
});
