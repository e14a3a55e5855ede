// The camera's `key=value` text <-> nested JSON (design.md §4 "Codec"). Pure, and it never throws
// on what a camera sends: a line it cannot place is skipped with a warning naming the line.

import { ProblemError } from '../../gateway/problems.ts';

export type CgiNode = string | null | CgiNode[] | { [key: string]: CgiNode }; // null = hole of a sparse array
export type CgiDoc = { [key: string]: CgiNode };
export interface ParseResult {
  doc: CgiDoc;
  warnings: string[];
}
export type JsonSchema = { [key: string]: unknown };

type Container = { [key: string]: CgiNode } | CgiNode[];
type Segment = string | number;

const HEADS = new Set(['table', 'status', 'caps']);
// Plain objects are used for the document, so these names would reach the prototype chain.
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);
const MAX_INDEX = 65535;
// Sparse indexes are filled with null: cap the total so a hostile answer cannot exhaust memory.
const MAX_HOLES = 1 << 20;
const MAX_WARNINGS = 200;

const LF = 10, CR = 13, SPACE = 32, TAB = 9, EQ = 61, DOT = 46, OPEN = 91, CLOSE = 93, HASH = 35;

// Segment names: printable ASCII except the characters that structure a key (and '#', which
// starts a comment). Wider than the request builder's key set because cameras print keys such
// as `RemoteDevice.uuid:System_0`.
function isNameChar(c: number): boolean {
  return c > SPACE && c < 127 && c !== DOT && c !== OPEN && c !== CLOSE && c !== EQ && c !== HASH;
}

function isBlank(c: number): boolean {
  return c === SPACE || c === TAB;
}

// Whether text[at, at + len) equals text[from, from + len): the line against the previous line's
// prefix without slicing it (startsWith with a position is a slow builtin call per line).
function sameText(text: string, at: number, from: number, len: number): boolean {
  for (let k = 0; k < len; k++) if (text.charCodeAt(at + k) !== text.charCodeAt(from + k)) return false;
  return true;
}

function preview(text: string, start: number, end: number): string {
  return end - start > 60 ? text.slice(start, start + 60) + '…' : text.slice(start, end);
}

let lastDotAt = -1; // where tokenizeKey found the last '.', for the prefix cache
let lastOpenAt = -1; // where tokenizeKey found the last '[', for the index prefix cache
let indexSum = 0; // bound of the holes a key can add, for the hole budget

/**
 * Splits the key text[start, end) into segments, or returns the reason it is malformed.
 * Whitespace around segments and indexes is dropped (`table.General. LocalNo`, `Region [0]`).
 */
function tokenizeKey(text: string, start: number, end: number, out: Segment[]): string | null {
  out.length = 0;
  lastDotAt = -1;
  lastOpenAt = -1;
  indexSum = 0;
  let i = start;
  for (;;) {
    while (i < end && isBlank(text.charCodeAt(i))) i++;
    const nameStart = i;
    while (i < end && isNameChar(text.charCodeAt(i))) i++;
    if (i === nameStart) {
      const c = i < end ? text.charCodeAt(i) : DOT;
      return c === DOT || c === OPEN ? 'empty key segment' : `unexpected character '${text[i]}'`;
    }
    const name = text.slice(nameStart, i);
    if (FORBIDDEN.has(name)) return `forbidden key segment '${name}'`;
    out.push(name);
    while (i < end && isBlank(text.charCodeAt(i))) i++;
    while (i < end && text.charCodeAt(i) === OPEN) {
      lastOpenAt = i;
      i++;
      while (i < end && isBlank(text.charCodeAt(i))) i++;
      const digitsStart = i;
      let index = 0;
      while (i < end) {
        const c = text.charCodeAt(i);
        if (c < 48 || c > 57) break;
        index = index * 10 + (c - 48);
        if (index > MAX_INDEX) return `index above ${MAX_INDEX}`;
        i++;
      }
      if (i === digitsStart) return 'index is not a number';
      while (i < end && isBlank(text.charCodeAt(i))) i++;
      if (i >= end || text.charCodeAt(i) !== CLOSE) return "index without ']'";
      i++;
      out.push(index);
      indexSum += index;
      while (i < end && isBlank(text.charCodeAt(i))) i++;
    }
    if (i === end) return null;
    if (text.charCodeAt(i) !== DOT) return `unexpected character '${text[i]}'`;
    lastDotAt = i;
    i++;
  }
}

