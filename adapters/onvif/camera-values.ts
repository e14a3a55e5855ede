// Small readers shared by the ONVIF services: values out of parsed camera tables (CgiDoc) and
// xs:float / xs:boolean values out of requests. A value the camera sends in another shape reads as
// undefined, so the optional element is left out instead of the answer failing (design.md §4).
import type { CgiDoc, CgiNode } from '../cgi/codec.ts';
import { invalidArg } from './soap.ts';
import type { XmlNode } from './xml.ts';

/** The node at `VideoColor[0][1].Brightness` (names and `[n]` indexes) in a parsed table. */
export function nodeAt(doc: CgiDoc | CgiNode | undefined, path: string): CgiNode | undefined {
  let cur: CgiNode | undefined = doc as CgiNode | undefined;
  for (const m of path.matchAll(/([A-Za-z0-9_]+)|\[(\d+)\]/g)) {
    if (cur === null || cur === undefined || typeof cur !== 'object') return undefined;
    if (m[2] !== undefined) cur = Array.isArray(cur) ? cur[Number(m[2])] : undefined;
    else cur = Array.isArray(cur) ? undefined : (cur as Record<string, CgiNode>)[m[1]!];
  }
  return cur ?? undefined;
}

export function objectAt(doc: CgiDoc | CgiNode | undefined, path: string): Record<string, CgiNode> | undefined {
  const n = path === '' ? (doc as CgiNode | undefined) : nodeAt(doc, path);
  return n !== null && n !== undefined && typeof n === 'object' && !Array.isArray(n) ? n : undefined;
}

export function textOf(node: CgiNode | undefined): string | undefined {
  return typeof node === 'string' ? node : undefined;
}

/** A number the camera sent (`50`, `0.100000`, ` 8`); undefined for anything else. */
export function numberOf(node: CgiNode | undefined): number | undefined {
  if (typeof node !== 'string' || !/^\s*-?\d+(\.\d+)?\s*$/.test(node)) return undefined;
  return Number(node);
}

export function boolOf(node: CgiNode | undefined): boolean | undefined {
  if (typeof node !== 'string') return undefined;
  const v = node.trim().toLowerCase();
  return v === 'true' ? true : v === 'false' ? false : undefined;
}

/** An xs:float of a request element; a fault naming the element when it is not one. */
export function floatOf(node: XmlNode | undefined, what: string, subcode?: string): number | undefined {
  if (node === undefined) return undefined;
  const v = node.text.trim() === '' ? NaN : Number(node.text.trim());
  if (!Number.isFinite(v)) throw invalidArg(`${what} is not a number: '${node.text.slice(0, 40)}'`, subcode);
  return v;
}

/** An xs:float attribute (`x="0.5"`); a fault naming it when it is not one. */
export function floatAttr(node: XmlNode | undefined, attr: string, what: string, subcode?: string): number | undefined {
  const raw = node?.attrs.get(attr);
  if (raw === undefined) return undefined;
  const v = raw.trim() === '' ? NaN : Number(raw.trim());
  if (!Number.isFinite(v)) throw invalidArg(`${what} is not a number: '${raw.slice(0, 40)}'`, subcode);
  return v;
}

export function boolText(node: XmlNode | undefined): boolean | undefined {
  if (node === undefined) return undefined;
  const v = node.text.trim();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw invalidArg(`${node.local} is not a boolean: '${v.slice(0, 40)}'`);
}

/** A number as the camera's tables write it: integers plain, fractions with up to 3 decimals. */
export function cameraNumber(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Math.round(v * 1000) / 1000);
}
