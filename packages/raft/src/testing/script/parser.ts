/**
 * Parser for kv's data-driven test scripts, in the format etcd's `datadriven`
 * package made familiar.
 *
 * @remarks
 * A script is a sequence of blocks separated by blank lines. A block is one or
 * more command lines, a `----` line, the expected output, and then a blank line
 * or the end of the file:
 *
 * ```
 * # Lines starting with '#' (outside expected output) are comments.
 * add-nodes 3 voters=(1,2,3) check-quorum
 * campaign 1
 * ----
 * 1 became candidate at term 1
 *
 * ```
 *
 * Output that must itself contain blank lines (or start with `----`) uses the
 * double-separator form: `----` `----`, the output, then a closing
 * `----` `----` pair on lines of their own.
 *
 * An argument is `key`, `key=value`, `key=(v1,v2,v3)` or a bare list `(v1,v2)`.
 * A value may be double-quoted to hold spaces, commas or parentheses
 * (`data="hello, world"`); inside quotes `\"`, `\\`, `\n` and `\t` are escapes.
 * A bare list is a positional argument whose key is its canonical text
 * (`(1,2)`) and whose values are its elements, so `partition (1) (2,3)` reads
 * naturally.
 */

/** One argument of a command line. */
export interface ScriptArg {
  /** The text before `=`, or the whole argument when it has none (`3`, `check-quorum`, `(1,2)`). */
  key: string;
  /** `[]` for `key`, one value for `key=v`, the elements for `key=(a,b)` or a bare `(a,b)`. */
  values: string[];
}

/** One command line of a block. */
export interface ScriptCommand {
  /** The first word of the line (`add-nodes`). */
  name: string;
  args: ScriptArg[];
  /** 1-based line number in the script. */
  line: number;
  /** The line as written, without its line terminator. */
  text: string;
  /** The script's name, used in error messages. */
  file: string;
}

/** One block: its commands and the output they are expected to print. */
export interface ScriptBlock {
  commands: ScriptCommand[];
  /** Expected output lines joined with `\n`, without a trailing newline. */
  expected: string;
  /** 1-based line of the block's first command. */
  line: number;
  /** 1-based line of the block's (first) `----`. */
  separatorLine: number;
  /**
   * 1-based line just past the block's output (and past the closing `----`
   * pair in the double-separator form). May be one past the last line.
   */
  endLine: number;
}

/** The line that separates commands from expected output. */
export const SEPARATOR = '----';

/** Whether a line counts as blank: it ends a block. */
export function isBlankLine(line: string): boolean {
  return line.trim() === '';
}

/**
 * Parses a script into blocks.
 *
 * @param file - name used in error messages; defaults to `<script>`.
 * @throws Error naming `file:line` on a malformed command or block.
 */
export function parseScript(text: string, file = '<script>'): ScriptBlock[] {
  const lines = splitLines(text);
  const blocks: ScriptBlock[] = [];
  let i = 0;
  while (i < lines.length) {
    if (isBlankLine(lines[i]) || isComment(lines[i])) {
      i++;
      continue;
    }
    const first = i;
    const commands: ScriptCommand[] = [];
    while (i < lines.length && !isSeparator(lines[i])) {
      if (isBlankLine(lines[i])) {
        if (lines.slice(i).every(isBlankLine)) break; // only trailing blank lines left: report end of file
        throw new Error(`${file}:${i + 1}: blank line before ${SEPARATOR}: block at line ${first + 1} has no expected output`);
      }
      if (!isComment(lines[i])) commands.push(parseCommand(lines[i], file, i + 1));
      i++;
    }
    if (i === lines.length || !isSeparator(lines[i])) {
      throw new Error(`${file}:${first + 1}: block has no ${SEPARATOR} line before end of file`);
    }
    if (commands.length === 0) {
      throw new Error(`${file}:${i + 1}: ${SEPARATOR} without a command before it`);
    }
    const separator = i++;
    let output: string[];
    if (i < lines.length && isSeparator(lines[i])) {
      // Double-separator form: runs to the next `----` `----` pair.
      const start = ++i;
      while (i < lines.length && !(isSeparator(lines[i]) && i + 1 < lines.length && isSeparator(lines[i + 1]))) i++;
      if (i === lines.length) {
        throw new Error(`${file}:${separator + 1}: output opened with ${SEPARATOR} ${SEPARATOR} is never closed`);
      }
      output = lines.slice(start, i);
      i += 2;
      if (i < lines.length && !isBlankLine(lines[i])) {
        throw new Error(`${file}:${i + 1}: expected a blank line after the closing ${SEPARATOR} ${SEPARATOR}`);
      }
    } else {
      const start = i;
      while (i < lines.length && !isBlankLine(lines[i])) i++;
      output = lines.slice(start, i);
    }
    blocks.push({ commands, expected: output.join('\n'), line: first + 1, separatorLine: separator + 1, endLine: i + 1 });
  }
  return blocks;
}

/**
 * Splits text into lines on `\n`, dropping a `\r` before it.
 * A trailing newline yields a final empty line, which reads as blank.
 */