/** Parses a camera answer (`table.X[0][1].Y=value` lines) into nested objects and arrays. */
export function parseKeyValue(text: string): ParseResult {
  const doc: CgiDoc = {};
  const warnings: string[] = [];
  let dropped = 0;
  const warn = (line: number, message: string): void => {
    if (warnings.length < MAX_WARNINGS) warnings.push(`line ${line}: ${message}`);
    else dropped++;
  };
  const segments: Segment[] = [];
  const len = text.length;
  let holes = 0;
  let cacheStart = 0; // the prefix is text[cacheStart, cacheStart + cacheLength)
  let cacheLength = 0;
  let cacheContainer: { [key: string]: CgiNode } | null = null;
  // The same for lines that end in an index (`...TimeSection[1][0]`, `...[1][1]`): the text
  // before the last '[' names the array; a line that appends to it takes this way.
  let indexStart = 0;
  let indexLength = 0;
  let indexContainer: CgiNode[] | null = null;
  let pos = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 0;
  let nextEq = -2; // the next '=' at or after the line being read; -1: none left

  while (pos < len) {
    line++;
    const lineStart = pos;
    let i = pos;
    while (i < len && isBlank(text.charCodeAt(i))) i++;
    if (text.charCodeAt(i) === HASH) {
      // `#` comments (the seed files carry one; no camera key starts with '#') are not data.
      const next = text.indexOf('\n', i);
      pos = next < 0 ? len : next + 1;
      continue;
    }
    // The line's end and its first '=' by indexOf (native scans); a '=' found beyond this line
    // is kept for the lines that follow.
    let lineEnd = text.indexOf('\n', i);
    if (lineEnd < 0) lineEnd = len;
    if (nextEq !== -1 && nextEq < i) nextEq = text.indexOf('=', i);
    const eq = nextEq !== -1 && nextEq < lineEnd ? nextEq : -1;
    if (eq < 0) {
      i = lineEnd;
      // i is the LF (or the end): a line without '='.
      let s = pos;
      let e = i;
      while (s < e && (isBlank(text.charCodeAt(s)) || text.charCodeAt(s) === CR)) s++;
      while (e > s && (isBlank(text.charCodeAt(e - 1)) || text.charCodeAt(e - 1) === CR)) e--;
      // A bare `OK` is the camera's success marker ahead of some answers (playBack control): not data.
      if (s < e && !(e - s === 2 && text.startsWith('OK', s))) warn(line, `no '=' in '${preview(text, s, e)}'`);
      pos = i + 1;
      continue;
    }
    pos = lineEnd + 1;
    const valueEnd = lineEnd > eq + 1 && text.charCodeAt(lineEnd - 1) === CR ? lineEnd - 1 : lineEnd;

    // Consecutive lines usually differ only in their last name (`...Video.FPS`, `...Video.GOP`):
    // when the text before the last '.' equals the previous line's, reuse its container.
    let belowCache = false; // the key goes on below the cached name prefix
    if (cacheContainer !== null) {
      const at = lineStart + cacheLength;
      if (at < eq && text.charCodeAt(at) === DOT && sameText(text, lineStart, cacheStart, cacheLength)) {
        belowCache = true;
        let s = at + 1;
        while (s < eq && isBlank(text.charCodeAt(s))) s++;
        let e = s;
        while (e < eq && isNameChar(text.charCodeAt(e))) e++;
        let t = e;
        while (t < eq && isBlank(text.charCodeAt(t))) t++;
        if (t === eq && e > s) {
          const name = text.slice(s, e);
          if (!FORBIDDEN.has(name) && !Object.hasOwn(cacheContainer, name)) {
            cacheContainer[name] = text.slice(eq + 1, valueEnd);
            continue;
          }
        }
      }
    }

    if (indexContainer !== null) {
      const at = lineStart + indexLength;
      if (at < eq && text.charCodeAt(at) === OPEN && sameText(text, lineStart, indexStart, indexLength)) {
        let s = at + 1;
        while (s < eq && isBlank(text.charCodeAt(s))) s++;
        let e = s;
        let index = 0;
        while (e < eq && e - s < 6) {
          const c = text.charCodeAt(e);
          if (c < 48 || c > 57) break;
          index = index * 10 + (c - 48);
          e++;
        }
        let t = e;
        while (t < eq && isBlank(text.charCodeAt(t))) t++;
        if (e > s && t < eq && text.charCodeAt(t) === CLOSE) {
          t++;
          while (t < eq && isBlank(text.charCodeAt(t))) t++;
          if (t === eq && index === indexContainer.length && index <= MAX_INDEX) {
            indexContainer.push(text.slice(eq + 1, valueEnd));
            continue;
          }
        }
      }
    }

    // `…EventHandler.TimeSection[1][0]` below the cached prefix is walked from its container;
    // anything unusual (a malformed rest, a conflict, a duplicate, the hole budget) takes the
    // full way below, which warns with the whole key.
    if (belowCache) {
      const at = lineStart + cacheLength;
      if (tokenizeKey(text, at + 1, eq, segments) === null && holes + indexSum <= MAX_HOLES) {
        const parent = placeNew(cacheContainer!, segments, text, eq, valueEnd);
        if (parent !== null) {
          holes += placedHoles;
          const last = segments.length - 1;
          if (typeof segments[last] === 'string' && !Array.isArray(parent)) {
            if (lastDotAt < 0) lastDotAt = at;
            cacheStart = lineStart;
            cacheLength = lastDotAt - lineStart;
            cacheContainer = parent;
          } else if (lastOpenAt >= 0 && typeof segments[last] === 'number' && Array.isArray(parent)) {
            indexStart = lineStart;
            indexLength = lastOpenAt - lineStart;
            indexContainer = parent;
          }
          continue;
        }
      }
    }

    const problem = tokenizeKey(text, lineStart, eq, segments);
    if (problem !== null) {
      warn(line, `malformed key '${preview(text, lineStart, eq)}' (${problem}), line skipped`);
      continue;
    }
    let first = 0;
    if (segments.length > 1 && typeof segments[1] === 'string' && HEADS.has(segments[0] as string)) first = 1;

    if (holes + indexSum > MAX_HOLES && holes + holesNeeded(doc, segments, first) > MAX_HOLES) {
      warn(line, `too many sparse indexes, '${preview(text, lineStart, eq).trim()}' skipped`);
      continue;
    }

    // Walk down, creating containers; a conflict can only occur before the first creation.
    let container: Container = doc;
    let conflict: string | null = null;
    const last = segments.length - 1;
    for (let k = first; k <= last; k++) {
      const seg = segments[k] as Segment;
      let existing: CgiNode | undefined;
      if (typeof seg === 'number') {
        const arr = container as CgiNode[];
        existing = seg < arr.length ? arr[seg] : undefined;
      } else {
        const obj = container as { [key: string]: CgiNode };
        existing = Object.hasOwn(obj, seg) ? obj[seg] : undefined;
      }
      let child: CgiNode;
      if (k === last) {
        if (existing !== undefined && existing !== null && typeof existing !== 'string') {
          conflict = `'${keyText(segments, first, k)}' is already ${describeNode(existing)}`;
          break;
        }
        if (typeof existing === 'string') warn(line, `duplicate key '${keyText(segments, first, k)}', later value kept`);
        child = text.slice(eq + 1, valueEnd);
      } else {
        const wantArray = typeof segments[k + 1] === 'number';
        if (existing === undefined || existing === null) {
          child = wantArray ? [] : {};
        } else if (typeof existing === 'string' || Array.isArray(existing) !== wantArray) {
          conflict = `'${keyText(segments, first, k)}' is already ${describeNode(existing)}`;
          break;
        } else {
          container = existing;
          continue;
        }
      }
      if (typeof seg === 'number') {
        const arr = container as CgiNode[];
        if (seg > arr.length) {
          holes += seg - arr.length;
          while (arr.length < seg) arr.push(null);
        }
        arr[seg] = child;
      } else {
        (container as { [key: string]: CgiNode })[seg] = child;
      }
      if (k !== last) container = child as Container;
    }
    if (conflict !== null) warn(line, `shape conflict: ${conflict}, '${preview(text, lineStart, eq).trim()}' skipped`);
    else if (lastDotAt >= 0 && typeof segments[last] === 'string' && !Array.isArray(container)) {
      cacheStart = lineStart;
      cacheLength = lastDotAt - lineStart;
      cacheContainer = container;
    } else if (lastOpenAt >= 0 && typeof segments[last] === 'number' && Array.isArray(container)) {
      indexStart = lineStart;
      indexLength = lastOpenAt - lineStart;
      indexContainer = container;
    }
  }
  if (dropped > 0) warnings.push(`${dropped} more warnings not shown`);
  return { doc, warnings };
}

