// The camera's event stream (vendor §4.9.17): a multipart/x-mixed-replace body of small text
// parts, read as it arrives. Pure: bytes in, parts and events out; no I/O, no timers.
//
// Field captures and the vendor document show what a tolerant reader must take (design.md §4):
// the boundary from the Content-Type header, parts split across chunks and several per chunk,
// `-- myboundary ` with spaces, a stray `HTTP/1.1 200 OK` (and its headers) inside the body,
// Content-Length values that are wrong (the document's own MDResult example), parts without
// headers, `; ` spacing, and a `data=` value that runs to the end of the part (JSON with `;`
// and `=`, often over several lines).
//
// How a part ends: at its Content-Length when the byte after it is a line end (so an event is
// delivered at once, not when the next part begins); otherwise at the next boundary line or at
// the first empty line after its content.

export interface MultipartPart {
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: Buffer;
}

export interface MultipartParserOptions {
  /** A part (or a line outside parts) longer than this is dropped. Default 64 KiB. */
  maxPartBytes?: number;
}

export interface MultipartStats {
  parts: number;
  /** Parts over maxPartBytes, dropped. */
  oversized: number;
  /** Lines outside any part that were neither boundaries nor blank (stray status lines, junk). */
  junkLines: number;
}

const CR = 0x0d;
const LF = 0x0a;

/** The boundary of a `multipart/...; boundary=...` Content-Type, without leading dashes; null when absent. */
export function boundaryFromContentType(contentType: string | string[] | undefined): string | null {
  const value = Array.isArray(contentType) ? contentType[0] : contentType;
  if (value === undefined) return null;
  const m = /;\s*boundary\s*=\s*(?:"([^"]*)"|([^;\s]*))/i.exec(value);
  const raw = m ? (m[1] ?? m[2] ?? '') : '';
  const b = raw.replace(/^-+/, '').trim();
  return b === '' ? null : b;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

type State = 'preamble' | 'headers' | 'body' | 'after';

export class MultipartParser {
  readonly stats: MultipartStats = { parts: 0, oversized: 0, junkLines: 0 };
  private readonly boundaryLine: RegExp;
  private readonly max: number;
  private buf: Buffer = Buffer.alloc(0);
  private state: State = 'preamble';
  private headers: Record<string, string> = {};
  private sawHeader = false;
  private contentLength: number | undefined;
  /** Where the body scan resumes: lines before it are known not to end the part. */
  private scanFrom = 0;

  constructor(boundary: string, options: MultipartParserOptions = {}) {
    const b = boundary.replace(/^-+/, '').trim();
    // `--b`, `-- b `, `--b--`; some firmware repeats the dashes in the header's boundary.
    this.boundaryLine = new RegExp(`^-{2,}\\s*${escapeRegExp(b)}\\s*(?:--)?\\s*$`);
    this.max = options.maxPartBytes ?? 64 * 1024;
  }

  /** Feeds a chunk; returns the parts it completed, in order. */
  push(chunk: Buffer | string): MultipartPart[] {
    const data = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
    this.buf = this.buf.length === 0 ? data : Buffer.concat([this.buf, data]);
    const out: MultipartPart[] = [];
    for (;;) {
      const progressed = this.state === 'body' ? this.body(out, false) : this.line(out);
      if (!progressed) break;
    }
    return out;
  }

  /** The stream ended: a part still open is delivered if it has content. */
  end(): MultipartPart[] {
    const out: MultipartPart[] = [];
    if (this.state === 'body') this.body(out, true);
    this.buf = Buffer.alloc(0);
    this.state = 'preamble';
    return out;
  }

  private isBoundary(line: string): boolean {
    return line.startsWith('-') && this.boundaryLine.test(line);
  }

  private startPart(): void {
    this.state = 'headers';
    this.headers = {};
    this.sawHeader = false;
    this.contentLength = undefined;
  }

  private startBody(): void {
    this.state = 'body';
    this.scanFrom = 0;
    const cl = this.headers['content-length'];
    const n = cl === undefined ? NaN : Number(cl.trim());
    this.contentLength = Number.isInteger(n) && n >= 0 && n <= this.max ? n : undefined;
  }

  // One line in the preamble, the headers, or between parts. False when no whole line is buffered.
  private line(out: MultipartPart[]): boolean {
    const nl = this.buf.indexOf(LF);
    if (nl < 0) {
      if (this.buf.length > this.max) {
        this.stats.oversized++;
        this.buf = Buffer.alloc(0);
      }
      return false;
    }
    const end = nl > 0 && this.buf[nl - 1] === CR ? nl - 1 : nl;
    const line = this.buf.subarray(0, end).toString('latin1');
    const trimmed = line.trim();
    if (this.isBoundary(trimmed)) {
      this.buf = this.buf.subarray(nl + 1);
      this.startPart();
      return true;
    }
    if (this.state === 'headers') {
      if (trimmed === '') {
        this.buf = this.buf.subarray(nl + 1);
        if (this.sawHeader) this.startBody();   // blank lines before any header are skipped
        return true;
      }
      if (/^HTTP\/\d(?:\.\d)?\s+\d{3}\b/i.test(trimmed)) {
        this.stats.junkLines++;
        this.buf = this.buf.subarray(nl + 1);
        return true;
      }
      const h = /^([A-Za-z0-9-]+)\s*:\s*(.*)$/.exec(trimmed);
      if (h) {
        this.headers[h[1]!.toLowerCase()] = h[2]!;
        this.sawHeader = true;
        this.buf = this.buf.subarray(nl + 1);
        return true;
      }
      // No headers at all: the line is already the body.
      this.startBody();
      return true;
    }
    // preamble or after a part: everything but a boundary is noise, except an event line that
    // came without its boundary.
    if (/^Code\s*=/i.test(trimmed)) {
      this.startPart();
      this.startBody();
      return true;
    }
    if (trimmed !== '') this.stats.junkLines++;
    this.buf = this.buf.subarray(nl + 1);
    return true;
  }

