/**
 * Runs data-driven scripts (see `parser.ts`) through a command handler and
 * rewrites their expected output.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { isBlankLine, parseScript, SEPARATOR, splitLines, type ScriptBlock, type ScriptCommand } from './parser.js';

/**
 * Runs one command and returns what it printed.
 *
 * @remarks
 * Output may span several lines or be empty; trailing newlines are dropped.
 * A handler that throws prints `error: <message>` instead, and the block goes
 * on with its next command, so transcripts can show refusals.
 */
export type ScriptHandler = (cmd: ScriptCommand) => string;

/** A block and the output its commands actually printed. */
export interface BlockResult {
  block: ScriptBlock;
  /** The block's output as it would appear in the file (`ok` when empty). */
  actual: string;
}

/** What {@link runScript} returns. */
export interface ScriptRun {
  /**
   * A transcript of the run in script form: each block's command lines, `----`
   * and its actual output, blocks separated by blank lines, comments left out.
   */
  actual: string;
  /**
   * The whole script with each block's expected output replaced by the actual
   * output; every other line is kept byte for byte.
   */
  rewritten: string;
  results: BlockResult[];
}

/**
 * Runs every block of a script through `handle`, in order.
 *
 * @remarks
 * A block's commands run in order and their non-empty outputs are joined with
 * newlines; a block that printed nothing shows `ok`. Output containing a blank
 * line (or starting with `----`) is written in the double-separator form.
 *
 * @throws Error naming `file:line` when the script does not parse.
 */
export function runScript(text: string, file: string, handle: ScriptHandler): ScriptRun {
  const blocks = parseScript(text, file);
  const lines = text.split('\n');
  const rewritten: string[] = [];
  const transcript: string[] = [];
  const results: BlockResult[] = [];
  let copied = 0; // 0-based index of the first line of `lines` not yet copied
  for (const block of blocks) {
    const actual = runBlock(block, handle);
    results.push({ block, actual });
    const output = formatOutput(actual, block);
    rewritten.push(...lines.slice(copied, block.separatorLine - 1), ...output);
    copied = block.endLine - 1;
    transcript.push([...block.commands.map((c) => c.text), ...output].join('\n'));
  }
  rewritten.push(...lines.slice(copied));
  return {
    actual: transcript.length === 0 ? '' : transcript.join('\n\n') + '\n',
    rewritten: rewritten.join('\n'),
    results,
  };
}

/**
 * Reads a script file and runs it; with `REWRITE=1` in the environment, writes
 * the rewritten script back to the file first.
 *
 * @returns the file as it was (`expectedText`) and as the run would rewrite it
 * (`actualText`), so that `assert.equal(actualText, expectedText)` fails with a
 * readable diff. In rewrite mode both are the rewritten text. Commit a rewrite
 * only when you can explain every line of its diff.
 */
export function runScriptFile(path: string, handle: ScriptHandler): { expectedText: string; actualText: string } {
  const original = readFileSync(path, 'utf8');
  const { rewritten } = runScript(original, path, handle);
  if (process.env.REWRITE === '1') {
    if (rewritten !== original) writeFileSync(path, rewritten);
    return { expectedText: rewritten, actualText: rewritten };
  }
  return { expectedText: original, actualText: rewritten };
}

function runBlock(block: ScriptBlock, handle: ScriptHandler): string {
  const outputs: string[] = [];
  for (const cmd of block.commands) {
    let out: string;
    try {
      out = handle(cmd);
    } catch (err) {
      out = `error: ${err instanceof Error ? err.message : String(err)}`;
    }
    out = out.replace(/\n+$/, '');
    if (out !== '') outputs.push(out);
  }
  return outputs.length === 0 ? 'ok' : outputs.join('\n');
}

/**
 * The separator and output lines for a block, in whichever form can hold the
 * output: the plain form unless the output has a blank line or starts with
 * `----`, else the double-separator form, which cannot hold two `----` lines in
 * a row or a final `----`.
 */
function formatOutput(actual: string, block: ScriptBlock): string[] {
  const lines = splitLines(actual);
  const sep = (i: number) => i >= 0 && i < lines.length && lines[i].trimEnd() === SEPARATOR;
  if (!lines.some(isBlankLine) && !sep(0)) return [SEPARATOR, ...lines];
  const bad = lines.findIndex((_, i) => sep(i) && (sep(i + 1) || i === lines.length - 1));
  if (bad >= 0) {
    throw new Error(
      `${block.commands[0].file}:${block.line}: output line ${bad + 1} is '${SEPARATOR}' where the script format cannot hold it`,
    );
  }
  return [SEPARATOR, SEPARATOR, ...lines, SEPARATOR, SEPARATOR];
}