let placedHoles = 0; // the holes placeNew added

/**
 * Places the value text[eq + 1, valueEnd) at segments below container when nothing is in the
 * way; returns the value's container, or null (nothing changed) for a conflict or a duplicate.
 */
function placeNew(container: Container, segments: Segment[], text: string, eq: number, valueEnd: number): Container | null {
  placedHoles = 0;
  const last = segments.length - 1;
  // Nothing is created before the walk reaches a missing node, and nothing can conflict after it.
  for (let k = 0; k < last; k++) {
    const seg = segments[k] as Segment;
    const wantArray = typeof segments[k + 1] === 'number';
    let existing: CgiNode | undefined;
    if (typeof seg === 'number') existing = seg < (container as CgiNode[]).length ? (container as CgiNode[])[seg] : undefined;
    else existing = Object.hasOwn(container, seg) ? (container as { [key: string]: CgiNode })[seg] : undefined;
    if (existing === undefined || existing === null) {
      const child: Container = wantArray ? [] : {};
      setChild(container, seg, child);
      container = child;
    } else if (typeof existing === 'string' || Array.isArray(existing) !== wantArray) {
      return null;
    } else {
      container = existing;
    }
  }
  const seg = segments[last] as Segment;
  if (typeof seg === 'number') {
    if (seg < (container as CgiNode[]).length && (container as CgiNode[])[seg] !== null) return null;
  } else if (Object.hasOwn(container, seg)) return null;
  setChild(container, seg, text.slice(eq + 1, valueEnd));
  return container;
}