  // The body of the current part. False when it is not complete yet.
  private body(out: MultipartPart[], eof: boolean): boolean {
    const L = this.contentLength;
    if (L !== undefined && this.buf.length > L) {
      const next = this.buf[L];
      if (next === CR || next === LF) {
        this.emit(out, this.buf.subarray(0, L));
        this.buf = this.buf.subarray(L);
        this.state = 'after';
        return true;
      }
      this.contentLength = undefined;   // wrong length: find the end by the lines
    }
    let pos = this.scanFrom;
    let nl: number;
    while ((nl = this.buf.indexOf(LF, pos)) >= 0) {
      const end = nl > pos && this.buf[nl - 1] === CR ? nl - 1 : nl;
      const line = this.buf.subarray(pos, end).toString('latin1').trim();
      if (this.isBoundary(line)) {
        this.emit(out, this.buf.subarray(0, pos));
        this.buf = this.buf.subarray(pos);   // the boundary line starts the next part
        this.state = 'preamble';
        return true;
      }
      if (line === '' && pos > 0 && this.contentLength === undefined) {
        this.emit(out, this.buf.subarray(0, pos));
        this.buf = this.buf.subarray(nl + 1);
        this.state = 'after';
        return true;
      }
      pos = nl + 1;
    }
    // A Content-Length that may still be right: an empty line before it can be part of the body.
    this.scanFrom = this.contentLength === undefined ? pos : 0;
    if (eof) {
      this.emit(out, this.buf);
      this.buf = Buffer.alloc(0);
      this.state = 'after';
      return false;
    }
    if (this.buf.length > this.max) {
      this.stats.oversized++;
      this.buf = Buffer.alloc(0);
      this.state = 'after';
      return false;
    }
    return false;
  }

  private emit(out: MultipartPart[], raw: Buffer): void {
    let end = raw.length;
    while (end > 0 && (raw[end - 1] === LF || raw[end - 1] === CR)) end--;
    if (end === 0) return;   // an empty part carries nothing
    if (end > this.max) {
      this.stats.oversized++;
      return;
    }
    this.stats.parts++;
    out.push({ headers: this.headers, body: Buffer.from(raw.subarray(0, end)) });
    this.headers = {};
  }
}

// ---------------------------------------------------------------- event info

export interface EventInfo {
  code: string;
  action: string;
  /** The camera's index, counted from 0 (channel, alarm input, ...). */
  index: number;
  /** `data=` parsed as JSON when it is JSON, else the raw text; absent when the part has none. */
  data?: unknown;
  /** Other `key=value` fields, verbatim (trimmed). */
  extra: Record<string, string>;
}

export type ParsedPart = { kind: 'heartbeat' } | { kind: 'event'; event: EventInfo } | { kind: 'unknown'; text: string };

/**
 * `Code=VideoMotion;action=Start;index=0;data={...}` with any spacing around `;` and `=`; keys
 * in any case; `data=` takes the rest of the part. A part without a Code is 'unknown'.
 */
export function parseEventInfo(text: string): ParsedPart {
  const t = text.trim();
  if (/^heartbeat$/i.test(t)) return { kind: 'heartbeat' };
  const fields = new Map<string, string>();
  let data: string | undefined;
  let i = 0;
  while (i < t.length) {
    const eq = t.indexOf('=', i);
    if (eq < 0) break;
    const key = t.slice(i, eq).replace(/^[\s;]+/, '').trim();
    if (key.toLowerCase() === 'data') {
      data = t.slice(eq + 1).trim();
      break;
    }
    const semi = t.indexOf(';', eq + 1);
    const value = (semi < 0 ? t.slice(eq + 1) : t.slice(eq + 1, semi)).trim();
    if (/^[A-Za-z][A-Za-z0-9_.]*$/.test(key) && !fields.has(key.toLowerCase())) fields.set(key.toLowerCase(), value);
    if (semi < 0) break;
    i = semi + 1;
  }
  const code = fields.get('code');
  if (code === undefined || !/^[A-Za-z0-9_.-]{1,64}$/.test(code)) return { kind: 'unknown', text: t.slice(0, 200) };
  const index = Number(fields.get('index') ?? '0');
  const extra: Record<string, string> = {};
  const originalKeys = new Map<string, string>();
  for (const m of t.matchAll(/(?:^|;)\s*([A-Za-z][A-Za-z0-9_.]*)\s*=/g)) {
    if (!originalKeys.has(m[1]!.toLowerCase())) originalKeys.set(m[1]!.toLowerCase(), m[1]!);
  }
  for (const [k, v] of fields) {
    if (k !== 'code' && k !== 'action' && k !== 'index') extra[originalKeys.get(k) ?? k] = v;
  }
  const event: EventInfo = {
    code,
    action: fields.get('action') ?? 'Pulse',
    index: Number.isInteger(index) && index >= 0 ? index : 0,
    extra,
  };
  if (data !== undefined) event.data = parseData(data);
  return { kind: 'event', event };
}

function parseData(raw: string): unknown {
  if (raw.startsWith('{') || raw.startsWith('[')) {
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      return raw;
    }
  }
  return raw;
}
