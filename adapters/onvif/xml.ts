// XML for the SOAP layer (pure): a strict, namespace-resolving reader over fast-xml-parser and a
// small writer of prefixed elements. design.md §6: the npm `soap` server's serializer put nested
// elements in the wrong namespace; here every element is written with the prefix its schema says.
import { XMLParser } from 'fast-xml-parser';

/** A parsed element: namespace URI and local name resolved from the prefixes in scope. */
export interface XmlNode {
  ns: string;
  local: string;
  /** Attributes by local name (namespaced ones also under `{ns}local`). */
  attrs: Map<string, string>;
  children: XmlNode[];
  /** The element's own text content, trimmed. */
  text: string;
  /** Prefixes in scope ('' = default namespace), for QName values (WS-Discovery Types, topic expressions). */
  scope?: ReadonlyMap<string, string>;
}

export class XmlError extends Error {
  override name = 'XmlError';
}

const parser = new XMLParser({
  ignoreAttributes: false,
  preserveOrder: true,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  // The five XML entities and character references only: a DOCTYPE is refused before parsing.
  processEntities: true,
  // Numeric character references (`&#65;`) are decoded only with this on.
  htmlEntities: true,
});

type Ordered = Record<string, unknown>;

/**
 * Parses a document strictly (well-formedness checked) and resolves namespaces. Refuses DOCTYPE
 * (and with it every entity declaration: XXE, billion laughs) before the parser sees the text.
 */
export function parseXml(xml: string): XmlNode {
  // Some clients pad with NULs (design.md §6).
  const text = xml.replace(/\u0000+$/, '');
  if (/<!DOCTYPE/i.test(text) || /<!ENTITY/i.test(text)) throw new XmlError('DOCTYPE and entity declarations are not accepted');
  let ordered: Ordered[];
  try {
    ordered = parser.parse(text, true) as Ordered[];
  } catch (err) {
    throw new XmlError(`not well-formed XML: ${(err as Error).message.slice(0, 200)}`);
  }
  const roots = ordered.filter((n) => elementName(n) !== undefined);
  if (roots.length !== 1) throw new XmlError('expected exactly one root element');
  return resolve(roots[0]!, new Map([['xml', 'http://www.w3.org/XML/1998/namespace']]));
}

function elementName(node: Ordered): string | undefined {
  for (const key of Object.keys(node)) {
    if (key !== ':@' && key !== '#text' && !key.startsWith('?')) return key;
  }
  return undefined;
}

function resolve(node: Ordered, parentScope: Map<string, string>): XmlNode {
  const name = elementName(node)!;
  const rawAttrs = (node[':@'] ?? {}) as Record<string, string>;
  let scope = parentScope;
  for (const [k, v] of Object.entries(rawAttrs)) {
    if (k === 'xmlns' || k.startsWith('xmlns:')) {
      if (scope === parentScope) scope = new Map(parentScope);
      scope.set(k === 'xmlns' ? '' : k.slice(6), v);
    }
  }
  const [prefix, local] = splitName(name);
  const ns = scope.get(prefix);
  if (ns === undefined && prefix !== '') throw new XmlError(`prefix ${prefix} is not declared`);
  const attrs = new Map<string, string>();
  for (const [k, v] of Object.entries(rawAttrs)) {
    if (k === 'xmlns' || k.startsWith('xmlns:')) continue;
    const [p, l] = splitName(k);
    attrs.set(l, v);
    if (p !== '') {
      const ans = scope.get(p);
      if (ans === undefined) throw new XmlError(`prefix ${p} is not declared`);
      attrs.set(`{${ans}}${l}`, v);
    }
  }
  const children: XmlNode[] = [];
  let text = '';
  for (const child of (node[name] ?? []) as Ordered[]) {
    if ('#text' in child) text += String(child['#text']);
    else if (elementName(child) !== undefined) children.push(resolve(child, scope));
  }
  return { ns: ns ?? '', local, attrs, children, text: text.trim(), scope };
}

function splitName(name: string): [string, string] {
  const colon = name.indexOf(':');
  return colon < 0 ? ['', name] : [name.slice(0, colon), name.slice(colon + 1)];
}