function setChild(container: Container, seg: Segment, child: CgiNode): void {
  if (typeof seg === 'number') {
    const arr = container as CgiNode[];
    if (seg > arr.length) {
      placedHoles += seg - arr.length;
      while (arr.length < seg) arr.push(null);
    }
    arr[seg] = child;
  } else {
    (container as { [key: string]: CgiNode })[seg] = child;
  }
}

// The holes a key would add, without changing anything (checked only near the budget).
function holesNeeded(doc: CgiDoc, segments: Segment[], first: number): number {
  let node: CgiNode | undefined = doc;
  let cost = 0;
  for (let k = first; k < segments.length; k++) {
    const seg = segments[k] as Segment;
    if (typeof seg === 'number') {
      if (Array.isArray(node)) {
        if (seg > node.length) cost += seg - node.length;
        node = seg < node.length ? node[seg] : undefined;
      } else {
        cost += seg;
        node = undefined;
      }
    } else if (node !== undefined && node !== null && typeof node === 'object' && !Array.isArray(node) && Object.hasOwn(node, seg)) {
      node = node[seg];
    } else {
      node = undefined;
    }
  }
  return cost;
}

function describeNode(node: CgiNode): string {
  if (typeof node === 'string') return 'a value';
  return Array.isArray(node) ? 'a list' : 'an object';
}

