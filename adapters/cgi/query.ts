// Query strings for the camera (design.md §4 "Request builder"). Keys are written verbatim with
// literal brackets (some firmware rejects %5B); values are percent-encoded; what this firmware
// cannot carry ('&' even encoded, control characters) is refused before anything is sent.

import { ProblemError, type FieldError } from '../../gateway/problems.ts';

const KEY = /^[A-Za-z0-9_.[\]]+$/;
const HEX = '0123456789ABCDEF';

function isUnreserved(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e // - . _ ~
  );
}

/** Why the camera cannot be sent this value, or null when it can. */
function refusal(value: string): string | null {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x26) return "contains '&', which the camera cannot receive even encoded";
    if (c <= 0x1f || (c >= 0x7f && c <= 0x9f)) {
      return `contains the control character U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = value.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) i++;
      else return 'contains an unpaired UTF-16 surrogate (not valid Unicode)';
    }
  }
  return null;
}

/** RFC 3986 percent-encoding: unreserved characters kept, everything else %XX of UTF-8, space %20. */
export function encodeValue(value: string): string {
  const problem = refusal(value);
  if (problem !== null) throw new ProblemError('VALIDATION_FAILED', { detail: `A value ${problem}` });
  return percentEncode(value);
}

function percentEncode(value: string): string {
  let i = 0;
  while (i < value.length && isUnreserved(value.charCodeAt(i))) i++;
  if (i === value.length) return value;
  // encodeURIComponent also keeps ! ' ( ) *, which RFC 3986 reserves as sub-delims.
  return encodeURIComponent(value).replace(/[!'()*]/g, (ch) => {
    const c = ch.charCodeAt(0);
    return `%${HEX[c >> 4]}${HEX[c & 15]}`;
  });
}

/** `General.MachineName` → `/General/MachineName`, `X[0].Y` → `/X/0/Y`. */
export function pointerOfKey(key: string): string {
  let pointer = '';
  for (const part of key.split(/[.[\]]+/)) {
    if (part !== '') pointer += `/${part.replaceAll('~', '~0').replaceAll('/', '~1')}`;
  }
  return pointer === '' ? '/' : pointer;
}

/** `action=getConfig&name=General`: every parameter checked first, all problems reported at once. */
export function buildQuery(params: Array<[string, string]>): string {
  const errors: FieldError[] = [];
  for (const [key, value] of params) {
    if (!KEY.test(key)) {
      errors.push({ pointer: pointerOfKey(key), message: 'not a valid camera parameter name' });
      continue;
    }
    const problem = refusal(value);
    if (problem !== null) errors.push({ pointer: pointerOfKey(key), message: `value ${problem}` });
  }
  if (errors.length > 0) {
    throw new ProblemError('VALIDATION_FAILED', { detail: 'The camera cannot be sent these values', errors });
  }
  let query = '';
  for (const [key, value] of params) {
    if (query !== '') query += '&';
    query += `${key}=${percentEncode(value)}`;
  }
  return query;
}