export function splitLines(text: string): string[] {
  return text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

function isComment(line: string): boolean {
  return line.trimStart().startsWith('#');
}

function isSeparator(line: string): boolean {
  return line.trimEnd() === SEPARATOR;
}

/** Parses one command line; exported for handlers that build commands from text. */
export function parseCommand(text: string, file: string, line: number): ScriptCommand {
  const fail = (message: string, at: number): never => {
    throw new Error(`${file}:${line}: ${message} at column ${at + 1}: ${text.trim()}`);
  };
  let pos = 0;
  const atSpace = () => pos >= text.length || /\s/.test(text[pos]);
  const skipSpace = () => {
    while (pos < text.length && /\s/.test(text[pos])) pos++;
  };

  // A quoted string; `pos` is at the opening quote.
  const readQuoted = (): string => {
    const open = pos++;
    let out = '';
    while (pos < text.length && text[pos] !== '"') {
      if (text[pos] === '\\' && pos + 1 < text.length) {
        const c = text[++pos];
        out += c === 'n' ? '\n' : c === 't' ? '\t' : c;
      } else {
        out += text[pos];
      }
      pos++;
    }
    if (pos === text.length) fail('unterminated quote', open);
    pos++;
    return out;
  };

  // An unquoted or quoted value, ending at whitespace or one of `stops`.
  const readScalar = (stops: string): string => {
    if (text[pos] === '"') {
      const value = readQuoted();
      if (!atSpace() && !stops.includes(text[pos])) fail('unexpected character after quoted value', pos);
      return value;
    }
    const start = pos;
    while (!atSpace() && !stops.includes(text[pos])) {
      if (text[pos] === '"') fail('unexpected quote inside unquoted value', pos);
      pos++;
    }
    return text.slice(start, pos);
  };

  // `(a,b,c)`; `pos` is at the opening parenthesis.
  const readList = (): string[] => {
    const open = pos++;
    const values: string[] = [];
    skipSpace();
    if (text[pos] === ')') {
      pos++;
      return values;
    }
    for (;;) {
      skipSpace();
      if (pos >= text.length) fail('unterminated list', open);
      if (text[pos] === '(') fail('nested list', pos);
      values.push(readScalar(',()'));
      skipSpace();
      if (pos >= text.length) fail('unterminated list', open);
      if (text[pos] === ')') {
        pos++;
        return values;
      }
      if (text[pos] !== ',') fail(`unexpected '${text[pos]}' in list`, pos);
      pos++;
    }
  };

  skipSpace();
  const nameStart = pos;
  while (!atSpace()) {
    if ('="()'.includes(text[pos])) fail('expected a command name', nameStart);
    pos++;
  }
  const name = text.slice(nameStart, pos);

  const args: ScriptArg[] = [];
  for (skipSpace(); pos < text.length; skipSpace()) {
    const argStart = pos;
    let arg: ScriptArg;
    if (text[pos] === '(') {
      const values = readList();
      arg = { key: `(${values.join(',')})`, values };
    } else {
      const key = readScalar('=()');
      if (key === '' && text[argStart] !== '"') fail('argument with an empty key', argStart);
      if (!atSpace() && text[pos] !== '=') fail(`unexpected '${text[pos]}'`, pos);
      arg = { key, values: [] };
      if (text[pos] === '=') {
        pos++;
        arg.values = text[pos] === '(' ? readList() : [readScalar('')];
      }
    }
    if (!atSpace()) fail(`unexpected '${text[pos]}' after argument`, pos);
    args.push(arg);
  }
  return { name, args, line, text, file };
}

/** An Error prefixed `file:line: command:`, for handlers to throw. */
export function commandError(cmd: ScriptCommand, message: string): Error {
  return new Error(`${cmd.file}:${cmd.line}: ${cmd.name}: ${message}`);
}

function findArg(cmd: ScriptCommand, key: string): ScriptArg | undefined {
  const found = cmd.args.filter((a) => a.key === key);
  if (found.length > 1) throw commandError(cmd, `argument ${key}= given ${found.length} times`);
  return found[0];
}

/** Whether the command has an argument with this key (with or without values). */
export function hasArg(cmd: ScriptCommand, key: string): boolean {
  return cmd.args.some((a) => a.key === key);
}

/**
 * The single value of `key=value`.
 *
 * @throws when the argument is missing and no fallback is given, has no value,
 * has several values, or is repeated.
 */
export function argValue(cmd: ScriptCommand, key: string, fallback?: string): string {
  const arg = findArg(cmd, key);
  if (arg === undefined) {
    if (fallback !== undefined) return fallback;
    throw commandError(cmd, `missing argument ${key}=`);
  }
  if (arg.values.length !== 1) {
    throw commandError(cmd, `argument ${key}= takes one value, got ${arg.values.length}`);
  }
  return arg.values[0];
}

/**
 * The values of `key=(a,b)` (or `key=a`, which gives one value).
 *
 * @throws when the argument is missing and no fallback is given, or is repeated.
 */
export function argValues(cmd: ScriptCommand, key: string, fallback?: string[]): string[] {
  const arg = findArg(cmd, key);
  if (arg === undefined) {
    if (fallback !== undefined) return [...fallback];
    throw commandError(cmd, `missing argument ${key}=`);
  }
  return [...arg.values];
}

/**
 * The value of `key=n` as a safe integer.
 *
 * @throws as {@link argValue} does, or when the value is not a decimal integer.
 */
export function argInt(cmd: ScriptCommand, key: string, fallback?: number): number {
  if (fallback !== undefined && !hasArg(cmd, key)) return fallback;
  const text = argValue(cmd, key);
  const n = Number(text);
  if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(n)) {
    throw commandError(cmd, `argument ${key}= is not an integer: ${JSON.stringify(text)}`);
  }
  return n;
}
