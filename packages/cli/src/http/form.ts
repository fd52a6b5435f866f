/**
 * Reading request bodies with a size limit, and parsing etcd's form fields
 * the way Go's `strconv.ParseBool` / `ParseUint` do.
 *
 * @packageDocumentation
 */
import type { IncomingMessage } from 'node:http';
import { KvErrorCode } from '@kv/store';
import { HttpError, formError } from './etcd-errors.js';

/** Reads the whole body; over `max` bytes → HttpError 413. */
export async function readBody(req: IncomingMessage, max: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) {
    req.resume();
    throw new HttpError(413, { message: `request body is larger than ${max} bytes` });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      req.resume();
      throw new HttpError(413, { message: `request body is larger than ${max} bytes` });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Form values: body fields first, then query fields (Go's `r.Form`). */
export class Form {
  private readonly fields = new Map<string, string[]>();

  constructor(...sources: URLSearchParams[]) {
    for (const s of sources) for (const [k, v] of s) this.fields.set(k, [...(this.fields.get(k) ?? []), v]);
  }

  has(name: string): boolean {
    return this.fields.has(name);
  }

  get(name: string): string | undefined {
    return this.fields.get(name)?.[0];
  }

  /** Go's ParseBool; empty or absent → false; anything else → 209. */
  bool(name: string, index: number): boolean {
    const v = this.get(name);
    if (v === undefined || v === '') return false;
    if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
    if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
    throw formError(KvErrorCode.InvalidField, `invalid value for "${name}"`, index);
  }

  /** Optional uint64 (as a safe integer); malformed → `code`. */
  uint(name: string, code: 202 | 203, index: number): number | undefined {
    const v = this.get(name);
    if (v === undefined || (v === '' && code === 202)) return undefined;
    if (!/^[0-9]+$/.test(v) || !Number.isSafeInteger(Number(v))) {
      throw formError(code, code === 202 ? `invalid value for "${name}"` : `invalid value for "${name}"`, index);
    }
    return Number(v);
  }
}

/** Parses an `application/x-www-form-urlencoded` body; a malformed one → 210. */
export function parseFormBody(body: string, contentType: string | undefined, index: number): URLSearchParams {
  if (body === '') return new URLSearchParams();
  const ct = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (ct !== '' && ct !== 'application/x-www-form-urlencoded') return new URLSearchParams();
  // Go's url.ParseQuery refuses bad percent escapes and semicolons.
  if (/%(?![0-9a-fA-F]{2})/.test(body) || body.includes(';')) {
    throw formError(KvErrorCode.InvalidForm, 'invalid form body', index);
  }
  try {
    return new URLSearchParams(body);
  } catch {
    throw formError(KvErrorCode.InvalidForm, 'invalid form body', index);
  }
}

/** Parses a URL's query with the same strictness as a form body. */
export function parseQuery(search: string, index: number): URLSearchParams {
  const q = search.startsWith('?') ? search.slice(1) : search;
  return parseFormBody(q, undefined, index);
}