/** The first child with this local name (and namespace, when given). */
export function child(node: XmlNode | undefined, local: string, ns?: string): XmlNode | undefined {
  return node?.children.find((c) => c.local === local && (ns === undefined || c.ns === ns));
}

/** Every child with this local name (and namespace, when given). */
export function children(node: XmlNode | undefined, local: string, ns?: string): XmlNode[] {
  return node?.children.filter((c) => c.local === local && (ns === undefined || c.ns === ns)) ?? [];
}

/** Text of the descendant found by following local names: `textAt(body, 'DateTime', 'Time', 'Hour')`. */
export function textAt(node: XmlNode | undefined, ...path: string[]): string | undefined {
  let cur = node;
  for (const local of path) cur = child(cur, local);
  return cur?.text;
}

// ---------------------------------------------------------------------------------------------
// Writer

export type XmlAttrs = Record<string, string | number | boolean | undefined>;

export interface XmlOut {
  name: string;
  attrs: XmlAttrs | undefined;
  content: XmlChild;
}

/** Content: elements, text (escaped), numbers, booleans; null/undefined are left out (optional elements). */
export type XmlChild = XmlOut | string | number | boolean | null | undefined | readonly XmlChild[];

/** `el('tt:Hour', 12)`, `el('trt:Profiles', [...], { token: 'main', fixed: true })`. */
export function el(name: string, content?: XmlChild, attrs?: XmlAttrs): XmlOut {
  return { name, attrs, content };
}

/** An element only when its content is present: `opt('tt:Name', maybeName)`. */
export function opt(name: string, content: string | number | boolean | null | undefined, attrs?: XmlAttrs): XmlOut | undefined {
  return content === null || content === undefined ? undefined : el(name, content, attrs);
}

export function renderXml(node: XmlChild): string {
  const out: string[] = [];
  write(node, out);
  return out.join('');
}

function write(node: XmlChild, out: string[]): void {
  if (node === null || node === undefined) return;
  if (Array.isArray(node)) {
    for (const c of node as readonly XmlChild[]) write(c, out);
    return;
  }
  if (typeof node === 'string') {
    out.push(escapeText(node));
    return;
  }
  if (typeof node === 'number') {
    out.push(Number.isFinite(node) ? String(node) : '0');
    return;
  }
  if (typeof node === 'boolean') {
    out.push(node ? 'true' : 'false');
    return;
  }
  const e = node as XmlOut;
  out.push('<', e.name);
  if (e.attrs) {
    for (const [k, v] of Object.entries(e.attrs)) {
      if (v === undefined) continue;
      out.push(' ', k, '="', escapeAttr(typeof v === 'boolean' ? (v ? 'true' : 'false') : String(v)), '"');
    }
  }
  if (e.content === null || e.content === undefined || (Array.isArray(e.content) && e.content.length === 0)) {
    out.push('/>');
    return;
  }
  out.push('>');
  write(e.content, out);
  out.push('</', e.name, '>');
}

export function escapeText(s: string): string {
  return s.replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;')).replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g, '');
}

export function escapeAttr(s: string): string {
  return escapeText(s).replace(/"/g, '&quot;');
}

// ---------------------------------------------------------------------------------------------
// xs:duration, the way ONVIF uses it (`PT10S`, `PT1M30S`, `PT0.5S`)

export function formatDuration(ms: number): string {
  const total = Math.max(0, ms) / 1000;
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = Math.round((total % 60) * 1000) / 1000;
  return `PT${h > 0 ? `${h}H` : ''}${m > 0 ? `${m}M` : ''}${s > 0 || (h === 0 && m === 0) ? `${s}S` : ''}`;
}

/** Milliseconds of an xs:duration; undefined when it is not one (years and months are refused). */
export function parseDuration(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(text.trim());
  if (!m || text.trim() === 'P' || text.trim().endsWith('T')) return undefined;
  const [, d, h, min, s] = m;
  return (((Number(d ?? 0) * 24 + Number(h ?? 0)) * 60 + Number(min ?? 0)) * 60 + Number(s ?? 0)) * 1000;
}

/** xs:dateTime in UTC with `Z` and no milliseconds. */
export function utcDateTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
