// Fuzzing kvd's configuration (src/kvd/config.ts): random command lines
// (known flags with random and garbage values, unknown flags, `--flag=`,
// single-dash forms, duplicates, very long and unicode values, stray
// arguments), random KV_*/ETCD_* environments, and random YAML config
// files (etcd's keys with values of every type, nested sections, invalid
// YAML, huge files, deep nesting, anchor/alias bombs, tags), into
// loadConfig and then toNodeOptions. Each input gives a configuration that
// holds together or a KvdConfigError with a message; never another
// exception. Then a handful of real `kvd` processes with bad flags: a
// non-zero exit, one error line on stderr, no stack trace.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';

import fc from 'fast-check';
import { stringify as toYaml } from 'yaml';

import { KVD_FLAGS, KvdConfigError, loadConfig, type KvdConfig } from '../../src/kvd/config.ts';
import { toNodeOptions } from '../../src/kvd/to-options.ts';

const FLAGS = Object.keys(KVD_FLAGS);
const dir = mkdtempSync(join(tmpdir(), 'kvd-fuzz-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// ------------------------------------------------------------------ judging

const SOURCES = new Set(['flag', 'env', 'file', 'default']);

/** What any configuration loadConfig returns must satisfy. */
function assertSane(c: KvdConfig): void {
  assert.ok(typeof c.name === 'string' && c.name.trim() !== '', 'a name');
  assert.ok(typeof c.dataDir === 'string' && c.dataDir !== '', 'a data dir');
  for (const list of [c.listenPeerUrls, c.initialAdvertisePeerUrls, c.listenClientUrls, c.advertiseClientUrls]) {
    assert.ok(Array.isArray(list) && list.length > 0, 'URL lists are not empty');
    for (const u of list) assert.doesNotThrow(() => new URL(u), `${u} is a URL`);
  }
  for (const n of [c.heartbeatInterval, c.electionTimeout, c.snapshotCount]) assert.ok(Number.isSafeInteger(n) && n >= 1, `${n} is a positive integer`);
  assert.ok(c.electionTimeout >= 5 * c.heartbeatInterval && c.electionTimeout <= 50_000);
  assert.ok(c.initialClusterState === 'new' || c.initialClusterState === 'existing');
  assert.ok(c.initialCluster !== undefined || c.discovery !== undefined || c.discoverySrv !== undefined, 'one way to bootstrap');
  assert.ok(Object.values(c.sources).every((s) => SOURCES.has(s)));
}

const certs = (p: string): Buffer => {
  throw Object.assign(new Error(`ENOENT: no such file or directory, open '${p}'`), { code: 'ENOENT' });
};

/**
 * Runs the loader (and, on success, toNodeOptions, as kvd does next):
 * a sane configuration, or a KvdConfigError. Returns which.
 */
function judge(input: { argv: readonly string[]; env?: Record<string, string>; files?: Record<string, string> }): 'config' | 'error' {
  const files = input.files ?? {};
  let config: KvdConfig;
  try {
    config = loadConfig({
      argv: input.argv,
      env: input.env ?? {},
      readFile: (p) => {
        if (Object.hasOwn(files, p)) return files[p];
        throw Object.assign(new Error(`ENOENT: no such file or directory, open '${p}'`), { code: 'ENOENT' });
      },
      logger: { info() {}, warn() {} },
    });
  } catch (e) {
    assert.ok(e instanceof KvdConfigError, `loadConfig threw ${(e as Error)?.name}: ${(e as Error)?.message} for ${JSON.stringify(input).slice(0, 500)}`);
    // Messages quote the value at fault whole (a finding: a 100 kB value makes a 100 kB log line); never more than that.
    const inputBytes = JSON.stringify(input).length;
    assert.ok(e.message.length > 0 && e.message.length < 3 * inputBytes + 4000, `a message of ${e.message.length} characters`);
    assert.ok(e.flag === undefined || typeof e.flag === 'string');
    return 'error';
  }
  assertSane(config);
  try {
    toNodeOptions(config, certs);
  } catch (e) {
    // Reading a certificate file is the only I/O; it fails here on purpose.
    assert.ok(e instanceof Error && /ENOENT/.test(e.message), `toNodeOptions threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
  }
  return 'config';
}

// ------------------------------------------------------------------ generators

const nasty = fc.constantFrom(
  '', ' ', '=', '==', '-', '--', '---', ',', ',,,', '0', '-1', '1e3', '0x10', '99999999999999999999', '1.5', 'NaN', 'true', 'false', 'yes',
  'http://', 'http://:2380', 'http://h:0', 'http://h:65536', 'http://[::1]:2380', 'http://h:2380/path', 'ftp://h:1', 'unix:///x', 'ws://h:1,wss://h:2',
  'a=http://h:1', 'default=http://localhost:2380', '=http://h:1', 'a=', 'a==b', 'a=http://h:1,a=http://h:2', 'new', 'existing', 'x'.repeat(100_000),
  'ünïcødé', '名前', '\u0000', '\ud800', '\u202e', '\n', '\r\n', '${HOME}', '%s%n', '__proto__', 'constructor', 'toString', '../../etc/passwd',
);
const value = fc.oneof(nasty, fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 20 }), fc.nat().map(String), fc.integer().map(String));
const flagName = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...FLAGS) },
  { weight: 1, arbitrary: fc.constantFrom('bogus', 'version', 'help', 'Name', 'NAME', 'name ', '__proto__', 'constructor', 'hasOwnProperty', 'peer-transport-security', 'log-level', 'enable-v2') },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
);
/** One command-line item or two: `--f v`, `-f v`, `--f=v`, `--f=`, `--f`, or a stray word. */
const argItems = fc.oneof(
  fc.tuple(fc.constantFrom('--', '-'), flagName, value).map(([d, f, v]) => [`${d}${f}`, v]),
  fc.tuple(fc.constantFrom('--', '-'), flagName, value).map(([d, f, v]) => [`${d}${f}=${v}`]),
  fc.tuple(fc.constantFrom('--', '-'), flagName).map(([d, f]) => [`${d}${f}=`]),
  fc.tuple(fc.constantFrom('--', '-', '---'), flagName).map(([d, f]) => [`${d}${f}`]),
  value.map((v) => [v]),
);
const argv = fc.array(argItems, { maxLength: 8 }).map((items) => items.flat());

/** A command line that is mostly right, so later checks (URLs, numbers, TLS, bootstrap) are reached. */
const goodBase = ['--name', 'm1', '--initial-cluster', 'm1=http://127.0.0.1:2380', '--data-dir', '/tmp/x'];
const nearlyRight = fc
  .tuple(fc.array(fc.tuple(fc.constantFrom(...FLAGS), value), { minLength: 1, maxLength: 3 }), fc.boolean())
  .map(([pairs, eq]) => [...goodBase, ...pairs.flatMap(([f, v]) => (eq ? [`--${f}=${v}`] : [`--${f}`, v]))]);

const env = fc.dictionary(
  fc.oneof(fc.constantFrom(...FLAGS).chain((f) => fc.constantFrom(`KV_${f.toUpperCase().replace(/-/g, '_')}`, `ETCD_${f.toUpperCase().replace(/-/g, '_')}`)), fc.string({ maxLength: 10 }).map((s) => `KV_${s}`)),
  value,
  { maxKeys: 4 },
);

/** YAML values of every kind, for etcd's keys. */
const yamlValue: fc.Arbitrary<unknown> = fc.oneof(
  value,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.oneof(value, fc.integer()), { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 8 }), value, { maxKeys: 3 }),
  fc.constantFrom(['http://127.0.0.1:2380'], [['nested']], { 'cert-file': 'a', 'key-file': 7 }, 2 ** 60, -0, Infinity),
);
const yamlDoc = fc
  .dictionary(
    fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...FLAGS, 'client-transport-security', 'peer-transport-security') }, { weight: 1, arbitrary: fc.string({ maxLength: 10 }) }),
    yamlValue,
    { maxKeys: 6 },
  )
  .map((doc) => toYaml(doc));

/** Texts that are not YAML, or are YAML of the wrong shape, or are built to hurt a parser. */
const billionLaughs = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
  .concat('bcdefghi'.split('').map((c, k) => `${c}: &${c} [${Array(9).fill(`*${'abcdefghi'[k]}`).join(',')}]`))
  .join('\n');
const hostileYaml = fc.oneof(
  fc.constantFrom(
    billionLaughs,
    'name: a\n  bad: : x\n',
    'name: [unclosed',
    '{',
    '- a\n- b\n',
    '"just a string"',
    '42',
    'name: a\nname: b\n',
    'name: !!binary aGVsbG8=\n',
    'name: !!set {a, b}\n',
    'name: !custom thing\n',
    'name: &x a\ndata-dir: *x\n',
    'name: *undefined_alias\n',
    '%YAML 1.1\n---\nname: yes\n',
    '---\nname: a\n---\nname: b\n',
    '\t name: tab\n',
    'name: "\\x00\\uD800"\n',
    '? [complex, key]\n: value\n',
    '<<: {name: merged}\n',
    '__proto__: {name: polluted}\nname: ok\n',
    '[' .repeat(5000) + ']'.repeat(5000),
    'a:\n' + Array.from({ length: 2000 }, (_, k) => `${' '.repeat(k + 1)}b${k}:`).join('\n'),
    `name: ${'x'.repeat(2_000_000)}\n`,
    // Many keys: the yaml package checks unique keys in O(n²) (40,000 keys take ~13 s: a finding), so a modest count here.
    Array.from({ length: 2000 }, (_, k) => `key-${k}: value-${k}`).join('\n'),
  ),
  fc.string({ maxLength: 200 }),
  yamlDoc.chain((y) => fc.nat({ max: Math.max(0, y.length) }).map((n) => y.slice(0, n))),
);

// ------------------------------------------------------------------ in-process properties

describe('loadConfig under random input', () => {
  test('random command lines and environments give a sane configuration or a KvdConfigError', () => {
    const seen = { config: 0, error: 0 };
    fc.assert(
      fc.property(fc.oneof(argv, nearlyRight), env, (a, e) => {
        seen[judge({ argv: a, env: e })]++;
      }),
      { numRuns: 1500, includeErrorInReport: true },
    );
    assert.ok(seen.config > 10 && seen.error > 500, JSON.stringify(seen));
  });

  test('random and hostile YAML config files give a sane configuration or a KvdConfigError', () => {
    const seen = { config: 0, error: 0 };
    fc.assert(
      fc.property(fc.oneof(yamlDoc, hostileYaml), fc.boolean(), (text, viaEnv) => {
        const path = join(dir, 'fuzz.yaml');
        const input = viaEnv
          ? { argv: goodBase.slice(2, 4), env: { KV_CONFIG_FILE: path }, files: { [path]: text } }
          : { argv: [`--config-file=${path}`], files: { [path]: text } };
        seen[judge(input)]++;
      }),
      { numRuns: 400, includeErrorInReport: true },
    );
    assert.ok(seen.config > 10 && seen.error > 50, JSON.stringify(seen));
  });

  test('a config file that cannot be read (missing, a directory, a NUL in its path) is a KvdConfigError', () => {
    for (const p of [join(dir, 'missing.yaml'), dir, 'a\u0000b.yaml']) {
      assert.throws(
        () => loadConfig({ argv: [`--config-file=${p}`], env: {} }),
        (e: unknown) => e instanceof KvdConfigError && e.flag === 'config-file' && e.message.includes('cannot read config file'),
      );
    }
  });
});

// ------------------------------------------------------------------ real kvd processes

const KVD = fileURLToPath(new URL('../../src/kvd/bin.ts', import.meta.url));
/** The package root: tsx resolves from here. */
const CWD = fileURLToPath(new URL('../..', import.meta.url));
/** An etcd-style log line: `2016-02-16 17:42:21.321053 E | ...`. */
const LOG_LINE = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} [DIWE] \| /;

/** Runs kvd with `args` to its exit (killed after `killAfterMs`: a hang). */
function runKvd(args: readonly string[], killAfterMs = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--conditions=kv-source', '--import', 'tsx', KVD, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: CWD });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr, stdout });
    });
  });
}

/** A failed start: non-zero exit, every stderr line a log line, exactly one error line (the last), no stack trace. */
function assertOneErrorLine(r: { code: number | null; signal: NodeJS.Signals | null; stderr: string }, what: string, pattern: RegExp): void {
  assert.equal(r.signal, null, `${what}: killed (a hang)`);
  assert.ok(r.code !== 0 && r.code !== null, `${what}: exit code ${r.code}`);
  assert.doesNotMatch(r.stderr, /^\s+at /m, `${what}: a stack trace on stderr:\n${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  for (const l of lines) assert.match(l, LOG_LINE, `${what}: a stray line on stderr: ${JSON.stringify(l)}`);
  const errors = lines.filter((l) => / E \| /.test(l));
  assert.equal(errors.length, 1, `${what}: ${errors.length} error lines:\n${r.stderr}`);
  assert.equal(errors[0], lines[lines.length - 1], `${what}: the error line is the last`);
  assert.match(errors[0], pattern, what);
}

describe('kvd processes with bad flags', () => {
  const badYaml = join(dir, 'bad.yaml');
  writeFileSync(badYaml, 'name: a\n  bad: : x\n');

  test('each exits non-zero with one clear error line on stderr and no stack trace', { timeout: 120_000 }, async () => {
    const cases: [string, string[], RegExp][] = [
      ['an unknown flag', ['--bogus'], /E \| kvd: flag provided but not defined: -bogus/],
      ['a flag without its argument', ['--name'], /E \| kvd: flag needs an argument: --name/],
      ['a bad number', ['--heartbeat-interval=abc'], /E \| kvd: invalid value "abc" for flag --heartbeat-interval/],
      ['a stray argument', ['--name', 'a', 'stray'], /E \| kvd: 'stray' is not a valid flag/],
      ['a malformed URL', ['--listen-client-urls', 'http://h:2379/path'], /E \| kvd: invalid value .* --listen-client-urls: URL must not contain a path/],
      ['a missing config file', ['--config-file', join(dir, 'nope.yaml')], /E \| kvd: cannot read config file .*nope\.yaml/],
      ['a very long unicode value', ['--initial-cluster-state', 'ü'.repeat(10_000)], /E \| kvd: invalid value "ü{200}"… \(10000 characters\) for flag --initial-cluster-state/],
    ];
    const results = await Promise.all(cases.map(([, args]) => runKvd(args)));
    cases.forEach(([what, , pattern], k) => assertOneErrorLine(results[k], what, pattern));
  });

  test(
    'invalid YAML in the config file is reported on one line',
    async () => {
      assertOneErrorLine(await runKvd(['--config-file', badYaml]), 'invalid YAML', /E \| kvd: config file .* is not valid YAML/);
    },
  );

  test(
    'a config file that is a FIFO (or /dev/zero) is refused instead of read forever',
    async () => {
      const fifo = join(dir, 'fifo.yaml');
      execFileSync('mkfifo', [fifo]);
      assertOneErrorLine(await runKvd(['--config-file', fifo], 6000), 'a FIFO config file', /E \| kvd: .*fifo\.yaml/);
    },
  );
});