function keyText(segments: Segment[], from: number, to: number): string {
  let s = '';
  for (let k = from; k <= to; k++) {
    const seg = segments[k] as Segment;
    s += typeof seg === 'number' ? `[${seg}]` : k === from ? seg : `.${seg}`;
  }
  return s;
}

function checkName(name: string): void {
  if (name.length === 0 || FORBIDDEN.has(name)) throw new RangeError(`key segment '${name}' cannot be written`);
  for (let i = 0; i < name.length; i++) {
    if (!isNameChar(name.charCodeAt(i))) throw new RangeError(`key segment '${name}' cannot be written`);
  }
}

/** Writes a document as `head.a.b[0]=v\r\n` lines; null holes and empty containers write nothing. */
export function serializeKeyValue(doc: CgiDoc, head?: string): string {
  const out: string[] = [];
  let prefix = '';
  if (head !== undefined && head !== '') {
    const h = head.endsWith('.') ? head.slice(0, -1) : head;
    checkName(h);
    prefix = `${h}.`;
  }
  for (const key of Object.keys(doc)) {
    checkName(key);
    writeNode(doc[key] as CgiNode, prefix + key, out);
  }
  return out.join('');
}

function writeNode(node: CgiNode, key: string, out: string[]): void {
  if (node === null || node === undefined) return;
  if (typeof node === 'string') {
    if (node.includes('\n') || node.includes('\r')) throw new RangeError(`value of '${key}' contains a line break`);
    out.push(`${key}=${node}\r\n`);
  } else if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) writeNode(node[i] as CgiNode, `${key}[${i}]`, out);
  } else {
    for (const k of Object.keys(node)) {
      checkName(k);
      writeNode(node[k] as CgiNode, `${key}.${k}`, out);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Typing by the response schema: never by guessing from the value.

function escapePointer(segment: string | number): string {
  if (typeof segment === 'number') return String(segment);
  return segment.includes('~') || segment.includes('/') ? segment.replaceAll('~', '~0').replaceAll('/', '~1') : segment;
}

function quoteRaw(raw: string): string {
  return raw.length > 80 ? `${raw.slice(0, 80)}…` : raw;
}

const INTEGER = /^[+-]?\d+$/;
// No nested or overlapping quantifiers: linear on any input.
const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const MAX_DEPTH = 64;

interface Ctx {
  resolveRef: (ref: string) => JsonSchema;
  /** Resolved schemas of this resolver (a schema's $ref means what its document says). */
  derefs: WeakMap<JsonSchema, JsonSchema>;
  /** The pointer of the value being typed is base + path: built only for a warning. */
  base: string;
  path: Segment[];
}

function pointerOf(ctx: Ctx): string {
  let p = ctx.base;
  for (const seg of ctx.path) p += `/${escapePointer(seg)}`;
  return p;
}

// A schema's resolved form and its types, per schema object: an answer types thousands of
// values against the same few schemas. The document's schemas are not changed after loading.
const derefCaches = new WeakMap<Ctx['resolveRef'], WeakMap<JsonSchema, JsonSchema>>();
const typesCache = new WeakMap<JsonSchema, string[] | null>();

function deref(schema: JsonSchema, ctx: Ctx): JsonSchema {
  let s = ctx.derefs.get(schema);
  if (s === undefined) ctx.derefs.set(schema, (s = derefUncached(schema, ctx)));
  return s;
}

function derefUncached(schema: JsonSchema, ctx: Ctx): JsonSchema {
  let s = schema;
  for (let n = 0; typeof s.$ref === 'string'; n++) {
    if (n > MAX_DEPTH) throw new Error(`$ref chain too deep at ${String(s.$ref)}`);
    s = ctx.resolveRef(s.$ref);
  }
  if (Array.isArray(s.allOf)) {
    // allOf in our document only composes objects and adds annotations: a shallow merge does.
    const merged: JsonSchema = { ...s };
    delete merged.allOf;
    let properties: Record<string, unknown> | undefined;
    for (const part of s.allOf as JsonSchema[]) {
      const p = deref(part, ctx);
      for (const [k, v] of Object.entries(p)) {
        if (k === 'properties') properties = { ...properties, ...(v as Record<string, unknown>) };
        else if (!(k in merged)) merged[k] = v;
      }
    }
    if (properties !== undefined) merged.properties = { ...properties, ...(merged.properties as Record<string, unknown> | undefined) };
    return merged;
  }
  return s;
}

function typesOf(s: JsonSchema): string[] | null {
  let types = typesCache.get(s);
  if (types === undefined) typesCache.set(s, (types = typesOfUncached(s)));
  return types;
}

function typesOfUncached(s: JsonSchema): string[] | null {
  if (typeof s.type === 'string') return [s.type];
  if (Array.isArray(s.type)) return s.type.filter((t): t is string => typeof t === 'string');
  if (s.properties !== undefined || s.additionalProperties !== undefined) return ['object'];
  if (s.items !== undefined) return ['array'];
  const values = Array.isArray(s.enum) ? s.enum : 'const' in s ? [s.const] : null;
  if (values === null) return null;
  const types = new Set<string>();
  for (const v of values) {
    if (v === null) types.add('null');
    else if (typeof v === 'number') types.add(Number.isInteger(v) ? 'integer' : 'number');
    else types.add(typeof v);
  }
  return [...types];
}

function allowed(value: unknown, s: JsonSchema): boolean {
  if (Array.isArray(s.enum) && !s.enum.some((e) => e === value)) return false;
  if ('const' in s && s.const !== value) return false;
  return true;
}

const NO = Symbol('no');

// 1 to 15 digits: a safe integer that INTEGER accepts.
function isDigits(raw: string): boolean {
  const n = raw.length;
  if (n === 0 || n > 15) return false;
  for (let i = 0; i < n; i++) {
    const c = raw.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function convert(raw: string, type: string): unknown {
  switch (type) {
    case 'string':
      return raw;
    case 'integer': {
      if (isDigits(raw)) return Number(raw); // what cameras send: no sign, no blanks, no -0
      const t = raw.trim();
      if (!INTEGER.test(t)) return NO;
      const v = Number(t);
      return Number.isSafeInteger(v) ? v + 0 : NO; // + 0 turns -0 into 0
    }
    case 'number': {
      const t = raw.trim();
      if (!NUMBER.test(t)) return NO;
      const v = Number(t);
      return Number.isFinite(v) ? v + 0 : NO;
    }
    case 'boolean': {
      if (raw === 'true') return true;
      if (raw === 'false') return false;
      const t = raw.trim().toLowerCase();
      return t === 'true' ? true : t === 'false' ? false : NO;
    }
    default:
      return NO;
  }
}

function typeNode(node: CgiNode | undefined, schema: JsonSchema, ctx: Ctx, warnings: string[], depth: number): unknown {
  if (node === undefined) return undefined;
  if (depth > MAX_DEPTH) {
    warnings.push(`${pointerOf(ctx)}: schema nested too deeply, camera value kept as sent`);
    return node;
  }
  const s = deref(schema, ctx);
  const alternatives = Array.isArray(s.oneOf) ? (s.oneOf as JsonSchema[]) : Array.isArray(s.anyOf) ? (s.anyOf as JsonSchema[]) : null;
  if (alternatives !== null && alternatives.length > 0) {
    let sameShape: { value: unknown; warnings: string[] } | null = null;
    const names: string[] = [];
    for (const alt of alternatives) {
      const w: string[] = [];
      const value = typeNode(node, alt, ctx, w, depth + 1);
      if (w.length === 0) return value;
      const types = typesOf(deref(alt, ctx)) ?? [];
      names.push(...types);
      if (sameShape === null && typeof node !== 'string' && node !== null && types.includes(Array.isArray(node) ? 'array' : 'object')) {
        sameShape = { value, warnings: w };
      }
    }
    if (sameShape !== null) {
      warnings.push(...sameShape.warnings);
      return sameShape.value;
    }
    warnings.push(mismatch(pointerOf(ctx), [...new Set(names)], node));
    return node;
  }

  const types = typesOf(s);
  if (types === null) return node;
  if (node === null) {
    if (!types.includes('null')) warnings.push(`${pointerOf(ctx)}: expected ${types.join(' or ')}, camera sent nothing (sparse index)`);
    return null;
  }
  // Values a format already typed (a bitset's channel numbers) pass when the schema allows them.
  if (typeof node === 'number' || typeof node === 'boolean') {
    const fits = typeof node === 'boolean' ? types.includes('boolean') : types.includes('number') || (types.includes('integer') && Number.isInteger(node));
    if (!fits) warnings.push(`${pointerOf(ctx)}: expected ${types.join(' or ')}, got ${String(node)}`);
    return node;
  }
  if (typeof node === 'string') {
    let candidate: unknown = NO;
    for (const t of types) {
      const v = convert(node, t);
      if (v === NO) continue;
      if (allowed(v, s)) return v;
      if (candidate === NO) candidate = v;
    }
    if (candidate !== NO) {
      const values = (Array.isArray(s.enum) ? s.enum : [s.const]).map((v) => String(v)).join(', ');
      warnings.push(`${pointerOf(ctx)}: expected one of ${values}, camera sent '${quoteRaw(node)}'`);
      return candidate;
    }
    warnings.push(mismatch(pointerOf(ctx), types, node));
    return node;
  }
  if (Array.isArray(node)) {
    if (!types.includes('array')) {
      warnings.push(mismatch(pointerOf(ctx), types, node));
      return node;
    }
    const items = s.items;
    if (typeof items !== 'object' || items === null || Array.isArray(items)) return node;
    // Lists of plain strings (TimeSection's 42 per handler) type to themselves.
    if (depth < MAX_DEPTH && isPlainString(deref(items as JsonSchema, ctx)) && allStrings(node)) return node.slice();
    const out: unknown[] = new Array(node.length);
    const at = ctx.path.length;
    for (let i = 0; i < node.length; i++) {
      ctx.path[at] = i;
      out[i] = typeNode(node[i], items as JsonSchema, ctx, warnings, depth + 1);
    }
    ctx.path.length = at;
    return out;
  }
  if (!types.includes('object')) {
    warnings.push(mismatch(pointerOf(ctx), types, node));
    return node;
  }
  const properties = (typeof s.properties === 'object' && s.properties !== null ? s.properties : {}) as Record<string, JsonSchema>;
  const additional = s.additionalProperties;
  const result: Record<string, unknown> = {};
  const at = ctx.path.length;
  for (const key of Object.keys(node)) {
    ctx.path[at] = key;
    if (FORBIDDEN.has(key)) {
      warnings.push(`${pointerOf(ctx)}: forbidden key skipped`);
      continue;
    }
    const child = node[key];
    let childSchema: JsonSchema | undefined;
    if (Object.hasOwn(properties, key)) {
      childSchema = properties[key];
      // A writeOnly value (a password the camera reads back) is never part of an answer.
      if (childSchema !== undefined && (childSchema.writeOnly === true || deref(childSchema, ctx).writeOnly === true)) continue;
    } else if (typeof additional === 'object' && additional !== null) childSchema = additional as JsonSchema;
    else if (additional === false) warnings.push(`${pointerOf(ctx)}: not in the schema, camera value kept as sent`);
    result[key] = childSchema === undefined ? child : typeNode(child, childSchema, ctx, warnings, depth + 1);
  }
  ctx.path.length = at;
  return result;
}

const plainStrings = new WeakMap<JsonSchema, boolean>();

/** A resolved schema that every string fits as it is: type string, no enum, const or alternatives. */
function isPlainString(s: JsonSchema): boolean {
  let plain = plainStrings.get(s);
  if (plain === undefined) {
    const types = typesOf(s);
    plain = types !== null && types.length === 1 && types[0] === 'string' && s.enum === undefined && !('const' in s) && s.oneOf === undefined && s.anyOf === undefined;
    plainStrings.set(s, plain);
  }
  return plain;
}

function allStrings(list: CgiNode[]): boolean {
  for (let i = 0; i < list.length; i++) if (typeof list[i] !== 'string') return false;
  return true;
}

function mismatch(pointer: string, types: string[], node: CgiNode): string {
  const sent = typeof node === 'string' ? `'${quoteRaw(node)}'` : node === null ? 'nothing' : Array.isArray(node) ? 'a list' : 'an object';
  return `${pointer}: expected ${types.join(' or ')}, camera sent ${sent}`;
}

/**
 * Converts the leaf strings of a parsed answer to the types its schema gives. A value that does
 * not fit is kept as the camera sent it and a warning `<pointer>: expected <type>, camera sent
 * '<raw>'` is added. Properties whose schema is `writeOnly` are left out.
 */
export function typeBySchema(
  node: CgiNode | undefined,
  schema: JsonSchema,
  resolveRef: (ref: string) => JsonSchema,
  warnings: string[],
  pointer = '',
): unknown {
  let derefs = derefCaches.get(resolveRef);
  if (derefs === undefined) derefCaches.set(resolveRef, (derefs = new WeakMap()));
  return typeNode(node, schema, { resolveRef, derefs, base: pointer, path: [] }, warnings, 0);
}

// ---------------------------------------------------------------------------------------------
// JSON -> setConfig parameters.

/**
 * Flattens a (partial) document into `X[0][1].Y=value` parameters: exactly the leaves present,
 * so everything the document leaves out (absent, null, undefined) stays unchanged on the camera.
 */
export function toParams(value: unknown, prefix = ''): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  // Pointers in refusals locate the field in the request: start from the prefix's own path.
  let pointer = '';
  for (const part of prefix.split(/[.[\]]+/)) if (part !== '') pointer += `/${escapePointer(part)}`;
  flatten(value, prefix, pointer, out);
  return out;
}

function flatten(value: unknown, key: string, pointer: string, out: Array<[string, string]>): void {
  if (value === null || value === undefined) return;
  switch (typeof value) {
    case 'string':
      out.push([key, value]);
      return;
    case 'number':
    case 'bigint':
      out.push([key, String(value)]);
      return;
    case 'boolean':
      out.push([key, value ? 'true' : 'false']);
      return;
    case 'object':
      break;
    default:
      return; // functions and symbols carry no parameter
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) flatten(value[i], `${key}[${i}]`, `${pointer}/${i}`, out);
    return;
  }
  for (const k of Object.keys(value as object)) {
    const childPointer = `${pointer}/${escapePointer(k)}`;
    // A name with structure characters would address another key than the one it names.
    if (FORBIDDEN.has(k) || k === '' || /[.[\]=&\s]/.test(k)) {
      throw new ProblemError('VALIDATION_FAILED', {
        detail: 'A field name cannot be sent to the camera',
        errors: [{ pointer: childPointer, message: 'not a valid camera key name' }],
      });
    }
    flatten((value as Record<string, unknown>)[k], key === '' ? k : `${key}.${k}`, childPointer, out);
  }
}
